"""The web app's live preview (streamcolor.web.live) over a real socket: a uvicorn server in
a thread serving only the live routes; sessions started, watched as MJPEG, stopped."""

from __future__ import annotations

import socket
import threading
import time

import av
import cv2
import httpx
import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from starlette.applications import Starlette  # noqa: E402

from streamcolor.testing import ClipSpec, make_clip  # noqa: E402
from streamcolor.web import live  # noqa: E402
from streamcolor.web.live import close_all, live_routes, stop_all  # noqa: E402
from streamcolor.web.settings import ServeSettings  # noqa: E402

TESTSRC = "lavfi:testsrc=size=160x120:rate=10"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def base_url(root, model_path):
    """A uvicorn server on 127.0.0.1 serving only the live routes (started before each
    test's thread check, so its own thread is not counted as a leak)."""
    settings = ServeSettings(root=root, model=str(model_path))
    app = Starlette(routes=live_routes(settings, provider="cpu"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    close_all()
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(20.0, read=5.0)) as c:
        yield c
    close_all()  # whatever a failing test left running


def start(client, source=TESTSRC, **more) -> dict:
    response = client.post("/api/live", json={"source": source, "model": None, **more})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stream"] == f"/api/live/{body['id']}/mjpeg"
    return body


def wait_for(client, session_id, predicate, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = client.get(f"/api/live/{session_id}").json()
        if predicate(stats):
            return stats
        assert time.monotonic() < deadline, f"gave up waiting; last stats: {stats}"
        time.sleep(0.05)


def jpeg_parts(stream: httpx.Response):
    """Each JPEG of a multipart/x-mixed-replace response, checked against its part headers."""
    boundary = b"--frame\r\n"
    buffer = b""
    for chunk in stream.iter_bytes():
        buffer += chunk
        while True:
            if not buffer.startswith(boundary):
                assert boundary.startswith(buffer[:len(boundary)]), buffer[:80]
                break
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            headers = dict(line.split(": ", 1) for line in
                           buffer[len(boundary):head_end].decode().split("\r\n"))
            assert headers["Content-Type"] == "image/jpeg"
            length = int(headers["Content-Length"])
            end = head_end + 4 + length
            if len(buffer) < end + 2:
                break
            assert buffer[end:end + 2] == b"\r\n"
            yield buffer[head_end + 4:end]
            buffer = buffer[end + 2:]


def decode(jpeg: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "not a JPEG"
    return picture


def is_colour(picture: np.ndarray) -> bool:
    """Not grey: the channels differ (the tiny model tints everything)."""
    b, g, r = (picture[..., i].astype(int) for i in range(3))
    return max(np.abs(b - g).mean(), np.abs(g - r).mean(), np.abs(b - r).mean()) > 4


def live_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.is_alive() and t.name.startswith("streamcolor-")]


def test_mjpeg_stream_of_colour_frames_then_delete_ends_it(client):
    session = start(client)
    url = session["stream"]
    with client.stream("GET", url) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        parts = jpeg_parts(stream)
        pictures = [decode(next(parts)) for _ in range(3)]
        for picture in pictures:
            assert picture.shape == (120, 160, 3)
            assert is_colour(picture)
        # a second viewer watches the same session at the same time
        with client.stream("GET", url) as other:
            other_parts = jpeg_parts(other)  # kept: closing it would close the response
            assert decode(next(other_parts)).shape == (120, 160, 3)
            stats = client.get(f"/api/live/{session['id']}").json()
            assert stats["viewers"] == 2
        stats = wait_for(client, session["id"], lambda s: s["frames"] >= 3 and s["fps"] > 0)
        assert stats["state"] == "running" and stats["error"] is None
        assert stats["source"] == TESTSRC and stats["recording"] is None
        assert stats["latency_ms"] is not None and stats["latency_ms"] > 0
        assert stats["drops"] >= 0

        stopped = client.delete(f"/api/live/{session['id']}")
        assert stopped.status_code == 200
        assert stopped.json()["state"] == "stopped"
        # the open stream ends (a stream that went on would time out reading: 5 s)
        started = time.monotonic()
        for _ in parts:
            pass
        assert time.monotonic() - started < 5
    stats = client.get(f"/api/live/{session['id']}").json()
    assert stats["state"] == "stopped" and stats["fps"] == 0
    assert stats["frames"] >= 3
    assert f"streamcolor-live-{session['id']}" not in live_threads()


def test_a_viewer_that_leaves_is_let_go(client):
    session = start(client)
    with client.stream("GET", session["stream"]) as stream:
        parts = jpeg_parts(stream)
        next(parts)
        assert client.get(f"/api/live/{session['id']}").json()["viewers"] == 1
    wait_for(client, session["id"], lambda s: s["viewers"] == 0, timeout=5)
    assert client.delete(f"/api/live/{session['id']}").json()["state"] == "stopped"


def test_unreachable_source_fails_and_the_server_carries_on(client):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = start(client, f"rtsp://user:secret@127.0.0.1:{port}/cam")
    stats = wait_for(client, session["id"], lambda s: s["state"] != "starting")
    assert stats["state"] == "failed"
    assert stats["error"] and "\n" not in stats["error"]
    assert "secret" not in stats["error"] and "secret" not in stats["source"]
    # its stream ends at once, and the server still serves a good source
    with client.stream("GET", session["stream"]) as stream:
        assert list(jpeg_parts(stream)) == []
    good = start(client)
    wait_for(client, good["id"], lambda s: s["frames"] >= 1)
    assert client.delete(f"/api/live/{good['id']}").json()["state"] == "stopped"


def test_a_file_that_is_not_video_fails(client, root):
    (root / "notes.txt").write_text("not a video")
    session = start(client, "notes.txt")
    stats = wait_for(client, session["id"], lambda s: s["state"] != "starting")
    assert stats["state"] == "failed" and "notes.txt" in stats["error"]
    assert str(root) not in stats["error"]  # the server's folders are not shown


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"source": "../outside.mkv"}, 403, "outside"),
    ({"source": "/etc/passwd"}, 403, ""),
    ({"source": "missing.mkv"}, 404, "missing.mkv"),
    ({"source": "lavfi:movie=/etc/passwd"}, 400, "movie"),
    ({"source": "lavfi:testsrc;[a]null"}, 400, "one chain"),
    ({"source": "x11grab::0"}, 400, "x11grab"),
    ({"source": "v4l2:/etc/passwd"}, 400, "camera"),
    ({"source": "ftp://host/film.mkv"}, 400, "ftp"),
    ({"source": ""}, 400, "source"),
    ({"model": "x"}, 400, "source"),
    ({"source": TESTSRC, "model": "/tmp/any.onnx"}, 400, "unknown model"),
    ({"source": TESTSRC, "model": 3}, 400, "model"),
    ({"source": TESTSRC, "record": "../out.mkv"}, 403, ""),
    ({"source": TESTSRC, "record": "out.txt"}, 400, ".mkv"),
])
def test_bad_requests_are_refused_with_json(client, body, status, words):
    response = client.post("/api/live", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert not live_threads()


def test_bad_json_and_unknown_ids(client):
    response = client.post("/api/live", content=b"{nope")
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    for method, path in (("GET", "/api/live/nope"), ("GET", "/api/live/nope/mjpeg"),
                         ("DELETE", "/api/live/nope")):
        response = client.request(method, path)
        assert response.status_code == 404 and "nope" in response.json()["error"]


def test_a_file_under_the_root_plays_to_its_end(client, root):
    make_clip(root / "clip.mkv", ClipSpec(width=64, height=48, frames=10))
    session = start(client, "clip.mkv")
    stats = wait_for(client, session["id"], lambda s: s["state"] in ("done", "failed"))
    assert stats["state"] == "done" and stats["error"] is None
    assert 1 <= stats["frames"] <= 10


def test_recording_is_written_under_the_root(client, root):
    session = start(client, record="rec/live.mkv")
    assert session["recording"] == "rec/live.mkv"
    wait_for(client, session["id"], lambda s: s["frames"] >= 5)
    assert client.delete(f"/api/live/{session['id']}").json()["state"] == "stopped"
    path = root / "rec" / "live.mkv"
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) >= 5
    assert frames[0].shape == (120, 160, 3) and is_colour(frames[-1])


def test_too_many_sessions_are_refused(client, monkeypatch):
    monkeypatch.setattr(live, "MAX_RUNNING", 1)
    first = start(client)
    response = client.post("/api/live", json={"source": TESTSRC})
    assert response.status_code == 429 and "running" in response.json()["error"]
    client.delete(f"/api/live/{first['id']}")


def test_close_all_stops_every_session_and_leaves_no_thread(client):
    sessions = [start(client) for _ in range(2)]
    for session in sessions:
        wait_for(client, session["id"], lambda s: s["frames"] >= 1)
    assert live_threads()
    with client.stream("GET", sessions[0]["stream"]) as stream:
        parts = jpeg_parts(stream)
        next(parts)
        close_all()
        assert not live_threads()  # joined: no grace period
        for _ in parts:  # and the viewer's stream has ended
            pass
    for session in sessions:
        assert client.get(f"/api/live/{session['id']}").json()["state"] == "stopped"


def test_stop_all_ends_the_streams_without_waiting(client):
    """What a server about to shut down calls, so that open MJPEG responses end."""
    session = start(client)
    with client.stream("GET", session["stream"]) as stream:
        parts = jpeg_parts(stream)
        next(parts)
        started = time.monotonic()
        stop_all()
        for _ in parts:
            pass
        assert time.monotonic() - started < 5
    wait_for(client, session["id"], lambda s: s["state"] == "stopped", timeout=5)
    close_all()
    assert not live_threads()

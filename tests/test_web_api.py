"""``streamcolor serve``'s HTTP API against the app itself (Starlette's TestClient), and the
real server started and stopped as a user does: the token, paths kept under the root, the
upload limit, one-line JSON errors, photos with hints, frames, film jobs (done, cancelled,
interrupted by a restart and resumed)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import av
import cv2
import numpy as np
import pytest

from streamcolor.testing import ClipSpec, make_clip, make_model


def _need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        message = (f"{module} is not installed: pip install 'streamcolor[web]' httpx "
                   "(or the dev extra)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


for _module in ("starlette", "python_multipart", "uvicorn", "httpx"):
    _need(_module)

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient  # noqa: E402

from streamcolor.web import ServeSettings, create_app  # noqa: E402

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RED_BGRA = (40, 30, 200, 255)


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("web-model") / "guided.onnx", guided=True)


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def serve(guided):
    """``serve(root, **settings)`` -> a TestClient of a started app (stopped after the test,
    or earlier with ``client.__exit__``)."""
    with contextlib.ExitStack() as stack:

        def start(root, **given) -> TestClient:
            settings = ServeSettings(root=root, model=str(guided), **given)
            client = TestClient(create_app(settings), raise_server_exceptions=False)
            return stack.enter_context(client)

        yield start


def _grey(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return (60 + 120 * x / width + 20 * y / height).astype(np.uint8)


def _encoded(picture: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, picture)
    assert ok
    return data.tobytes()


def _decoded(data: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert picture is not None, data[:80]
    return picture


def _redness(bgr: np.ndarray) -> float:
    return float(bgr[..., 2].astype(int).mean() - bgr[..., 0].astype(int).mean())


def _one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _wait(client, job_id: str, until, timeout: float = 60.0, headers=None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def _finished(job) -> bool:
    return job["state"] not in ("queued", "running")


# -- safety -------------------------------------------------------------------------------------

def test_every_request_needs_the_token(serve, root):
    client = serve(root, token=TOKEN)
    for url in ("/", "/api/info", "/api/files", "/static/app.css"):
        assert "token" in _one_line_error(client.get(url), 401)
        _one_line_error(client.get(url, headers={"Authorization": "Bearer wrong"}), 401)
        _one_line_error(client.get(url, params={"token": "wrong"}), 401)
    assert client.get("/api/info", headers=AUTH).status_code == 200
    assert client.get("/api/info", params={"token": TOKEN}).json()["max_upload"] == 200_000_000
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in \
        page.headers["set-cookie"]
    assert client.get("/api/info").status_code == 200  # the page's own requests: cookie
    client.cookies.clear()
    _one_line_error(client.get("/api/info"), 401)
    client.cookies.set("streamcolor_token", "wrong")
    _one_line_error(client.get("/api/info"), 401)


def test_no_token_configured_means_no_check(serve, root):
    client = serve(root)
    info = client.get("/api/info").json()
    assert info["default_model"] in info["models"] and info["containers"] == ["mkv", "mp4",
                                                                               "mov"]


@pytest.mark.parametrize("url", [
    "/api/files?dir=..", "/api/files?dir=../..", "/api/files?dir=sub/../../x",
    "/api/files?dir=%2e%2e", "/api/files?dir=%252e%252e", "/api/files?dir=sub/%2E%2E/%2E%2E",
    "/api/files?dir=/etc", "/api/files?dir=%2Fetc", "/api/files?dir=a%00b",
    "/api/files?dir=out", "/api/files?dir=out/deeper", "/api/frame?path=out/clip.mkv&index=0",
    "/api/estimate?path=../clip.mkv", "/api/frame?path=link.mkv&index=0",
])
def test_paths_out_of_the_root_are_forbidden(serve, root, tmp_path, url):
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    make_clip(outside / "clip.mkv")
    (root / "sub").mkdir()
    (root / "out").symlink_to(outside)
    (root / "link.mkv").symlink_to(outside / "clip.mkv")
    client = serve(root)
    _one_line_error(client.get(url), 403)
    assert client.get("/api/files?dir=sub").status_code == 200  # the server keeps serving


def test_the_root_itself_and_absolute_root_path(serve, root):
    client = serve(root)
    assert client.get("/api/files", params={"dir": ""}).json() == {"dir": "", "entries": []}
    _one_line_error(client.get("/api/files", params={"dir": str(root)}), 403)


def test_job_upload_and_reference_paths_are_checked_too(serve, root):
    make_clip(root / "clip.mkv")
    client = serve(root)
    _one_line_error(client.post("/api/jobs", json={"input": "../clip.mkv"}), 403)
    _one_line_error(client.post("/api/jobs", json={"input": "clip.mkv",
                                                   "output": "/tmp/x.mkv"}), 403)
    _one_line_error(client.post("/api/jobs", json={"input": "clip.mkv",
                                                   "references": {"0": "%2e%2e/x.png"}}), 403)
    _one_line_error(client.post("/api/upload", data={"dir": ".."},
                                files={"file": ("a.txt", b"hello")}), 403)
    saved = client.post("/api/upload", files={"file": ("../../a.txt", b"hello")})
    assert saved.status_code == 201 and saved.json() == {"path": "uploads/a.txt"}
    assert (root / "uploads" / "a.txt").read_bytes() == b"hello"


def test_uploads_over_the_limit_are_413(serve, root):
    client = serve(root, max_upload=2000)
    photo = _encoded((np.random.default_rng(1).random((100, 100)) * 255).astype(np.uint8),
                     ".png")
    assert len(photo) > 2000
    assert "limit" in _one_line_error(
        client.post("/api/upload", files={"file": ("big.png", photo)}), 413)
    _one_line_error(client.post("/api/colorize", files={"image": ("big.png", photo)}), 413)

    def chunks():  # no Content-Length: counted as it arrives
        yield b"x" * 1500
        yield b"x" * 1500

    _one_line_error(client.post("/api/upload", content=chunks(),
                                headers={"content-type": "multipart/form-data; boundary=b"}),
                    413)
    assert not (root / "uploads" / "big.png").exists()
    declared = client.post("/api/jobs/x/start", content=b"x" * 2001)  # refused unread
    _one_line_error(declared, 413)
    small = client.post("/api/upload", files={"file": ("small.txt", b"fine")})
    assert small.status_code == 201 and (root / small.json()["path"]).read_bytes() == b"fine"


def test_bad_pictures_are_one_line_errors_and_the_server_goes_on(serve, root):
    client = serve(root)
    _one_line_error(client.post("/api/colorize", files={"image": ("notes.txt", b"hi")}), 415)
    message = _one_line_error(client.post("/api/colorize",
                                          files={"image": ("x.jpg", b"\xff\xd8 broken")}), 400)
    assert "not an image" in message and str(root) not in message and "/tmp" not in message
    _one_line_error(client.post("/api/colorize", data={"model": "nope"},
                                files={"image": ("a.png", _encoded(_grey(), ".png"))}), 400)
    _one_line_error(client.post("/api/colorize", files={"other": ("a.png", b"x")}), 400)
    wrong_size = np.zeros((10, 10, 4), np.uint8)
    assert "10x10" in _one_line_error(client.post(
        "/api/colorize", files={"image": ("a.png", _encoded(_grey(), ".png")),
                                "hints": ("h.png", _encoded(wrong_size, ".png"))}), 400)
    no_alpha = np.zeros((48, 64, 3), np.uint8)
    assert "alpha" in _one_line_error(client.post(
        "/api/colorize", files={"image": ("a.png", _encoded(_grey(), ".png")),
                                "hints": ("h.png", _encoded(no_alpha, ".png"))}), 400)
    good = client.post("/api/colorize", files={"image": ("a.png", _encoded(_grey(), ".png"))})
    assert good.status_code == 200 and _decoded(good.content).shape == (48, 64, 3)


def test_an_unexpected_error_is_500_json_and_the_server_goes_on(serve, root, monkeypatch):
    import streamcolor.web.app as web_app

    def broken(*args):
        raise RuntimeError("boom")

    client = serve(root)
    monkeypatch.setattr(web_app, "colorize_photo", broken)
    assert "boom" in _one_line_error(
        client.post("/api/colorize", files={"image": ("a.png", _encoded(_grey(), ".png"))}), 500)
    monkeypatch.undo()
    assert client.post("/api/colorize",
                       files={"image": ("a.png", _encoded(_grey(), ".png"))}).status_code == 200


# -- photos -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, media_type, magic", [
    (".jpg", "image/jpeg", b"\xff\xd8"), (".png", "image/png", b"\x89PNG"),
    (".webp", "image/webp", b"RIFF"), (".tiff", "image/tiff", b"II*\x00")])
def test_a_photo_comes_back_coloured_in_its_format(serve, root, suffix, media_type, magic):
    client = serve(root, token=TOKEN)
    grey = _grey(90, 120)
    response = client.post("/api/colorize", headers=AUTH,
                           files={"image": ("scan" + suffix, _encoded(grey, suffix))})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic)
    colour = _decoded(response.content)
    assert colour.shape == (90, 120, 3)
    assert np.abs(colour[..., 2].astype(int) - colour[..., 0]).mean() > 2  # not grey


def test_a_hint_colours_its_spot(serve, root):
    client = serve(root)
    photo = _encoded(_grey(), ".png")
    plain = _decoded(client.post("/api/colorize", files={"image": ("a.png", photo)}).content)
    hints = np.zeros((48, 64, 4), np.uint8)
    hints[:, :32] = RED_BGRA
    hinted = client.post("/api/colorize", files={"image": ("a.png", photo),
                                                 "hints": ("h.png", _encoded(hints, ".png"))})
    assert hinted.status_code == 200, hinted.text
    hinted = _decoded(hinted.content)
    left, right = slice(0, 28), slice(36, 64)
    assert _redness(hinted[:, left]) > _redness(plain[:, left]) + 30
    np.testing.assert_array_equal(hinted[:, right], plain[:, right])


# -- files, frames, estimates, references ---------------------------------------------------------

def test_files_lists_kinds_and_uploads_get_free_names(serve, root):
    make_clip(root / "clip.mkv")
    (root / "a.jpg").write_bytes(_encoded(_grey(), ".jpg"))
    (root / ".hidden").write_text("x")
    client = serve(root)
    first = client.post("/api/upload", files={"file": ("n.txt", b"1")}).json()["path"]
    second = client.post("/api/upload", files={"file": ("n.txt", b"2")}).json()["path"]
    assert (first, second) == ("uploads/n.txt", "uploads/n-2.txt")
    listing = client.get("/api/files").json()
    assert [(e["name"], e["kind"]) for e in listing["entries"]] == [
        ("uploads", "dir"), ("a.jpg", "image"), ("clip.mkv", "video")]
    inside = client.get("/api/files", params={"dir": "uploads"}).json()
    assert inside["dir"] == "uploads"
    assert [(e["path"], e["size"]) for e in inside["entries"]] == [("uploads/n-2.txt", 1),
                                                                   ("uploads/n.txt", 1)]
    _one_line_error(client.get("/api/files", params={"dir": "nowhere"}), 404)


def test_a_frame_grey_or_coloured_and_an_estimate(serve, root):
    make_clip(root / "clip.mkv")
    client = serve(root)
    grey = client.get("/api/frame", params={"path": "clip.mkv", "index": 5})
    assert grey.status_code == 200 and grey.headers["content-type"] == "image/png"
    grey = _decoded(grey.content)
    assert grey.shape == (48, 64)
    colour = _decoded(client.get("/api/frame", params={"path": "clip.mkv", "index": 5,
                                                       "colorize": 1}).content)
    assert colour.shape == (48, 64, 3)
    assert np.abs(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY).astype(int) - grey).mean() < 3
    other = _decoded(client.get("/api/frame", params={"path": "clip.mkv", "index": 0}).content)
    assert not np.array_equal(other, grey)  # a different frame
    assert "12 frames" in _one_line_error(
        client.get("/api/frame", params={"path": "clip.mkv", "index": 12}), 400)
    _one_line_error(client.get("/api/frame", params={"path": "clip.mkv", "index": "x"}), 400)
    _one_line_error(client.get("/api/frame", params={"path": "nope.mkv", "index": 0}), 404)
    estimate = client.get("/api/estimate", params={"path": "clip.mkv"}).json()
    assert estimate["frames"] == 12 and estimate["duration"] == pytest.approx(0.48, abs=0.05)
    assert estimate["fps_estimate"] > 0
    assert estimate["seconds_estimate"] == pytest.approx(12 / estimate["fps_estimate"],
                                                         abs=0.1)


def test_references_are_saved_where_jobs_find_them(serve, root):
    make_clip(root / "clip.mkv")
    client = serve(root)
    picture = np.full((48, 64, 3), (40, 30, 200), np.uint8)
    saved = client.post("/api/references", data={"path": "clip.mkv", "index": "3"},
                        files={"image": ("frame.jpg", _encoded(picture, ".jpg"))})
    assert saved.status_code == 201, saved.text
    assert saved.json() == {"path": ".streamcolor-serve/refs/clip/000003.png"}
    assert _decoded((root / saved.json()["path"]).read_bytes()).shape == (48, 64, 3)
    _one_line_error(client.post("/api/references", data={"path": "clip.mkv", "index": "1"},
                                files={"image": ("f.png", b"not a picture")}), 400)
    job = client.post("/api/jobs", json={"input": "clip.mkv", "output": "guided.mp4",
                                         "container": "mp4",
                                         "references": {"3": saved.json()["path"]}})
    assert job.status_code == 201, job.text
    done = _wait(client, job.json()["id"], _finished)
    assert done["state"] == "done", done
    with av.open(str(root / "guided.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 12
    assert _redness(frames[3]) > 20  # the reference's red reached its frame


# -- film jobs ----------------------------------------------------------------------------------

def test_a_film_job_runs_to_the_end(serve, root):
    make_clip(root / "clip.mkv", ClipSpec(frames=30))
    client = serve(root, token=TOKEN)
    created = client.post("/api/jobs", headers=AUTH, json={"input": "clip.mkv"})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] == "queued" and job["output"] == "clip_color.mkv"
    assert set(job) == {"id", "input", "output", "state", "frames_done", "frames_total",
                        "fps", "eta_seconds", "error", "created"}
    done = _wait(client, job["id"], _finished, headers=AUTH)
    assert done["state"] == "done", done
    assert done["frames_done"] == done["frames_total"] == 30
    assert _frames(root / "clip_color.mkv") == 30
    assert client.get("/api/jobs", headers=AUTH).json()["jobs"] == [done]
    again = client.post("/api/jobs", headers=AUTH, json={"input": "clip.mkv"}).json()
    assert again["output"] == "clip_color-2.mkv"  # the first output is not overwritten
    _wait(client, again["id"], _finished, headers=AUTH)
    _one_line_error(client.post(f"/api/jobs/{job['id']}/start", headers=AUTH), 409)


def test_bad_job_requests_are_one_line_errors(serve, root):
    make_clip(root / "clip.mkv")
    client = serve(root)
    _one_line_error(client.post("/api/jobs", content=b"{not json"), 400)
    _one_line_error(client.post("/api/jobs", json={"output": "x.mkv"}), 400)
    _one_line_error(client.post("/api/jobs", json={"input": "missing.mkv"}), 404)
    _one_line_error(client.post("/api/jobs", json={"input": "clip.mkv", "container": "avi"}),
                    400)
    _one_line_error(client.post("/api/jobs", json={"input": "clip.mkv", "model": "nope"}), 400)
    _one_line_error(client.post("/api/jobs", json={"input": "clip.mkv",
                                                   "temporal_strength": 3}), 400)
    _one_line_error(client.get("/api/jobs/unknown"), 404)
    _one_line_error(client.delete("/api/jobs/unknown"), 404)
    assert client.get("/api/jobs").json() == {"jobs": []}


def _long_clip(path):
    return make_clip(path, ClipSpec(width=320, height=240, frames=900))


def test_a_running_job_is_cancelled_and_resumes_when_started(serve, root):
    _long_clip(root / "long.mkv")
    client = serve(root)
    job = client.post("/api/jobs", json={"input": "long.mkv"}).json()
    running = _wait(client, job["id"], lambda j: j["fps"] > 0 or _finished(j))
    assert running["state"] == "running", running
    assert 0 < running["frames_done"] < running["frames_total"] == 900
    assert running["eta_seconds"] == pytest.approx(
        (900 - running["frames_done"]) / running["fps"], rel=0.05, abs=0.2)
    cancelled = client.delete(f"/api/jobs/{job['id']}").json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["frames_done"] < 900
    assert not (root / "long_color.mkv").exists()
    assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
    restarted = client.post(f"/api/jobs/{job['id']}/start")
    assert restarted.status_code == 200 and restarted.json()["state"] == "queued"
    done = _wait(client, job["id"], _finished, timeout=120)
    assert done["state"] == "done" and done["frames_done"] == done["frames_total"] == 900
    removed = client.delete(f"/api/jobs/{job['id']}")  # a finished job leaves the list
    assert removed.status_code == 200 and client.get("/api/jobs").json() == {"jobs": []}


def test_a_queued_job_is_cancelled_before_it_runs(serve, root):
    _long_clip(root / "long.mkv")
    make_clip(root / "clip.mkv")
    client = serve(root)
    first = client.post("/api/jobs", json={"input": "long.mkv"}).json()
    second = client.post("/api/jobs", json={"input": "clip.mkv"}).json()
    assert client.get(f"/api/jobs/{second['id']}").json()["state"] == "queued"
    assert client.delete(f"/api/jobs/{second['id']}").json()["state"] == "cancelled"
    assert client.delete(f"/api/jobs/{first['id']}").json()["state"] == "cancelled"
    time.sleep(0.5)
    assert not (root / "clip_color.mkv").exists()
    assert [j["state"] for j in client.get("/api/jobs").json()["jobs"]] == ["cancelled"] * 2


def test_jobs_survive_a_restart_and_an_interrupted_one_resumes(serve, root):
    make_clip(root / "clip.mkv")
    _long_clip(root / "long.mkv")
    first = serve(root)
    short = first.post("/api/jobs", json={"input": "clip.mkv"}).json()
    assert _wait(first, short["id"], _finished)["state"] == "done"
    long = first.post("/api/jobs", json={"input": "long.mkv"}).json()
    assert _wait(first, long["id"], lambda j: j["frames_done"] > 0 or _finished(j)
                 )["state"] == "running"
    first.__exit__(None, None, None)  # the server stops with the job running
    saved = json.loads((root / ".streamcolor-serve" / "jobs.json").read_text())
    assert [j["state"] for j in saved["jobs"]] == ["done", "interrupted"]
    second = serve(root)
    listed = second.get("/api/jobs").json()["jobs"]
    assert [(j["id"], j["state"]) for j in listed] == [(short["id"], "done"),
                                                        (long["id"], "interrupted")]
    assert second.post(f"/api/jobs/{long['id']}/start").json()["state"] == "queued"
    done = _wait(second, long["id"], _finished, timeout=120)
    assert done["state"] == "done" and done["frames_done"] == done["frames_total"] == 900
    assert _frames(root / "long_color.mkv") == 900


def test_a_job_left_running_by_a_crash_is_listed_as_interrupted(serve, root):
    make_clip(root / "clip.mkv")
    state = root / ".streamcolor-serve"
    state.mkdir()
    job = {"id": "abc", "input": "clip.mkv", "output": "clip_color.mkv", "state": "running",
           "frames_done": 3, "frames_total": 12, "fps": 5.0, "eta_seconds": 2.0,
           "error": None, "created": 1.0, "model": None, "temporal_strength": None,
           "references": None, "references_paths": None,
           "input_path": str(root / "clip.mkv"), "output_path": str(root / "clip_color.mkv")}
    (state / "jobs.json").write_text(json.dumps({"jobs": [job]}))
    client = serve(root)
    assert client.get("/api/jobs/abc").json()["state"] == "interrupted"
    client.post("/api/jobs/abc/start")
    assert _wait(client, "abc", _finished)["state"] == "done"
    assert _frames(root / "clip_color.mkv") == 12


# -- the command ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _serve(root, *args: str):
    """``streamcolor serve`` as a child process: (process, port); killed by PID if a test
    leaves it running."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "streamcolor", "serve", "--port",
                                str(port), "--root", str(root), "-q", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def _get(url: str, timeout: float = 30.0):
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_starts_answers_and_stops_on_ctrl_c(root, guided):
    with _serve(root, "--model", str(guided)) as (process, port):
        first_line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first_line and "token" not in first_line
        info = _get(f"http://127.0.0.1:{port}/api/info")
        assert info.status_code == 200 and info.json()["default_model"] == str(guided)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, process.stderr.read()


def test_ctrl_c_stops_the_server_while_a_live_preview_is_watched(root, guided):
    """An MJPEG stream never ends by itself, and uvicorn waits for open responses: the
    previews are ended first, so Ctrl-C still stops the server."""
    import httpx

    with _serve(root, "--model", str(guided)) as (process, port):
        process.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        _get(f"{base}/api/info")
        started = httpx.post(f"{base}/api/live", timeout=60,
                             json={"source": "lavfi:testsrc=size=160x120:rate=10"})
        assert started.status_code == 201, started.text
        with httpx.stream("GET", base + started.json()["stream"], timeout=60) as viewer:
            chunks, received = viewer.iter_bytes(), 0  # held: the viewer stays connected
            while received < 20000:  # a few frames came
                received += len(next(chunks))
            stats = httpx.get(base + "/api/live/" + started.json()["id"]).json()
            assert stats["viewers"] == 1 and stats["state"] == "running", stats
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0, process.stderr.read()


def test_serve_on_the_network_makes_a_token(root, guided):
    with _serve(root, "--host", "0.0.0.0", "--model", str(guided)) as (process, port):
        line = process.stdout.readline()
        assert "?token=" in line, line
        token = line.strip().rsplit("?token=", 1)[1]
        assert len(token) >= 20
        assert _get(f"http://127.0.0.1:{port}/api/info").status_code == 401
        assert _get(f"http://127.0.0.1:{port}/api/info?token={token}").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stderr.read()


def test_serve_refuses_a_root_that_is_not_a_folder(tmp_path):
    run = subprocess.run([sys.executable, "-m", "streamcolor", "serve", "--root",
                          str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "is not a folder" in run.stderr


def test_a_late_frame_is_found_by_seeking_and_is_the_same_frame(serve, root):
    make_clip(root / "clip.mkv", ClipSpec(frames=320))
    with av.open(str(root / "clip.mkv")) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    client = serve(root)
    for index in (260, 300, 319):
        got = client.get("/api/frame", params={"path": "clip.mkv", "index": index})
        np.testing.assert_array_equal(_decoded(got.content), frames[index])
    assert "320 frames" in _one_line_error(
        client.get("/api/frame", params={"path": "clip.mkv", "index": 320}), 400)

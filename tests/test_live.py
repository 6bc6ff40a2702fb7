"""Live colorization against real servers on loopback: RTSP in, RTMP/RTSP/UDP/HLS out,
reconnection after a server restart, drops, limits, clean stops and metrics."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest

from helpers import require, video_pts
from live_servers import FfmpegRtspListener, NginxRtmp, RtspServer, free_port
from streamcolor import (
    EncodeConfig,
    InputError,
    LiveConfig,
    LiveSource,
    ModelConfig,
    ModelRunner,
    OutputError,
    Pipeline,
    PipelineConfig,
    colorize,
)
from streamcolor.live.outputs import open_outputs
from streamcolor.live.source import parse_source

FAST = EncodeConfig(preset="ultrafast")


def model(model_path, batch_size=4) -> ModelConfig:
    return ModelConfig(model=str(model_path), provider="cpu", batch_size=batch_size)


def frame_count(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_source_specs_are_recognized():
    assert parse_source("rtsp://cam/stream", rtsp_transport="udp").options == (
        ("rtsp_transport", "udp"),)
    assert parse_source("/dev/video0").format == "v4l2"
    assert parse_source("avfoundation:0").format == "avfoundation"
    assert parse_source("lavfi:testsrc2").kind == "lavfi"
    assert parse_source("srt://host:9000").live and not parse_source("film.mkv").live


def test_rtsp_source_to_file(tmp_path, model_path, ffprobe):
    server = RtspServer()
    try:
        out = tmp_path / "rtsp.mkv"
        summary = colorize(server.url, [out], model=model(model_path), encode=FAST,
                           pipeline=PipelineConfig(duration=3.0))
    finally:
        server.stop()
    stream = ffprobe(out, "-count_frames", "-show_streams")["streams"][0]
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_frames"]) == summary.frames > 0
    pts = video_pts(out)
    assert pts == sorted(pts) and len(set(pts)) == len(pts), "pts must be strictly increasing"
    assert 2500 <= pts[-1] - pts[0] <= 3200, "pts follow the wall clock (ms)"
    assert summary.live["latency_ms_total"]["p95"] is not None


def test_rtsp_server_restart_reconnects_and_output_keeps_growing(tmp_path, model_path):
    server = RtspServer()
    out = tmp_path / "restart.mkv"
    result = {}
    grew = {}

    def progress(p):
        grew.setdefault("before", p.frames) if time.monotonic() - started < 2.0 else None
        grew["after"] = p.frames

    def run():
        try:
            result["summary"] = colorize(server.url, [out], model=model(model_path),
                                         encode=FAST, pipeline=PipelineConfig(duration=9.0),
                                         on_progress=progress)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            result["error"] = error

    started = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    try:
        time.sleep(3.0)
        before_kill = grew.get("after", 0)
        server.stop()  # the camera reboots
        time.sleep(1.5)
        server.start()  # ... and comes back on the same address
        worker.join(timeout=30)
    finally:
        server.stop()
    assert not worker.is_alive() and "error" not in result, result.get("error")
    summary = result["summary"]
    assert summary.live["reconnects"] >= 1
    assert summary.frames > before_kill + 40, "frames after the restart reached the output"
    assert frame_count(out) == summary.frames
    pts = video_pts(out)
    assert pts == sorted(pts), "pts stay monotonic across the reconnection"


def test_rtmp_output_into_nginx_is_read_back(tmp_path, model_path):
    nginx = NginxRtmp(tmp_path / "nginx")
    url = nginx.url("colour")
    received = {}

    def play():
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "frames" not in received:
            try:
                with av.open(url, timeout=(5, 5)) as c:
                    frames = [f for f, _ in zip(c.decode(video=0), range(20), strict=False)]
                    received["frames"] = frames
            except (av.FFmpegError, OSError):
                time.sleep(0.2)  # the stream is not published yet

    try:
        reader = threading.Thread(target=play)
        reader.start()
        summary = colorize("lavfi:testsrc2=size=320x240:rate=25", [url], model=model(model_path),
                           encode=FAST, pipeline=PipelineConfig(duration=5.0))
        reader.join(timeout=20)
    finally:
        nginx.stop()
    assert summary.frames > 0
    frames = received.get("frames")
    assert frames and len(frames) == 20, "an RTMP client read the colorized stream"
    assert frames[0].width == 320 and frames[0].height == 240


def test_rtsp_push_output_received_by_a_server(tmp_path, model_path, ffprobe):
    recorded = tmp_path / "pushed.mkv"
    listener = FfmpegRtspListener(recorded)
    try:
        summary = colorize("lavfi:testsrc2=size=320x240:rate=25", [listener.url],
                           model=model(model_path), encode=FAST,
                           pipeline=PipelineConfig(duration=3.0))
        assert listener.wait(timeout=20) == 0
    finally:
        listener.stop()
    stream = ffprobe(recorded, "-count_frames", "-show_streams")["streams"][0]
    assert stream["codec_name"] == "h264" and int(stream["nb_read_frames"]) >= summary.frames - 5


def test_udp_mpegts_output_is_received(tmp_path, model_path):
    port = free_port()
    url = f"udp://127.0.0.1:{port}"
    received = {}

    def listen():
        with av.open(f"{url}?timeout=8000000", timeout=(10, 10)) as c:
            received["frames"] = [f for f, _ in zip(c.decode(video=0), range(15), strict=False)]

    reader = threading.Thread(target=listen)
    reader.start()
    time.sleep(0.5)
    colorize("lavfi:testsrc2=size=160x120:rate=25", [url], model=model(model_path), encode=FAST,
             pipeline=PipelineConfig(duration=3.0))
    reader.join(timeout=20)
    assert len(received.get("frames", [])) == 15


def test_hls_output_and_several_outputs_at_once(tmp_path, model_path, ffprobe):
    playlist, copy = tmp_path / "hls" / "live.m3u8", tmp_path / "copy.mp4"
    summary = colorize("lavfi:testsrc2=size=160x120:rate=25", [playlist, copy],
                       model=model(model_path), encode=FAST,
                       pipeline=PipelineConfig(duration=4.5))
    segments = sorted(playlist.parent.glob("*.ts"))
    assert playlist.read_text().startswith("#EXTM3U") and len(segments) >= 2
    assert frame_count(copy) == summary.frames
    probe = ffprobe(playlist, "-count_frames", "-show_streams")["streams"][0]
    assert int(probe["nb_read_frames"]) == summary.frames


def test_frames_limit_and_forced_live_on_a_file(tmp_path, model_path, clip):
    from streamcolor.testing import ClipSpec

    source = clip(ClipSpec(frames=100))
    out = tmp_path / "limited.mkv"
    started = time.monotonic()
    summary = colorize(source, [out], model=model(model_path), encode=FAST,
                       live=LiveConfig(frames=30))
    assert summary.frames == 30 == frame_count(out)
    assert time.monotonic() - started >= 30 / 25 * 0.8, "a file forced live is read in real time"


class _SlowRunner:
    """A real model that takes 120 ms per batch: inference falls behind a 50 fps source."""

    def __init__(self, runner):
        self._runner = runner
        self.input_size, self.provider = runner.input_size, runner.provider

    def run(self, lightness):
        time.sleep(0.12)
        return self._runner.run(lightness)


def test_live_drops_are_counted_and_latency_is_reported(tmp_path, model_path):
    """A model slower than the source: frames are dropped and counted, latency is reported.
    (How many drop and how high latency climbs depend on the machine's load: those figures
    are benchmarks/live_latency.py --overload's.)"""
    source = LiveSource(parse_source("lavfi:testsrc2=size=160x120:rate=50"), duration=3.0)
    with source:
        sink = open_outputs([str(tmp_path / "drops.mkv")], source, FAST)
        runner = _SlowRunner(ModelRunner(model_path, provider="cpu"))
        summary = Pipeline(source, runner, sink, batch_size=2,
                           live=LiveConfig(max_latency=0.3)).run()
    live = summary.live
    # at most 2 frames per 120 ms fit, a third of what a 50 fps source sends
    assert live["dropped"] > 0 and summary.frames > 0, live
    latency = live["latency_ms_total"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["max"], latency
    assert frame_count(tmp_path / "drops.mkv") == summary.frames


def _run_cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "streamcolor", "colorize", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_live_run_cleanly_and_finalizes_the_file(signum, tmp_path, model_path,
                                                                ffprobe):
    out, metrics = tmp_path / "stopped.mkv", tmp_path / "metrics.jsonl"
    process = _run_cli(["lavfi:testsrc2=size=160x120:rate=25", "-o", str(out), "--model",
                        str(model_path), "--provider", "cpu", "--metrics-json", str(metrics)])
    def flowing() -> bool:  # a periodic metrics line (every 5 s) counts frames written
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        return any(json.loads(line).get("frames", 0) > 0 for line in lines if line.strip())

    deadline = time.monotonic() + 60
    while not flowing():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped by signal, outputs finalized" in err
    frames = int(ffprobe(out, "-count_frames", "-show_streams")["streams"][0]["nb_read_frames"])
    assert frames > 0
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert lines[-1]["event"] == "final" and lines[-1]["frames"] == frames
    assert {"p50", "p95", "max"} <= set(lines[-1]["latency_ms_total"])


def test_cli_prints_periodic_live_metrics(tmp_path, model_path):
    process = _run_cli(["lavfi:testsrc2=size=160x120:rate=25", "-o", str(tmp_path / "m.mkv"),
                        "--model", str(model_path), "--provider", "cpu", "--duration", "6"])
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    lines = err.splitlines()
    assert any("latency p50" in line and "dropped" in line for line in lines[:-1])
    assert "latency p50" in lines[-1] and "reconnects 0" in lines[-1]


def test_unreachable_live_source_is_a_one_line_error(model_path):
    port = free_port()  # nothing listens there
    with pytest.raises(InputError, match="cannot open live source"):
        colorize(f"rtsp://127.0.0.1:{port}/none", ["/tmp/never.mkv"], model=model(model_path))


def test_preview_without_a_display_is_a_clear_error(model_path, monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(OutputError, match="display"):
        colorize("lavfi:testsrc2=size=160x120:rate=25", [], model=model(model_path),
                 preview=True, pipeline=PipelineConfig(duration=1))


@pytest.fixture
def xvfb(tmp_path):
    """A virtual display whose screen can be read (Xvfb -fbdir: an XWD file of the screen);
    yields (DISPLAY, screenshot()) where screenshot() -> (H, W, 3) uint8 RGB."""
    require(shutil.which("Xvfb") is not None and shutil.which("ffplay") is not None,
            "Xvfb and ffplay (apt-get install xvfb ffmpeg)")
    screen = tmp_path / "screen"
    screen.mkdir()
    for number in range(100 + free_port() % 800, 1000):
        if not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "640x480x24", "-fbdir",
                               str(screen), "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15

    def ready() -> bool:  # the socket, and the screen file with its header written
        try:
            header = (screen / "Xvfb_screen0").read_bytes()[:100]
        except OSError:
            return False
        return (os.path.exists(f"/tmp/.X11-unix/X{number}") and len(header) == 100
                and struct.unpack(">25I", header)[11] != 0)

    while not ready():
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)

    def screenshot() -> np.ndarray:
        data = (screen / "Xvfb_screen0").read_bytes()
        fields = struct.unpack(">25I", data[:100])  # the XWD header
        header, width, height, order = fields[0], fields[4], fields[5], fields[7]
        bits, per_line, colours = fields[11], fields[12], fields[19]
        assert bits == 32, f"XWD with {bits} bits per pixel"
        start = header + 12 * colours
        pixels = np.frombuffer(data, np.uint8, per_line * height, start)
        pixels = pixels.reshape(height, per_line)[:, : width * 4].reshape(height, width, 4)
        return pixels[..., 2::-1] if order == 0 else pixels[..., 1:]  # LSB first: B G R x

    try:
        yield f":{number}", screenshot
    finally:
        server.terminate()
        server.wait(timeout=10)


def _player_of(pid: int) -> int | None:
    """The pid of the ffplay that process ``pid`` started, if one runs."""
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if int(fields[1]) == pid and name == "ffplay" and fields[0] != "Z":
                return int(entry.name)
    return None


GREY_SOURCE = "lavfi:testsrc2=size=160x120:rate=25,hue=s=0"  # no colour of its own


def _coloured_pixels(picture: np.ndarray) -> int:
    rgb = picture.astype(int)
    return int((np.ptp(rgb, axis=2) > 12).sum())


def test_preview_window_under_xvfb(tmp_path, model_path, xvfb):
    """ffplay opens a window and shows the colorized frames of a grey source: the screen
    has colour on it while the run goes on, and ffplay is still alive then."""
    display, screenshot = xvfb
    assert _coloured_pixels(screenshot()) == 0, "the screen starts black"
    env = dict(os.environ, DISPLAY=display, SDL_AUDIODRIVER="dummy")
    process = _run_cli([GREY_SOURCE, "--preview", "-o", str(tmp_path / "p.mkv"), "--model",
                        str(model_path), "--duration", "8"], env=env)
    shown, player = 0, None
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and shown < 2000:
        player = player or _player_of(process.pid)
        shown = _coloured_pixels(screenshot())
        time.sleep(0.2)
    alive = player is not None and _player_of(process.pid) == player
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert shown >= 2000, f"the window showed colour on {shown} pixels (160x120 is 19200)"
    assert alive, "ffplay was running while the frames were shown"
    assert "warning" not in err, err
    assert frame_count(tmp_path / "p.mkv") > 0


def test_a_preview_that_dies_mid_run_is_a_one_line_warning(tmp_path, model_path, xvfb):
    display, _ = xvfb
    env = dict(os.environ, DISPLAY=display, SDL_AUDIODRIVER="dummy")
    out = tmp_path / "p.mkv"
    process = _run_cli([GREY_SOURCE, "--preview", "-o", str(out), "--model", str(model_path),
                        "--duration", "6"], env=env)
    deadline = time.monotonic() + 60
    while (player := _player_of(process.pid)) is None:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(1.0)  # some frames shown
    os.kill(player, signal.SIGKILL)  # the window dies (closed, crashed)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1 and warnings[0].startswith("streamcolor: warning: the preview"), err
    assert "Traceback" not in err and "Broken pipe" not in err, err
    assert frame_count(out) > 0, "the file output carried on"


def test_no_camera_is_a_clear_error(model_path):
    if os.path.exists("/dev/video0"):
        pytest.skip("a camera is present: this checks the error when none is")
    with pytest.raises(InputError, match="/dev/video0"):
        colorize("/dev/video0", ["/tmp/never.mkv"], model=model(model_path))


def _ffmpeg_publish(args: list[str]) -> subprocess.Popen:
    require(shutil.which("ffmpeg") is not None, "missing: ffmpeg (apt-get install ffmpeg)")
    return subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i",
                             "testsrc2=size=320x240:rate=25", "-c:v", "libx264", "-preset",
                             "ultrafast", "-tune", "zerolatency", "-g", "25", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_rtmp_source_from_nginx(tmp_path, model_path):
    nginx = NginxRtmp(tmp_path / "nginx")
    publisher = _ffmpeg_publish(["-f", "flv", nginx.url("camera")])
    try:
        time.sleep(1.5)
        out = tmp_path / "from_rtmp.mkv"
        summary = colorize(nginx.url("camera"), [out], model=model(model_path), encode=FAST,
                           live=LiveConfig(frames=40))
    finally:
        publisher.kill()
        nginx.stop()
    assert summary.frames == 40 == frame_count(out)


def test_udp_mpegts_source(tmp_path, model_path):
    port = free_port()
    publisher = None

    def publish():
        nonlocal publisher
        time.sleep(0.5)
        publisher = _ffmpeg_publish(["-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])

    starter = threading.Thread(target=publish)
    starter.start()
    try:
        out = tmp_path / "from_udp.mkv"
        summary = colorize(f"udp://127.0.0.1:{port}", [out], model=model(model_path),
                           encode=FAST, live=LiveConfig(frames=30))
    finally:
        starter.join()
        if publisher:
            publisher.kill()
    assert summary.frames == 30 == frame_count(out)


def test_hls_over_http_source(tmp_path, model_path):
    import functools
    import http.server

    require(shutil.which("ffmpeg") is not None, "missing: ffmpeg (apt-get install ffmpeg)")
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                    "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "hls",
                    "-hls_time", "1", "-hls_list_size", "0", str(site / "live.m3u8")], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
        out = tmp_path / "from_hls.mkv"
        summary = colorize(url, [out], model=model(model_path), encode=FAST,
                           live=LiveConfig(frames=50))
    finally:
        server.shutdown()
        serving.join()
    assert summary.frames == 50 == frame_count(out)


def test_protocols_this_ffmpeg_lacks_are_named(model_path):
    import av as pyav

    try:
        pyav.open("srt://127.0.0.1:9?mode=listener", timeout=(0.5, 0.5))
    except pyav.error.ProtocolNotFoundError:
        pass
    except (pyav.FFmpegError, OSError):
        pytest.skip("this FFmpeg has SRT: the missing-protocol error cannot happen here")
    with pytest.raises(InputError, match="no 'srt' protocol"):
        colorize("srt://127.0.0.1:9?mode=listener", ["/tmp/never.mkv"], model=model(model_path))

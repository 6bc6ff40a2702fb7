"""Real servers on loopback for the live tests, started and stopped by the tests.

- RTSP: GStreamer's RTSP server (tests/servers/rtsp_server.py under Debian's python3-gi)
- RTMP: nginx with its RTMP module (libnginx-mod-rtmp)
- RTSP listener: ffmpeg receiving a push (``-rtsp_flags listen``)

A missing server skips the test with what to install, or fails it when CI is set.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

HERE = pathlib.Path(__file__).parent
SYSTEM_PYTHON = "/usr/bin/python3"


def need(condition: bool, what: str) -> None:
    """Skip (or, under CI, fail) when a real server is not installed."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"missing in CI: {what}")
        pytest.skip(f"missing: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Wait until a socket listens on ``port``, without connecting (Linux /proc/net/tcp)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = pathlib.Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def _has_gst_rtsp() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version("
                            "'GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
                           capture_output=True)
    return probe.returncode == 0


class RtspServer:
    """GStreamer's RTSP server serving a live grey test pattern at ``url``; ``audio`` "pcma"
    or "pcmu" adds a sine tone in G.711, as IP cameras send it."""

    def __init__(self, size: str = "320x240", port: int | None = None,
                 audio: str | None = None) -> None:
        need(_has_gst_rtsp(), "GStreamer RTSP server (apt-get install python3-gi "
             "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,ugly})")
        self.size = size
        self.audio = audio
        self.port = port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/test"
        self.process = None
        self.start()

    def start(self) -> None:
        command = [SYSTEM_PYTHON, str(HERE / "servers" / "rtsp_server.py"), "--port",
                   str(self.port), "--size", self.size, "--audio", self.audio or "none"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"RTSP server did not start: {self.process.stderr.read()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


class NginxRtmp:
    """nginx with the RTMP module: publish to and play from ``rtmp://127.0.0.1:PORT/live/KEY``."""

    def __init__(self, workdir: pathlib.Path) -> None:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        module = pathlib.Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
        need(bool(nginx) and module.exists(),
             "nginx with the RTMP module (apt-get install nginx-light libnginx-mod-rtmp)")
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"load_module {module};\n"
            f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
            "worker_processes 1;\ndaemon off;\nevents { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{self.port}; chunk_size 4096;\n"
            "  application live { live on; record off; } } }\n")
        self.process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port)

    def url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


class FfmpegRtspListener:
    """ffmpeg as an RTSP server receiving a push, copying it into ``output``."""

    def __init__(self, output: pathlib.Path) -> None:
        need(shutil.which("ffmpeg") is not None, "ffmpeg (apt-get install ffmpeg)")
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/push"
        self.output = output
        self.process = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-rtsp_flags", "listen", "-timeout", "20",
             "-i", self.url, "-c", "copy", "-y", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.port)

    def wait(self, timeout: float = 20) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

"""``fetch`` against a real HTTP server on loopback: good and bad checksums, resume."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from helpers import require_module
from streamcolor.zoo import fetch_model
from streamcolor.zoo.errors import ChecksumError, DownloadError
from streamcolor.zoo.fetch import download

PAYLOAD = bytes(range(256)) * 2000  # 512 000 bytes
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; ``cut_once`` drops the first transfer halfway."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests.append(self.headers.get("Range"))
        if self.path != "/model.pth":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_once:
            server.cut_once = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.cut_once = [], False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def url_of(httpd, path="/model.pth"):
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def test_good_checksum(server, tmp_path):
    dest = download(url_of(server), tmp_path / "model.pth", PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "model.pth.part").exists()


def test_bad_checksum_keeps_no_file(server, tmp_path):
    with pytest.raises(ChecksumError, match="expected"):
        download(url_of(server), tmp_path / "model.pth", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes(server, tmp_path):
    server.cut_once = True
    with pytest.raises(DownloadError, match="resume"):
        download(url_of(server), tmp_path / "model.pth", PAYLOAD_SHA)
    part = tmp_path / "model.pth.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    kept = part.stat().st_size
    dest = download(url_of(server), tmp_path / "model.pth", PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [None, f"bytes={kept}-"]


def test_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(url_of(server, "/missing.pth"), tmp_path / "x.pth", PAYLOAD_SHA)


def test_fetch_offline_fails_with_one_line_naming_url_and_import(tmp_path, monkeypatch):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    unreachable = "http://127.0.0.1:9/colorization_release_v2-9b330a0b.pth"  # discard port
    (manifests / "eccv16.json").write_text(json.dumps({
        "name": "eccv16", "family": "eccv16", "url": unreachable, "sha256": PAYLOAD_SHA,
        "filename": "c.pth", "format": "pytorch"}))
    monkeypatch.setenv("STREAMCOLOR_MANIFESTS", str(manifests))
    monkeypatch.setenv("STREAMCOLOR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DownloadError) as info:
        fetch_model("eccv16", timeout=5)
    message = str(info.value)
    assert "\n" not in message
    assert unreachable in message and "streamcolor models import eccv16 FILE" in message


def test_fetch_downloads_checks_and_converts(server, tmp_path, monkeypatch):
    """The served checkpoint is downloaded, checked, converted, and the ONNX file it becomes
    computes what the checkpoint does: the independent PyTorch forward of test_zoo_parity."""
    torch = require_module("torch", "writing a checkpoint needs PyTorch: "
                           "pip install torch==2.13.0 (CI installs it)")
    require_module("onnx", "conversion needs the onnx package (the dev extra)")
    from test_zoo_parity import ECCV16, feed, randomized, smooth_lightness

    from streamcolor.zoo import resolve_model
    from streamcolor.zoo.validate import cpu_session

    reference = randomized(ECCV16(), torch.from_numpy(smooth_lightness(2, 256, 1)))
    checkpoint = tmp_path / "served.pth"
    torch.save(reference.state_dict(), checkpoint)
    data = checkpoint.read_bytes()
    server.RequestHandlerClass = _handler_serving(data)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "eccv16.json").write_text(json.dumps({
        "name": "eccv16", "family": "eccv16", "url": url_of(server),
        "sha256": hashlib.sha256(data).hexdigest(), "filename": "c.pth", "format": "pytorch"}))
    monkeypatch.setenv("STREAMCOLOR_MANIFESTS", str(manifests))
    monkeypatch.setenv("STREAMCOLOR_CACHE", str(tmp_path / "cache"))
    path = fetch_model("eccv16", variants=False)
    assert resolve_model("eccv16") == path
    assert (path.parent / "c.pth").read_bytes() == data
    session = cpu_session(str(path))  # the converted file loads and runs
    lightness = smooth_lightness(2, 256, seed=7)
    actual = session.run(None, feed(session, lightness))[0]
    with torch.no_grad():
        expected = reference(torch.from_numpy(lightness)).numpy()
    assert actual.shape == expected.shape == (2, 2, 256, 256)
    assert np.abs(expected).max() > 10, "the reference gives real colour"
    assert np.abs(actual - expected).max() < 1e-3, "the converted model is the checkpoint's"


def _handler_serving(data: bytes):
    class Handler(_Handler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return Handler

"""Shared fixtures: tiny models, generated media, ffprobe, and a thread-leak check."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from streamcolor.testing import ClipSpec, make_clip, make_model

# Started in the background by a non-interactive shell (`pytest ... &`), the tests inherit
# SIGINT ignored, and every child they start would too (an ignored signal survives exec):
# the Ctrl-C tests could not interrupt anything. A handled one is reset to default by exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """STREAMCOLOR_REQUIRE_GPU=1 (the GPU check script): a skipped GPU test is a failure."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("STREAMCOLOR_REQUIRE_GPU") == "1"
            and item.get_closest_marker("gpu") is not None):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"STREAMCOLOR_REQUIRE_GPU=1 and this GPU test was skipped: {reason}"


def pytest_configure(config):
    config.addinivalue_line("markers", "ray_inside: runs only inside the Ray suite's network "
                            "namespace (tests/test_jobs_ray.py re-runs itself there)")
    config.addinivalue_line("markers", "ray_outside: runs only outside that namespace")


def pytest_collection_modifyitems(config, items):
    """The Ray suite's tests are deselected where they cannot run (inside or outside its
    network namespace) rather than skipped: a skip always means a missing requirement."""
    inside = os.environ.get("STREAMCOLOR_RAY_NETNS") == "1"
    keep, drop = [], []
    for item in items:
        wrong = (item.get_closest_marker("ray_inside") is not None and not inside
                 or item.get_closest_marker("ray_outside") is not None and inside)
        (drop if wrong else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Every test must leave no thread behind (pipeline stages are joined on every path)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """A tiny contract-obeying model (L* in, ab out, 32x32, dynamic batch)."""
    return make_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture
def clip(tmp_path):
    """``clip(spec=ClipSpec(...), name='in.mkv')`` writes a generated clip and returns its path."""

    def write(spec: ClipSpec = ClipSpec(), name: str = "in.mkv"):
        return make_clip(tmp_path / name, spec)

    return write


@pytest.fixture(scope="session")
def ffprobe():
    """``ffprobe(path, *args)`` -> parsed JSON from Debian's ffprobe, an independent reader."""
    exe = shutil.which("ffprobe")
    if exe is None:
        message = "ffprobe not found: install Debian's ffmpeg package (apt-get install ffmpeg)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    def probe(path, *args: str) -> dict:
        command = [exe, "-v", "error", "-of", "json", *args, str(path)]
        return json.loads(subprocess.run(command, check=True, capture_output=True).stdout)

    return probe

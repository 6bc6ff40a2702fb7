"""The allocator keeps freed picture buffers: a frame's large buffers are not faulted in anew
every frame (runtime.memory)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="needs glibc's malloc (mallopt); elsewhere keep_freed_buffers is a no-op")

# 40 times, holds four 2.7 MB buffers at once and frees them (as a frame's work does: a 720p
# frame's float a*b* and Lab planes), and prints the page faults that took, after
# keep_freed_buffers() where the first argument says so.
_CHILD = """
import resource, sys
import numpy as np
from streamcolor.runtime import memory
if sys.argv[1] == "keep":
    print("applied" if memory.keep_freed_buffers() else "not applied")
else:
    print("left alone")
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def frame():
    held = [np.empty(2700 << 10, np.uint8) for _ in range(4)]
    for buffer in held:
        buffer.fill(1)
frame()  # the first frame faults either way
before = faults()
for _ in range(40):
    frame()
print(faults() - before)
"""


def _faults(mode: str, env: dict | None = None) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True,
                          check=True, env=env)
    state, faults = done.stdout.split("\n")[:2]
    return state, int(faults)


def test_freed_buffers_are_reused_without_page_faults():
    state, kept = _faults("keep")
    _, default = _faults("default")
    assert state == "applied"
    # glibc's default gives the buffers back and faults them in again: 4 x 675 pages a frame
    assert default > 40 * 1000
    assert kept < 100


def test_the_environment_can_leave_the_allocator_alone(monkeypatch):
    import os

    env = dict(os.environ, STREAMCOLOR_MALLOC="default")
    state, faults = _faults("keep", env)
    assert state == "not applied" and faults > 40 * 1000


def test_a_run_keeps_freed_buffers(monkeypatch, tmp_path, clip, model_path):
    """The single pass sets it up at its start (the thread plan's ``for_run``)."""
    from streamcolor.api import colorize_file
    from streamcolor.config import ModelConfig
    from streamcolor.runtime import memory

    calls = []
    monkeypatch.setattr(memory, "keep_freed_buffers", lambda: calls.append(1) or True)
    colorize_file(clip(), tmp_path / "out.mkv", model=ModelConfig(model=str(model_path)))
    assert calls

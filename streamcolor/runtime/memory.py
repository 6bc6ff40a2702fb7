"""The allocator's part of a run: freed picture buffers are kept for the next frame instead of
being given back to the operating system and faulted in again.

A frame's work allocates and frees the same few large buffers every frame: decoded and
colorized pictures (1.4 MB at 720p, 3 MB at 1080p), a*b* planes, the colour math's
intermediates. glibc's malloc serves anything over its *mmap threshold* (dynamic, 128 KB at
first) with a fresh ``mmap`` and returns it with ``munmap`` when freed, and trims the top of
its heaps above the *trim threshold*: each of those buffers then costs a page fault per 4 KB,
every frame. Measured at 720p (``benchmarks/efficiency.py``'s machine, the default colorize):
about 2,600 page faults a frame (10 MB of pages zeroed and mapped), and the postprocess
thread's CPU time 25-30 % higher than with the buffers kept.

:func:`keep_freed_buffers` raises both thresholds (``mallopt``): allocations up to 32 MB (the
most glibc allows) come from the heap, and up to 128 MB of free heap is kept. Memory a run
freed then stays in the process for the next frame (it is reused, not leaked: a long run's
memory stays flat). Applied once per process, at a run's start; only under glibc (elsewhere
a no-op); ``STREAMCOLOR_MALLOC=default`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import threading

__all__ = ["keep_freed_buffers", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 128 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h

_lock = threading.Lock()
_state: dict[str, bool] = {}


def keep_freed_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process. True when they are set
    (now or before); False where the allocator is not glibc's, the setting failed, or
    ``STREAMCOLOR_MALLOC=default`` asks to leave it."""
    with _lock:
        if "applied" not in _state:
            _state["applied"] = _apply()
        return _state["applied"]


def _apply() -> bool:
    if os.environ.get("STREAMCOLOR_MALLOC", "").lower() == "default":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first (setting it also stops glibc's
    # dynamic adjustment of both)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

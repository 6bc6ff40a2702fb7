"""Reading media back with PyAV for assertions; requirements that CI installs."""

from __future__ import annotations

import ctypes
import importlib
import os
import pathlib

import av
import numpy as np
import pytest

from streamcolor.media.atomic import partial_files
from streamcolor.media.frames import plane_array


def require(ok: bool, message: str) -> None:
    """Skip where a requirement is missing; fail under CI, which installs it."""
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


def require_module(name: str, message: str):
    """``name`` imported; a skip where it is missing, a failure under CI (which installs it)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require(False, message)


class _Partials:
    """The temporary files of runs writing ``output`` (the sink names them uniquely)."""

    def __init__(self, output) -> None:
        self.output = output

    def exists(self) -> bool:
        return bool(partial_files(self.output))

    def unlink(self, missing_ok: bool = False) -> None:
        for path in partial_files(self.output):
            path.unlink(missing_ok=missing_ok)


def partial_of(output) -> _Partials:
    """The hidden temporary files a sink writes beside ``output``."""
    return _Partials(output)


def video_pts(path) -> list[int]:
    """pts of every decoded frame of the first video stream, in decode-output order."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def packets(path, stream_index: int) -> list[tuple[int | None, bytes]]:
    """(pts, bytes) of every non-empty packet of one stream."""
    with av.open(str(path)) as container:
        stream = container.streams[stream_index]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def luma_planes(path) -> list[np.ndarray]:
    """The Y plane of every frame, as decoded (no conversion)."""
    with av.open(str(path)) as container:
        planes = []
        for frame in container.decode(video=0):
            dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
            planes.append(plane_array(frame.planes[0], dtype).copy())
        return planes


def write_audio_only(path, frames: int = 20):
    """An AAC file with no video stream (silence, ``frames`` AAC frames)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="stereo")
        for index in range(frames):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts = 48000, index * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def encode_flat_frames(out, stream, count: int, step: int) -> None:
    """Encode ``count`` flat grey frames (value ``step * i``) into ``stream`` and flush."""
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(
            np.full((stream.height, stream.width), step * i, np.uint8), format="gray")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def gpu_driver_loads() -> bool:
    """Whether an NVIDIA driver (libcuda.so.1) loads here."""
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def proc_members(field: int, value: int, *, running: bool = False) -> list[int]:
    """PIDs whose /proc stat field ``field`` (0 = state, 2 = process group, 3 = session,
    counted after the command name) is ``value``; ``running``: zombies left out."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[field]) == value and not (running and fields[0] == "Z"):
                found.append(int(entry.name))
    return found

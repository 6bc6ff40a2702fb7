"""Photos and single video frames, colorized with a model loaded once per name.

The server keeps one :class:`~streamcolor.Colorizer` per model name (its runner also serves
:func:`~streamcolor.images.colorize_image`); a lock per model lets one request at a time use
it, so a photo costs its own work and not a model load. Everything here blocks: the app runs
it in a worker thread.
"""

from __future__ import annotations

import pathlib
import tempfile
import threading
import time

import av
import cv2
import numpy as np

from ..arrays import Colorizer
from ..errors import InputError, ModelError
from ..images import IMAGE_SUFFIXES, colorize_image
from ..media.sources import FileSource
from .safety import Unsupported
from .settings import ServeSettings

__all__ = ["CONTENT_TYPES", "Models", "colorize_photo", "estimate", "frame_png"]

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff",
                 ".tiff": "image/tiff"}
DEFAULT_NAME = "compact"  # the bundled model's registry name
ESTIMATE_FRAMES = 8  # frames colorized to measure the speed
SEEK_AFTER = 250  # frames before this one are counted from the start


class Models:
    """The models this server offers, loaded on first use and kept."""

    def __init__(self, settings: ServeSettings) -> None:
        self.default = settings.model or DEFAULT_NAME
        self._loaded: dict[str, tuple[Colorizer, threading.Lock]] = {}
        self._loading = threading.Lock()

    def names(self) -> list[str]:
        """The default model, then every registry model that is here (bundled or fetched)."""
        from .. import zoo

        names = [self.default]
        for name in zoo.load_manifests():
            try:
                zoo.resolve_model(name)
            except zoo.ZooError:
                continue
            if name not in names:
                names.append(name)
        return names

    def get(self, name: str | None) -> tuple[Colorizer, threading.Lock]:
        """The loaded model ``name`` (None or empty: the default) and its lock; a name not
        offered is an error (a request never names a file to load)."""
        name = name or self.default
        with self._loading:
            if name not in self._loaded:
                if name != self.default and name not in self.names():
                    raise ModelError(f"unknown model {name!r}: choose one of "
                                     f"{', '.join(self.names())}")
                model = None if name == DEFAULT_NAME and self.default == DEFAULT_NAME else name
                self._loaded[name] = (Colorizer(model), threading.Lock())
            return self._loaded[name]


def photo_suffix(filename: str | None) -> str:
    """The suffix of an uploaded photo's name, or :class:`Unsupported`."""
    suffix = pathlib.PurePosixPath(filename or "").suffix.lower()
    if suffix not in (*IMAGE_SUFFIXES, ".gif"):
        raise Unsupported(f"{filename or 'the upload'} is not a picture this server colorizes "
                          f"(give {', '.join((*IMAGE_SUFFIXES, '.gif'))})")
    return suffix


def colorize_photo(models: Models, photo: pathlib.Path, hints: pathlib.Path | None,
                   model: str | None) -> tuple[bytes, str]:
    """Colorize the photo file ``photo`` (with its hints file) as ``streamcolor image`` does;
    return the picture's bytes, in the photo's format (a GIF's as PNG), and its type."""
    suffix = photo.suffix.lower()
    out_suffix = ".png" if suffix == ".gif" else suffix
    target = photo.with_name("colorized" + out_suffix)
    colorizer, lock = models.get(model)
    with lock:
        colorize_image(photo, target, runner=colorizer.runner, hints=hints)
    return target.read_bytes(), CONTENT_TYPES[out_suffix]


def read_frame(video: pathlib.Path, index: int) -> np.ndarray:
    """Frame ``index`` (0-based, display order) of ``video`` as a grey picture. Early frames
    are counted from the start; later ones are found by seeking near their time and counting
    by timestamp (exact for a constant frame rate)."""
    if index < 0:
        raise InputError("index must be 0 or more")
    if index >= SEEK_AFTER:
        found = _seek_frame(video, index)
        if found is not None:
            return found
    with FileSource(video) as source:
        seen = 0
        for item in source.items():
            if isinstance(item, av.VideoFrame):
                if seen == index:
                    return item.to_ndarray(format="gray")
                seen += 1
    raise InputError(f"{video.name} has {seen} frames; there is no frame {index} "
                     "(0-based)")


def _seek_frame(video: pathlib.Path, index: int) -> np.ndarray | None:
    """Frame ``index`` by seeking (None where the file has no rate or timestamps to seek
    by, or the seek lands past it: then it is counted from the start)."""
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise InputError(f"{video.name} has no video stream")
        stream = container.streams.video[0]
        rate, base = stream.average_rate, stream.time_base
        if not rate or not base:
            return None
        start = stream.start_time or 0
        target = start + int(index / rate / base)
        container.seek(max(start, target - int(2 / base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                return None
            position = round((frame.pts - start) * base * rate)
            if position > index:
                return None
            if position == index:
                return frame.to_ndarray(format="gray")
    return None


def frame_png(models: Models, video: pathlib.Path, index: int, colorize: bool,
              model: str | None) -> bytes:
    """Frame ``index`` of ``video`` as PNG: grey, or colorized on its own (a preview)."""
    grey = read_frame(video, index)
    picture = grey
    if colorize:
        colorizer, lock = models.get(model)
        with lock:
            picture = colorizer.colorize(grey)
    ok, data = cv2.imencode(".png", picture)
    if not ok:
        raise InputError(f"cannot encode frame {index} of {video.name} as PNG")
    return data.tobytes()


def _count(video: pathlib.Path) -> tuple[int, float]:
    """Frames (packets of the video stream, no decoding) and duration in seconds."""
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise InputError(f"{video.name} has no video stream")
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        duration = container.duration / av.time_base if container.duration else 0.0
        if not duration and stream.average_rate:
            duration = frames / float(stream.average_rate)
    return frames, duration


def estimate(models: Models, video: pathlib.Path, model: str | None) -> dict:
    """Frames, duration, and how long colorizing ``video`` would take here (the speed
    measured on its first few frames)."""
    frames, duration = _count(video)
    pictures = []
    with FileSource(video) as source:
        for item in source.items():
            if isinstance(item, av.VideoFrame):
                pictures.append(item.to_ndarray(format="gray"))
                if len(pictures) == ESTIMATE_FRAMES + 1:
                    break
    if not pictures:
        raise InputError(f"{video.name} has no frames to measure")
    colorizer, lock = models.get(model)
    with lock:
        colorizer.colorize(pictures[0])  # the first call warms up
        started = time.perf_counter()
        for picture in pictures[1:] or pictures:
            colorizer.colorize(picture)
        took = time.perf_counter() - started
    fps = max(1, len(pictures) - 1) / took if took > 0 else 0.0
    return {"frames": frames, "duration": round(duration, 3), "fps_estimate": round(fps, 2),
            "seconds_estimate": round(frames / fps, 1) if fps else 0.0}


def scratch() -> tempfile.TemporaryDirectory:
    """A folder for one request's files, outside the root."""
    return tempfile.TemporaryDirectory(prefix="streamcolor-serve-")

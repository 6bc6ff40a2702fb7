"""The frames of one stretch of a film and nothing else, decoded frame-exactly: a segment
with its warm-up (what a segment's pipeline reads), or the frames before or after it that
reference colour is carried over (see :mod:`.references`)."""

from __future__ import annotations

import dataclasses
import os

import av

from ..errors import DecodeError, describe
from ..media.decoders import decode_from
from ..media.frames import to_working, working_format
from ..media.sources import FileSource
from .plan import Segment

__all__ = ["SegmentSource"]

_SEEK_BACK = 10  # seconds: the second try when a seek lands past a segment's first frame


class SegmentSource:
    """The frames of one segment (warm-up included) and nothing else: no copied streams."""

    copied: list = []
    attached_pictures: dict = {}
    container_metadata: dict = {}
    chapters: list = []
    decode_errors = 0

    def __init__(self, path: str | os.PathLike, segment: Segment, hwaccel: str = "none") -> None:
        self._file = FileSource(path, hwaccel=hwaccel)
        self.segment = segment
        self.path = self._file.path
        self.info = dataclasses.replace(self._file.info, frames=segment.count)
        self.input_paths = [self.path]

    @property
    def video(self):
        """The input's video stream (PyAV)."""
        return self._file.video

    def items(self):
        """Decoded frames from ``warm_pts`` up to (not including) ``end_pts``. If the seek
        lands past ``warm_pts`` (a container without a precise index), seek earlier."""
        seg, video = self.segment, self._file.video
        back = int(_SEEK_BACK / video.time_base)
        for target in (seg.warm_pts, seg.warm_pts - back, None):
            frames = self._frames_from(target)
            first = next(frames, None)
            if first is not None and (first.pts <= seg.warm_pts or target is None):
                if first.pts > seg.warm_pts:
                    raise DecodeError(f"{self.path}: the frame at pts {seg.warm_pts} does not "
                                      "decode; use --no-segments")
                yield first
                yield from frames
                return
        raise DecodeError(f"{self.path}: no frame decodes at pts {seg.warm_pts}")

    def _frames_from(self, target: int | None):
        """Frames (in the working format) from pts ``warm_pts`` on, after seeking to the
        keyframe before ``target`` (None: the start of the file); decoded as in the single
        pass (by the source's own decoder where it has one: VP8/VP9 with alpha)."""
        seg, video = self.segment, self._file.video
        container = self._file.container
        if target is None:
            container.seek(0, backward=True)
        else:
            container.seek(target, stream=video, backward=True)
        working = None
        try:
            for frame in decode_from(container, video, self._file.decoder):
                if frame.pts is None or frame.pts < seg.warm_pts:
                    continue
                if seg.end_pts is not None and frame.pts >= seg.end_pts:
                    return
                working = working or working_format(frame.format.name)
                if frame.format.name != working:
                    frame = to_working(frame, working)  # as the single pass: alpha bit-exact
                yield frame
        except av.FFmpegError as error:
            raise DecodeError(f"undecodable video data in {self.path} ({describe(error)})",
                              position=None) from error

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SegmentSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

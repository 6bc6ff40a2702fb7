"""The frames of one stretch of a film and nothing else, decoded frame-exactly: a segment
with its warm-up (what a segment's pipeline reads), or the frames before or after it that
reference colour is carried over (see :mod:`.references`).

Damaged data is read as a single pass reads it: a packet that does not decode is skipped,
a frame whose timestamp repeats or goes back is dropped, a frame the decoder marks corrupt is
kept, and each place is warned about and counted in ``decode_errors`` (the segment then
holds the frames that did decode)."""

from __future__ import annotations

import dataclasses
import os

import av

from ..errors import describe
from ..media.damage import DamageLog
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

    def __init__(self, path: str | os.PathLike, segment: Segment, hwaccel: str = "none") -> None:
        self._file = FileSource(path, hwaccel=hwaccel)
        self._hwaccel = hwaccel
        self._label = f"stream #{self._file.video.index} (video)"
        self._time_base = self._file.video.time_base
        self.damage = DamageLog(self._file.path.name)
        self.segment = segment
        self.path = self._file.path
        self.info = dataclasses.replace(self._file.info, frames=segment.count)
        self.input_paths = [self.path]

    @property
    def decode_errors(self) -> int:
        """Damaged places skipped in this stretch."""
        return self.damage.count

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
                if first.pts > seg.warm_pts:  # the frames before it are damaged
                    self._damaged("the frames before this one do not decode", first.pts)
                yield first
                yield from frames
                self.damage.close()
                return
        self._damaged("no frame of this stretch decodes", seg.warm_pts)
        self.damage.close()

    def _frames_from(self, target: int | None):
        """Frames (in the working format) from pts ``warm_pts`` on, after seeking to the
        keyframe before ``target`` (None: the start of the file); decoded as in the single
        pass (by the source's own decoder where it has one: VP8/VP9 with alpha)."""
        seg = self.segment
        container = self._seek(target)
        video = self._file.video  # after the seek: it may have opened the file again
        working, last = None, None
        for frame in decode_from(container, video, self._file.decoder, self._undecodable):
            if frame.pts is None or frame.pts < seg.warm_pts:
                continue
            if seg.end_pts is not None and frame.pts >= seg.end_pts:
                return
            if last is not None and frame.pts <= last:
                self._damaged("video frame with a repeated or earlier timestamp", frame.pts)
                continue
            last = frame.pts
            if frame.is_corrupt and frame.pts >= seg.first_pts:  # kept, as the single pass
                self._damaged("corrupt video frame", frame.pts)  # (once: not in a warm-up)
            working = working or working_format(frame.format.name)
            if frame.format.name != working:
                frame = to_working(frame, working)  # as the single pass: alpha bit-exact
            yield frame

    def missing(self, count: int) -> None:
        """``count`` frames of the stretch that have packets gave no picture: a damaged
        place (their references are damaged), warned about and counted."""
        first = float(self.segment.first_pts * self._time_base)
        what = "1 frame that does" if count == 1 else f"{count} frames that do"
        self.damage.note(f"{what} not decode",
                         self._label, first)
        self.damage.close()

    def _seek(self, target: int | None):
        """The container, at the keyframe before ``target``; None: at the start, by opening
        the file again (a seek in a damaged index can land anywhere), as where the seek
        fails."""
        container = self._file.container
        try:
            if target is not None:
                container.seek(target, stream=self._file.video, backward=True)
                return container
        except (av.FFmpegError, OSError):
            pass
        self._file.close()
        self._file = FileSource(self.path, hwaccel=self._hwaccel)
        return self._file.container

    def _damaged(self, what: str, pts: int | None) -> None:
        seconds = float(pts * self._time_base) if pts is not None else None
        self.damage.note(what, self._label, seconds)

    def _undecodable(self, error: BaseException, packet) -> None:
        if packet is None:
            self._damaged(f"unreadable data from here on ({describe(error)})", None)
        else:
            self._damaged(f"undecodable video data ({describe(error)})", packet.pts)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SegmentSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

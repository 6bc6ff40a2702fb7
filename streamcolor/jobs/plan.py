"""Cutting a film into segments: where each starts, how many frames it holds, its warm-up.

The film's frames are listed from its video packets (demux only, no decoding): their pts in
presentation order and which are keyframes. A cut is placed near every ``target`` seconds,
preferring, within a window around the target, a shot change (found by decoding only that
window at a tiny size), else a keyframe (nothing decoded twice), else the nearest frame.
Each segment also names a few *warm-up* frames before its first: they are decoded and
colorized (so the temporal stabilizer's state settles) but not written.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import math
import os
from fractions import Fraction

import av
import numpy as np

from ..color.temporal import max_weight  # the stabilizer's own bound on carried colour
from ..config import TemporalConfig
from ..errors import DecodeError
from ..media.demux import packets
from ..media.sources import _TRUNCATION_TOLERANCE, format_time, open_input

__all__ = ["FilmIndex", "Segment", "scan", "plan_segments", "warmup_frames",
           "WARMUP_FRAMES"]

WARMUP_FRAMES = 8  # the least warm-up while the stabilizer is on
_WARMUP_RESIDUAL = 0.1  # the most weight the state before a warm-up keeps
_WINDOW_SHARE = 0.2  # a cut may move this share of the target length either way
_WINDOW_MAX = 5.0  # seconds
_SHOT_MIN = 12.0  # mean |dY| (of 255) of a shot change at 16x16
_SHOT_RATIO = 3.0  # ...and this many times the window's median difference
_log = logging.getLogger("streamcolor")


@dataclasses.dataclass(frozen=True)
class FilmIndex:
    """The video stream's frames: sorted pts, indices of keyframes, and its time base."""

    pts: list[int]
    keyframes: list[int]
    time_base: Fraction

    def seconds(self, i: int) -> float:
        """Presentation time of frame ``i`` in seconds."""
        return float(self.pts[i] * self.time_base)


@dataclasses.dataclass(frozen=True)
class Segment:
    """Frames ``first`` .. ``first + count - 1``; ``end_pts`` is the next segment's first pts
    (None for the last); decoding starts at ``warm_pts``, ``first_pts`` is the first written."""

    index: int
    first: int
    count: int
    first_pts: int
    end_pts: int | None
    warm_pts: int

    def to_json(self) -> dict:
        """The segment as the manifest stores it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Segment:
        """The segment from its manifest entry."""
        return cls(**data)


def scan(path: str | os.PathLike, video_index: int, *, strict: bool = False) -> FilmIndex:
    """List the frames of stream ``video_index`` from its packets (no decoding), as far as
    the file can be read. A file that ends well before the duration it declares, or whose
    data cannot be read to its end, is warned about; with ``strict`` it raises
    :class:`DecodeError`."""
    pts, keys, latest = [], [], 0.0
    with open_input(path) as container:
        stream = container.streams[video_index]
        for packet in _readable(container, path, strict):
            if packet.pts is None or not packet.size:
                continue
            if packet.time_base:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                latest = max(latest, end)
            if packet.stream_index != video_index or packet.is_discard:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        time_base = stream.time_base
        _check_truncation(path, container, latest, strict)
    if not pts:
        raise DecodeError(f"{path}: the video stream has no packets with timestamps")
    pts = sorted(set(pts))  # a repeated timestamp is one frame (the pass drops repeats)
    keyframes = sorted({bisect.bisect_left(pts, k) for k in keys})
    return FilmIndex(pts=pts, keyframes=keyframes, time_base=time_base)


def _readable(container, path, strict: bool):
    """The container's packets up to the first that cannot be read."""

    def unreadable(error: BaseException) -> None:
        if strict:
            raise DecodeError(f"unreadable data in {path}: {error}") from error
        _log.warning("%s: unreadable data from here on; the film is colorized up to it",
                     os.path.basename(path))

    return packets(container, on_error=unreadable)


def _check_truncation(path, container, latest: float, strict: bool) -> None:
    """The same test as a single pass makes (see :mod:`streamcolor.media.sources`)."""
    if not container.duration:
        return
    declared = container.duration / av.time_base
    start = (container.start_time or 0) / av.time_base
    if latest + _TRUNCATION_TOLERANCE < start + declared:
        message = (f"the file ends at {format_time(latest)} but declares "
                   f"{format_time(declared)}: {path} is truncated")
        if strict:
            raise DecodeError(f"{message}; --on-decode-error skip (the default) colorizes "
                              "what can be read", position=latest)
        _log.warning("%s; it is colorized up to where it ends", message)


def warmup_frames(temporal: TemporalConfig) -> int:
    """Frames decoded and colorized before each cut so that the temporal stabilizer's state
    has settled: none when it is off; else enough for the colour carried from before the
    warm-up to weigh at most 10% (at most ``w_max ** n``: the weight of carried colour is
    never more than ``w_max``)."""
    if not temporal.enabled:
        return 0
    weight = max_weight(temporal.strength)
    if weight <= 0:
        return 0
    return max(WARMUP_FRAMES, math.ceil(math.log(_WARMUP_RESIDUAL) / math.log(weight)))


def plan_segments(index: FilmIndex, target: float, *, path=None, video_index: int = 0,
                  warmup: int = WARMUP_FRAMES) -> list[Segment]:
    """Segments of about ``target`` seconds; with ``path`` cuts prefer shot changes."""
    starts = [0]
    total = len(index.pts)
    while True:
        aim = index.seconds(starts[-1]) + target
        if aim + target / 2 > index.seconds(total - 1):
            break  # the rest is short: it stays with this segment
        cut = _choose_cut(index, starts[-1], aim, target, path, video_index)
        if cut <= starts[-1] or cut >= total:
            break
        starts.append(cut)
    bounds = starts + [total]
    return [Segment(index=i, first=a, count=b - a, first_pts=index.pts[a],
                    end_pts=index.pts[b] if b < total else None,
                    warm_pts=index.pts[max(0, a - warmup)])
            for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))]


def _choose_cut(index: FilmIndex, start: int, aim: float, target: float, path,
                video_index: int) -> int:
    window = min(_WINDOW_MAX, target * _WINDOW_SHARE)
    lo = bisect.bisect_left(index.pts, _ticks(index, aim - window), lo=start + 1)
    hi = bisect.bisect_right(index.pts, _ticks(index, aim + window), lo=lo)
    nearest = min(bisect.bisect_left(index.pts, _ticks(index, aim), lo=start + 1),
                  len(index.pts) - 1)
    if hi <= lo:
        return nearest
    if path is not None:
        shot = _shot_change(path, video_index, index, lo, hi)
        if shot is not None:
            return shot
    keys = index.keyframes[bisect.bisect_left(index.keyframes, lo):
                           bisect.bisect_left(index.keyframes, hi)]
    if keys:
        return min(keys, key=lambda k: abs(index.seconds(k) - aim))
    return nearest


def _ticks(index: FilmIndex, seconds: float) -> int:
    return int(Fraction(seconds).limit_denominator(1 << 20) / index.time_base)


def _shot_change(path, video_index: int, index: FilmIndex, lo: int, hi: int) -> int | None:
    """The frame in ``lo..hi-1`` that starts a new shot, if one clearly does."""
    first, end = index.pts[max(0, lo - 1)], index.pts[hi - 1]
    thumbs: dict[int, np.ndarray] = {}
    with open_input(path) as container:
        stream = container.streams[video_index]
        stream.thread_type = "AUTO"
        container.seek(first, stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts < first:
                    continue
                if frame.pts > end:
                    break
                small = frame.reformat(width=16, height=16, format="gray")
                thumbs[frame.pts] = small.to_ndarray().astype(np.float32)
        except (av.FFmpegError, IndexError):
            return None  # damaged data: fall back to keyframes; the real pass reports it
    order = sorted(thumbs)
    if len(order) < 3:
        return None
    diffs = [float(np.abs(thumbs[b] - thumbs[a]).mean())
             for a, b in zip(order, order[1:], strict=False)]
    best = int(np.argmax(diffs))
    if diffs[best] < max(_SHOT_MIN, _SHOT_RATIO * float(np.median(diffs))):
        return None
    cut = bisect.bisect_left(index.pts, order[best + 1])
    return cut if lo <= cut < hi else None

"""Reference frames and keyframes in a film job: each segment gets the references that can
reach it, carries their colour in and out as the single pass would, and the manifest records
which references each segment used, so that a changed reference set redoes only what it
affects.

Colour carried along the motion never crosses a cut (:mod:`streamcolor.color.carry`), so what
a segment's frames get depends only on its own shots: forward, on the colour carried to its
warm-up's first frame; backward, on the references inside it and the first one after it. A
segment's worker therefore reads a little more of the film before its pipeline runs:

- its warm-up (one frame earlier), for a cut there: after a cut nothing from before matters
  (the carried colour and the stabilizer both start afresh);
- from its first frame to the first reference after its end, unless a cut comes first, to
  carry that colour backward (as the single pass's first pass does, over a shorter stretch);
- without a cut in its warm-up, from the last reference before it (references only: until
  that colour is gone, at a cut or faded out) or, with a keyframe model, from the cut that
  starts its shot (found by reading backward, 96 frames, then twice as many each time):
  carrying without output, so that the colour and the keyframes it reaches its warm-up with
  are the single pass's.

Cuts a worker sees are reported and kept in the manifest: they bound which references can
reach each segment (:func:`reaching`), for the next segments and on resume. A cut counts only
where both carries see it (the forward carry's flow picture and the backward pass's float16
copy of it), so a bound is never one that either would cross.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator

import av
import cv2
import numpy as np

from ..color.carry import BackwardPass, Carried, Keyframes, ReferenceGuide, reference_ab
from ..color.lab import model_input
from ..color.motion import Tracker, flow_picture
from ..errors import InputError
from ..media.frames import plane_array, plane_spec
from ..media.hintfiles import read_references
from ..runtime import ModelRunner, resolve_model_path
from .manifest import file_sha256
from .plan import Segment
from .source import SegmentSource

__all__ = ["FilmGuidance", "SegmentGuidance", "PreparedGuide", "changed", "keyframe_colours",
           "keyframe_every", "known_cuts", "prepare_guide", "reaching"]

_LOOK_BACK = 96  # frames: the first stretch read backward for the cut that starts a shot
_KEYFRAME_RUNNERS: dict[tuple[str, str], ModelRunner] = {}  # per process: path, provider


def keyframe_every(seconds: float | None, rate) -> int | None:
    """Frames between keyframes within a shot: ``seconds`` at frame ``rate``, at least 1;
    None (keyframes only at cuts) without either."""
    return max(1, round(seconds * float(rate))) if seconds and rate else None


def keyframe_colours(strong: ModelRunner, every: int | None, plan) -> Keyframes:
    """Keyframes coloured by the model ``strong``, every ``every`` frames within a shot and at
    every cut. It reads each keyframe's luma at its own input size (from the frame itself
    where the caller has it, else from the guided model's input)."""
    size = strong.input_size

    def colour(lightness: np.ndarray, frame) -> np.ndarray:
        if isinstance(frame, av.VideoFrame):
            frame_spec = plane_spec(frame, plan)
            picture = model_input(plane_array(frame.planes[0], frame_spec.dtype), size,
                                  frame_spec)
        else:
            picture = cv2.resize(lightness, (size, size), interpolation=cv2.INTER_LINEAR)
        return strong.run(picture[None, None].astype(np.float32))[0]

    return Keyframes(colour, every)


def _digest(picture: np.ndarray) -> str:
    """sha256 of a reference picture's pixels (and their shape and type)."""
    digest = hashlib.sha256(f"{picture.shape}{picture.dtype}".encode())
    digest.update(np.ascontiguousarray(picture).tobytes())
    return digest.hexdigest()


def known_cuts(done: dict[int, dict]) -> set[int]:
    """The cuts the finished segments of a manifest saw (frame indices that start a shot)."""
    return {int(c) for entry in done.values() for c in entry.get("guidance", {}).get("cuts", [])}


def reaching(indices, segment: Segment, warm: int, cuts: set[int], total: int,
             keyframes: bool) -> list[int]:
    """Which of the references at ``indices`` can change ``segment``'s output (its warm-up
    starts at frame ``warm``): those between the last known cut at or before its first frame
    and the first known cut after its end; of those, only up to the first one after its end
    (a reference stops the colour carried backward from beyond it) and, without keyframes,
    only from the last one at or before its warm-up on (one stops the colour carried forward
    from before it; with keyframes their timing depends on every reference of the shot)."""
    first, end = segment.first, segment.first + segment.count
    low = max((c for c in cuts if c <= first), default=0)
    high = min((c for c in cuts if c >= end), default=total)
    inside = sorted(i for i in indices if low <= i < high)
    before = [i for i in inside if i <= warm]
    after = [i for i in inside if i >= end]
    if before and not keyframes:
        low = before[-1]
    if after:
        high = after[0] + 1
    return [i for i in inside if low <= i < high]


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentGuidance:
    """What a segment's worker needs to carry reference colour (picklable: arrays, no
    reference files; the keyframe model is read like the main model, by path)."""

    references: dict[int, np.ndarray]  # frame index -> (2, F, F) a*b*, those that can reach it
    pts: np.ndarray  # every frame's pts, display order (frame indices -> decode positions)
    keyframe_model: str | None = None
    keyframe_every: int | None = None


class FilmGuidance:
    """A film job's references and keyframe model, as the driver holds them: each reference's
    a*b* and a digest of its pixels by frame index, the film's frame pts, and the keyframe
    model's identity (its file's sha256 and the keyframe interval)."""

    def __init__(self, references: dict[int, np.ndarray], digests: dict[int, str],
                 pts: np.ndarray, keyframe_model: str | None = None,
                 keyframe_every: int | None = None) -> None:
        self.references = references
        self.digests = digests
        self.pts = pts
        self.keyframe_model = keyframe_model
        self.keyframe_every = keyframe_every
        self.keyframes = (f"{file_sha256(keyframe_model)}/{keyframe_every or 'cuts'}"
                          if keyframe_model else None)

    @classmethod
    def read(cls, spec: str | os.PathLike | dict | None, pts, *, input,
             keyframe_model: str | os.PathLike | None = None,
             keyframe_seconds: float | None = None, rate=None) -> FilmGuidance | None:
        """The guidance of a film whose frames have ``pts``: references (a picture, a folder,
        or a dict; see :func:`~streamcolor.media.hintfiles.read_references`) and a keyframe
        model; None without either. A reference for a frame the film does not have is an
        :class:`InputError`."""
        if spec is None and keyframe_model is None:
            return None
        pictures = read_references(spec) if spec is not None else {}
        if pictures and (max(pictures) >= len(pts) or min(pictures) < 0):
            wrong = max(pictures) if max(pictures) >= len(pts) else min(pictures)
            raise InputError(f"a reference is for frame {wrong}, but {input} has {len(pts)} "
                             "frames (0-based indices in display order)")
        model = str(resolve_model_path(keyframe_model)) if keyframe_model is not None else None
        return cls({i: reference_ab(p) for i, p in pictures.items()},
                   {i: _digest(p) for i, p in pictures.items()},
                   np.asarray(pts, np.int64), model,
                   keyframe_every(keyframe_seconds, rate) if model else None)

    def _warm(self, segment: Segment) -> int:
        return int(np.searchsorted(self.pts, segment.warm_pts))

    def _reaching(self, indices, segment: Segment, cuts: set[int]) -> list[int]:
        return reaching(indices, segment, self._warm(segment), cuts, len(self.pts),
                        self.keyframes is not None)

    def for_segment(self, segment: Segment, cuts: set[int]) -> SegmentGuidance:
        """What ``segment``'s worker gets: the references that can reach it (given the
        ``cuts`` known so far), every frame's pts and the keyframe model."""
        used = self._reaching(self.references, segment, cuts)
        return SegmentGuidance({i: self.references[i] for i in used}, self.pts,
                               self.keyframe_model, self.keyframe_every)

    def record(self, segment: Segment, cuts: set[int], seen) -> dict:
        """The manifest's note of what ``segment`` used: the references that could reach it
        (frame index and digest), the keyframe model, and the cuts its worker ``seen``."""
        used = self._reaching(self.digests, segment, cuts | set(seen))
        return {"references": [[i, self.digests[i]] for i in used],
                "keyframes": self.keyframes, "cuts": sorted(int(c) for c in seen)}


def changed(guidance: FilmGuidance | None, segment: Segment, entry: dict,
            cuts: set[int]) -> bool:
    """Whether a finished segment's references or keyframe model differ from ``guidance``'s
    (None: none at all), among those that can reach it given the ``cuts`` known now."""
    used = entry.get("guidance", {})
    before = {int(i): digest for i, digest in used.get("references", [])}
    if guidance is None:
        return bool(before) or used.get("keyframes") is not None
    if used.get("keyframes") != guidance.keyframes:
        return True
    now = {i: guidance.digests[i] for i in guidance._reaching(guidance.digests, segment, cuts)}
    return now != {i: before[i] for i in guidance._reaching(before, segment, cuts)}


# -- in the worker -------------------------------------------------------------------------------

@dataclasses.dataclass
class PreparedGuide:
    """A segment's guide, ready for its pipeline's first frame, and what preparing it saw:
    ``origin`` is the frame its carry started from (its own frame indices count from there);
    ``cuts`` the frames found to start a shot."""

    guide: ReferenceGuide | None
    origin: int
    cuts: set[int]

    def keyframes(self, first: int, end: int) -> tuple[int, ...]:
        """The frames in ``first..end-1`` the keyframe model coloured."""
        if self.guide is None:
            return ()
        return tuple(i for i in (self.origin + k for k in self.guide.keyframe_indices)
                     if first <= i < end)


class _Frames:
    """Stretches of the film, decoded as the segment's pipeline decodes them; each frame with
    its model input, computed as the pipeline computes it."""

    def __init__(self, path: str, hwaccel: str, pts: np.ndarray, runner: ModelRunner,
                 plan) -> None:
        self.path, self.hwaccel, self.pts, self.plan = path, hwaccel, pts, plan
        self.size = runner.input_size
        graphs = getattr(runner, "frame_graphs", None)
        self.make = graphs.model_input_one if graphs else model_input
        self.tracker = Tracker()

    def read(self, start: int, stop: int, cuts: set[int] | None = None
             ) -> Iterator[tuple[int, np.ndarray, av.VideoFrame]]:
        """(index, model input L*, frame) of frames ``start..stop-1``; frames after the first
        that start a shot are added to ``cuts`` (if given)."""
        total = len(self.pts)
        if start >= stop:
            return
        stretch = Segment(index=-1, first=start, count=stop - start,
                          first_pts=int(self.pts[start]),
                          end_pts=int(self.pts[stop]) if stop < total else None,
                          warm_pts=int(self.pts[start]))
        previous = None
        with SegmentSource(self.path, stretch, self.hwaccel) as source:
            for index, frame in enumerate(source.items(), start):
                spec = plane_spec(frame, self.plan)
                lightness = self.make(plane_array(frame.planes[0], spec.dtype), self.size, spec)
                if cuts is not None:
                    picture = flow_picture(lightness)
                    if previous is not None and self._cut(previous, picture):
                        cuts.add(index)
                    previous = picture
                yield index, lightness, frame

    def _cut(self, previous: np.ndarray, current: np.ndarray) -> bool:
        """A cut for the forward carry and the stabilizer (flow pictures as they are) and for
        the backward pass (which holds them as float16)."""
        if self.tracker.track(previous, current) is not None:
            return False
        coarse = [p.astype(np.float16).astype(np.float32) for p in (previous, current)]
        return self.tracker.track(*coarse) is None


def _keyframes(guidance: SegmentGuidance, runner: ModelRunner, plan) -> Keyframes | None:
    if guidance.keyframe_model is None:
        return None
    key = (guidance.keyframe_model, runner.provider)
    if key not in _KEYFRAME_RUNNERS:
        _KEYFRAME_RUNNERS[key] = ModelRunner(guidance.keyframe_model, provider=runner.provider)
    return keyframe_colours(_KEYFRAME_RUNNERS[key], guidance.keyframe_every, plan)


def _carried_backward(frames: _Frames, references: dict[int, np.ndarray], warm: int,
                      first: int, end: int, cuts: set[int]) -> dict[int, Carried]:
    """Colour carried backward into frames ``warm..end-1`` from the references after ``warm``
    that reach them (those inside, and the first after ``end``, read up to it unless a cut
    comes first). Reads the warm-up at the least, from one frame earlier, for its cuts."""
    later = sorted(i for i in references if i > warm)
    beyond = [i for i in later if i >= end]
    last = beyond[0] if beyond else later[-1] if later else None
    start, stop = max(0, warm - 1), first + 1 if last is None else last + 1
    if last is None and start >= first:
        return {}  # the film's first segment, without a warm-up: nothing to learn
    backward = BackwardPass({i - warm: references[i] for i in later if i <= stop - 1})
    for index, lightness, _ in frames.read(start, stop, cuts):
        if index >= end and index in cuts:
            break  # what lies beyond a cut carries nothing back into the segment
        if index >= warm and last is not None:
            backward.feed(lightness)
    return {warm + i: carried for i, carried in backward.carried.items() if warm + i < end}


def _shot_start(frames: _Frames, warm: int, cuts: set[int]) -> int:
    """The last cut before ``warm`` (0: the film's start), read backward in growing steps."""
    stop, step = warm, _LOOK_BACK
    while stop > 0:
        start = max(0, stop - step)
        found: set[int] = set()
        for _ in frames.read(max(0, start - 1), stop, found):
            pass
        cuts |= found
        if found:
            return max(found)
        stop, step = start, step * 2
    return 0


def _guide(references: dict[int, np.ndarray], backward: dict[int, Carried],
           keyframes: Keyframes | None, origin: int) -> ReferenceGuide:
    """A guide whose first frame is ``origin`` (its frame indices count from there)."""
    return ReferenceGuide({i - origin: ab for i, ab in references.items() if i >= origin},
                          {i - origin: c for i, c in backward.items()}, keyframes)


def prepare_guide(guidance: SegmentGuidance, segment: Segment, runner: ModelRunner, plan,
                  path: str, hwaccel: str = "none") -> PreparedGuide:
    """The guide of ``segment``'s pipeline, whose first frame is its warm-up's: with the
    colour carried backward into it, and carried forward (reading without output) up to its
    warm-up, as in a single pass over the whole film (see the module's text)."""
    frames = _Frames(path, hwaccel, guidance.pts, runner, plan)
    warm = int(np.searchsorted(guidance.pts, segment.warm_pts))
    first, end = segment.first, segment.first + segment.count
    references, cuts = guidance.references, set()
    keyframes = _keyframes(guidance, runner, plan)
    backward = _carried_backward(frames, references, warm, first, end, cuts)
    if not references and keyframes is None:
        return PreparedGuide(None, warm, cuts)
    runner.require_guidance()
    origin = warm
    if warm > 0 and not any(warm <= c <= first for c in cuts):  # else: a fresh start
        if keyframes is not None:
            origin = _shot_start(frames, warm, cuts)
        else:
            origin = max((i for i in references if i < warm), default=warm)
    guide = _guide(references, backward, keyframes, origin)
    for index, lightness, frame in frames.read(origin, warm):
        hints = guide(lightness[None, None], [frame])
        if keyframes is None and hints is None and index > origin:
            # the reference's colour is gone (a cut, or it faded out) and never returns
            return PreparedGuide(_guide(references, backward, None, warm), warm, cuts)
    return PreparedGuide(guide, origin, cuts)

"""Reference frames: colour given for one frame, carried through its shot along the flow and
handed to a guided model as hints.

A reference is the colour of frame ``k`` (a*b* at :data:`CARRIED_SIZE`, finer than the flow:
colour carried on the flow's own 128 grid keeps only 0.90-0.97 of a frame's colourfulness, on
256 0.94-0.99). From ``k`` its colour is carried frame by frame along the motion
(:mod:`.motion`, the same step the stabilizer takes), forward to the next cut and backward to
the previous one. What moves is a map of where each pixel was in the reference, and the
reference is sampled once through it, so colour is not blurred warp after warp. The colour's
confidence is the weakest step's, so colour fades out where the flow loses it (occlusions,
new objects) and never crosses a cut. Where the
confidence is at least :data:`HINT_CONFIDENCE` the carried colour is a hint; the model fills
the rest consistently. Between two references each pixel takes the more confident carry.

- :class:`ForwardCarrier` carries forward, causally, one frame at a time (files and live).
- :func:`carry_backward` carries backward from each reference over frames already seen;
  :class:`BackwardPass` does it during a file's first pass, holding only the frames since the
  last cut or reference.
- :class:`ReferenceGuide` combines both into the hints of each frame, batch by batch.
- :class:`Keyframes` makes references on the fly: a stronger model colours the first frame
  of each shot (and one every so many frames), and the guided model carries it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import cv2
import numpy as np

from .motion import FLOW_SIZE, Tracker, _grid, flow_picture

__all__ = ["CARRIED_SIZE", "HINT_CONFIDENCE", "BackwardPass", "Carried", "ForwardCarrier",
           "Keyframes", "ReferenceGuide", "carry_backward", "reference_ab"]

HINT_CONFIDENCE = 0.1  # carried colour at least this trustworthy is a hint (chosen on the
# shared clips: 0.5 flickered 1.25x automatic, 0.25 1.12x, 0.1 1.03x, gaining more PSNR)
CARRIED_SIZE = 256  # carried colour's resolution (pixels per side), moved along upsampled flow
_GONE = 0.05  # below this everywhere, the carried colour is dropped


@dataclasses.dataclass(frozen=True)
class Carried:
    """Colour carried to one frame from a reference: where each pixel of the frame was in the
    reference (a map into the reference's a*b*) and how far that can be trusted. What is
    carried is the map, not the colour: the reference's colour is sampled once, so a long
    shot does not blur it warp after warp (a blur that washes colour out).

    ``source``: the reference's (C, C, 2) a*b*, C = :data:`CARRIED_SIZE`; ``where``:
    (C, C, 2) float32 x, y in ``source``; ``confidence``: (F, F) at the flow's size."""

    source: np.ndarray
    where: np.ndarray
    confidence: np.ndarray

    @classmethod
    def given(cls, ab: np.ndarray) -> Carried:
        """A reference's own colour, (2, h, w) a*b* at any size: fully trusted."""
        ab = ab.astype(np.float32)
        if ab.shape[1:] != (CARRIED_SIZE, CARRIED_SIZE):
            shrink = ab.shape[1] > CARRIED_SIZE
            ab = np.stack([cv2.resize(plane, (CARRIED_SIZE, CARRIED_SIZE), interpolation=(
                cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)) for plane in ab])
        return cls(np.ascontiguousarray(ab.transpose(1, 2, 0)), _identity(),
                   np.ones((FLOW_SIZE, FLOW_SIZE), np.float32))

    @functools.cached_property
    def _sampled(self) -> np.ndarray:
        return cv2.remap(self.source, self.where[..., 0], self.where[..., 1],
                         interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    @property
    def ab(self) -> np.ndarray:
        """The carried (2, C, C) a*b*."""
        return np.ascontiguousarray(self._sampled.transpose(2, 0, 1))

    def ab_at(self, width: int, height: int) -> np.ndarray:
        """The carried a*b* at (2, height, width)."""
        return np.ascontiguousarray(cv2.resize(self._sampled, (width, height),
                                               interpolation=cv2.INTER_AREA).transpose(2, 0, 1))

    def moved(self, motion) -> Carried | None:
        """Carried one frame further along ``motion``; None once it has faded out. The
        confidence is the weakest step's (a chain of moves holds where every move holds):
        a product would fade colour over a long shot through steps that each hold well
        (0.9 a frame is 0.12 after 20 frames), and the model's paler colour would take over."""
        confidence = np.minimum(np.clip(motion.carry(self.confidence[None])[0], 0.0, 1.0),
                                motion.confidence)
        if confidence.max() < _GONE:
            return None
        return Carried(self.source, motion.carry_picture(self.where), confidence)


@functools.lru_cache(maxsize=1)
def _identity() -> np.ndarray:
    """The (C, C, 2) map of each pixel to itself (shared, read-only: a move makes a new map)."""
    identity = np.ascontiguousarray(np.stack(_grid(CARRIED_SIZE, CARRIED_SIZE), axis=-1))
    identity.setflags(write=False)
    return identity


def reference_ab(bgr: np.ndarray) -> np.ndarray:
    """A colour picture of a frame (BGR or BGRA, 8 or 16 bits, any size) -> (2, C, C) float32
    a*b*, squashed to a square as the model squashes the frame."""
    scale = 65535.0 if bgr.dtype == np.uint16 else 255.0
    if bgr.ndim == 2 or bgr.shape[2] == 1:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)  # a grey reference: no colour to carry
    small = cv2.resize(np.ascontiguousarray(bgr[..., :3]), (CARRIED_SIZE, CARRIED_SIZE),
                       interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / scale, cv2.COLOR_BGR2Lab)
    return np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1))


def _better(a: Carried | None, b: Carried | None) -> Carried | None:
    """Per pixel, the more confident of two carries."""
    if a is None or b is None:
        return a if b is None else b
    pick = cv2.resize((b.confidence > a.confidence).astype(np.uint8), a.ab.shape[:0:-1],
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    return Carried(np.where(pick[..., None], b._sampled, a._sampled), _identity(),
                   np.maximum(a.confidence, b.confidence))


@dataclasses.dataclass(frozen=True)
class Keyframes:
    """References made as the frames come: ``colour`` (e.g. a stronger model) colours the
    first frame of every shot, and one every ``every`` frames within a shot (None: only at
    cuts). It is called with the frame's model-resolution L* (S, S) and the frame itself
    where the caller has it (None otherwise), and returns (2, h, w) a*b* at any size."""

    colour: Callable[[np.ndarray, object], np.ndarray]
    every: int | None = None


class ForwardCarrier:
    """Reference colour carried forward through the frames of one stream, in display order.
    With :class:`Keyframes`, a frame that starts a shot (or is due) becomes a reference."""

    def __init__(self, references: dict[int, np.ndarray],
                 keyframes: Keyframes | None = None) -> None:
        self.references = references  # frame index -> (2, C, C) a*b*
        self.keyframes = keyframes
        self.index = 0
        self.keyframe_indices: list[int] = []
        self._tracker = Tracker()
        self._previous: np.ndarray | None = None
        self._state: Carried | None = None
        self._shot_start = 0

    @property
    def given_here(self) -> bool:
        """Whether the frame :meth:`step` was last called for got a reference's own colour."""
        last = self.index - 1
        return last in self.references or (self.keyframe_indices or [None])[-1] == last

    def step(self, lightness: np.ndarray, frame: object = None) -> Carried | None:
        """The colour carried to the next frame, from its model-resolution L* (S, S) (and the
        frame itself, for a keyframe model that reads it at its own size)."""
        current = flow_picture(lightness)
        cut = self.index == 0
        if self.index in self.references:
            self._state = Carried.given(self.references[self.index])
        elif self._previous is not None:
            motion = self._tracker.track(self._previous, current)
            cut = motion is None
            if self._state is not None:
                self._state = None if cut else self._state.moved(motion)
        if cut:
            self._shot_start = self.index
        if self._keyframe_due(cut) and self.index not in self.references:
            self._state = Carried.given(self.keyframes.colour(lightness, frame))
            self.keyframe_indices.append(self.index)
        self._previous = current
        self.index += 1
        return self._state

    def _keyframe_due(self, cut: bool) -> bool:
        if self.keyframes is None:
            return False
        last = max([self._shot_start - 1, *self.keyframe_indices[-1:]])
        every = self.keyframes.every
        return cut or (every is not None and self.index - max(last, self._shot_start) >= every)


def carry_backward(pictures: list[np.ndarray], references: dict[int, np.ndarray]
                   ) -> dict[int, Carried]:
    """Colour carried backward from each reference, over ``pictures`` (the flow-resolution L*
    of frames 0..n-1, see :func:`~.motion.flow_picture`): frame index -> carried colour, for
    the frames before a reference and after the previous cut."""
    tracker, carried = Tracker(), {}
    for start in sorted(references, reverse=True):
        state = Carried.given(references[start])
        for index in range(start - 1, -1, -1):
            if index in references:
                break
            motion = tracker.track(pictures[index], pictures[index + 1])  # measured already
            state = None if motion is None else state.moved(motion.reverse())
            if state is None:
                break
            carried[index] = _better(carried.get(index), state)
    return carried


class BackwardPass:
    """:func:`carry_backward` over a stream read once, in display order, holding only the
    frames a later reference can still reach: those since the last cut or reference.
    ``feed`` each frame's model-resolution L*; ``carried`` is the result so far."""

    def __init__(self, references: dict[int, np.ndarray]) -> None:
        self.references = references
        self.carried: dict[int, Carried] = {}
        self.frames = 0
        self._tracker = Tracker()
        self._start = 0  # index of the first held picture
        self._held: list[np.ndarray] = []

    def feed(self, lightness: np.ndarray) -> None:
        """The next frame (S, S) L*."""
        index, picture = self.frames, flow_picture(lightness).astype(np.float16)  # exact, compact
        self.frames += 1
        if self._held and self._tracker.track(self._held[-1].astype(np.float32),
                                              picture.astype(np.float32)) is None:
            self._start, self._held = index, []  # a cut: nothing after it reaches back
        self._held.append(picture)
        if index in self.references:
            window = [p.astype(np.float32) for p in self._held]
            local = {index - self._start: self.references[index]}
            for offset, carried in carry_backward(window, local).items():
                self.carried[self._start + offset] = carried
            self._start, self._held = index, [picture]


class ReferenceGuide:
    """The hints of each frame of a stream: reference colour carried forward as the frames
    come, and backward where a first pass carried it (``backward``). Call it with each batch
    of model input in display order."""

    def __init__(self, references: dict[int, np.ndarray],
                 backward: dict[int, Carried] | None = None,
                 keyframes: Keyframes | None = None) -> None:
        self._forward = ForwardCarrier(references, keyframes)
        self._backward = backward or {}

    @property
    def keyframe_indices(self) -> list[int]:
        """The frames coloured by the keyframe model so far."""
        return self._forward.keyframe_indices

    def __call__(self, lightness: np.ndarray, frames: list | None = None
                 ) -> tuple[np.ndarray, ...] | None:
        """(N,1,S,S) L* -> hint a*b* (N,2,S,S), mask (N,1,S,S), trust (N,1,S,S: the carried
        colour's confidence where it is a hint) and the mask of a reference's own frame (the
        stabilizer leaves that as given and smooths carried colour as any other), or None for
        a batch without any hint."""
        n, _, height, width = lightness.shape
        hint_ab = np.zeros((n, 2, height, width), np.float32)
        mask = np.zeros((n, 1, height, width), np.float32)
        trust = np.zeros((n, 1, height, width), np.float32)
        firm = np.zeros((n, 1, height, width), np.float32)
        hinted = False
        for i, picture in enumerate(lightness[:, 0]):
            index = self._forward.index
            frame = frames[i] if frames is not None else None
            carried = _better(self._forward.step(picture, frame),
                              self._backward.pop(index, None))
            if self._forward.given_here:
                firm[i] = 1.0
            if carried is None:
                continue
            confidence = cv2.resize(carried.confidence, (width, height),
                                    interpolation=cv2.INTER_AREA)
            where = confidence >= HINT_CONFIDENCE
            if where.any():
                ab = carried.ab_at(width, height)
                hint_ab[i] = ab * where
                mask[i, 0] = where
                trust[i, 0] = confidence * where
                hinted = True
        return (hint_ab, mask, trust, firm * mask) if hinted else None

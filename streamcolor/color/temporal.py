"""Temporal stabilization of the model's chroma: colour that holds still and follows motion.

A per-frame model answers each frame on its own, so the same coat changes hue from frame to
frame. The :class:`Stabilizer` filters the model-resolution ab along the motion, before it is
upsampled to the chroma planes (no full-resolution work). For frame ``t`` with model input
lightness ``L_t`` and fresh prediction ``p_t``::

    flow      = DIS optical flow from L_t back to L_{t-1}           (and forward, for a check)
    w_ab, w_L = out_{t-1}, L_{t-1} warped along the flow to frame t
    cut       = correlation(L_t, w_L) < 0.75          -> reset: out_t = p_t
    conf      = exp(-(|L_t - w_L| / tau_l)^2) * exp(-(fb_error / tau_f)^2)   per pixel, blurred
    w         = w_max(strength) * conf                                 (w_max < 1)
    out_t     = w * w_ab + (1 - w) * p_t,  rescaled to the blended chroma magnitude

- **Confidence**: where the warp does not explain frame t (luma residual: occlusions, new
  objects, lighting; forward-backward flow disagreement: bad flow) the fresh prediction wins.
  It always keeps weight ``1 - w_max``, so errors fade geometrically and colours cannot drift.
- **Saturation**: averaging hues that disagree shortens the ab vector (washed-out colour); the
  blend is rescaled to the blend of the two magnitudes, so smoothing does not desaturate.
- **Reset**: at a shot cut (frame t does not correlate with frame t-1 moved along the flow)
  the state is dropped; the frame after a cut is exactly the model's own prediction.

The flow, the warp and the confidence are :mod:`.motion`'s, shared with reference frames
(:mod:`.references`). State is one small :class:`StabilizerState` (previous lightness and
output), explicit and resettable, so a segment of a film can be started a few frames early
to warm it up.
The stabilizer is causal: each frame depends only on itself and earlier frames.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..config import TemporalConfig
from .lab import chroma_length
from .motion import Tracker, flow_picture, is_cut

__all__ = ["Stabilizer", "StabilizerState", "TemporalConfig", "is_cut", "max_weight"]


@dataclasses.dataclass(frozen=True)
class StabilizerState:
    """What carries from one frame to the next: flow-resolution L* and the output ab."""

    lightness: np.ndarray  # (F, F) float32 L*, F = flow size
    ab: np.ndarray  # (2, s, s) float32, the previous output


def max_weight(strength: float) -> float:
    """The most weight carried colour gets: its memory is 1 + 38 * strength frames."""
    return 1.0 - 1.0 / (1.0 + 38.0 * strength)


class Stabilizer:
    """The chroma filter of one video stream. Frames must come in display order."""

    def __init__(self, config: TemporalConfig = TemporalConfig()) -> None:
        self.config = config
        self.state: StabilizerState | None = None
        self.cuts = 0
        self._tracker = Tracker()

    def reset(self) -> None:
        """Forget the past: the next frame is the model's own prediction."""
        self.state = None

    def __call__(self, lightness: np.ndarray, ab, hints: tuple[np.ndarray, ...] | None = None
                 ) -> list[np.ndarray]:
        """A batch in order: (N,1,S,S) L* and the predicted ab of each frame ((N,2,s,s), or
        N arrays (2,s,s) whose s may differ from frame to frame) -> each frame's stabilized
        ab, at its own size. Where the model had ``hints`` from the user (a*b*, mask[, trust,
        the (N,1,S,S) part of the mask the user gave for this very frame]; without the fourth,
        the whole mask), its prediction is what the user said: carried colour does not hold
        it back."""
        if not self.config.enabled:
            return list(ab)
        told = None if hints is None else hints[3] if len(hints) > 3 else hints[1]
        given = [None] * len(ab) if told is None else [
            cv2.resize(m[0], (pred.shape[2], pred.shape[1]), interpolation=cv2.INTER_AREA)
            for m, pred in zip(told, ab, strict=True)]
        return [self.step(picture[0], pred, told) for picture, pred, told in zip(
            lightness, ab, given, strict=True)]

    def step(self, lightness: np.ndarray, prediction: np.ndarray,
             given: np.ndarray | None = None) -> np.ndarray:
        """One frame: (S,S) L* and (2,s,s) predicted ab -> (2,s,s) stabilized ab. ``given``
        (s,s) in 0..1: how much of each place the user's hints cover."""
        current = flow_picture(lightness)
        prediction = prediction.astype(np.float32, copy=False)
        out = prediction
        if self.state is not None:
            blended = self._blend(current, prediction, given)
            if blended is None:
                self.cuts += 1
            else:
                out = blended
        self.state = StabilizerState(current, out)
        return out

    def _blend(self, current: np.ndarray, prediction: np.ndarray,
               given: np.ndarray | None) -> np.ndarray | None:
        """The recurrence; None at a cut."""
        motion = self._tracker.track(self.state.lightness, current)
        if motion is None:
            return None
        weight = max_weight(self.config.strength) * motion.confidence_at(*prediction.shape[1:])
        if given is not None:
            weight = weight * (1.0 - given)
        previous = self.state.ab
        if previous.shape != prediction.shape:  # a frame with finer hints, or the one after
            previous = np.stack([cv2.resize(plane, (prediction.shape[2], prediction.shape[1]),
                                            interpolation=cv2.INTER_LINEAR) for plane in previous])
        carried = np.ascontiguousarray(motion.carry(previous))
        keep = 1.0 - weight
        mixed = weight * carried + keep * prediction
        magnitude = weight * chroma_length(carried) + keep * chroma_length(prediction)
        length = np.maximum(chroma_length(mixed), np.float32(1e-3))
        return (mixed * (magnitude / length)).astype(np.float32, copy=False)

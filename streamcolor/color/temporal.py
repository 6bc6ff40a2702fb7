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

State is one small :class:`StabilizerState` (previous lightness and output), explicit and
resettable, so a segment of a film can be started a few frames early to warm it up.
The stabilizer is causal: each frame depends only on itself and earlier frames.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from ..config import TemporalConfig

__all__ = ["Stabilizer", "StabilizerState", "TemporalConfig", "is_cut", "max_weight"]

_FLOW_SIZE = 128  # optical flow resolution (pixels per side); never full resolution
_TAU_L = 6.0  # L* units of warp residual at which confidence falls to 1/e
_TAU_F = 1.0  # flow-resolution pixels of forward-backward disagreement, likewise
_CUT_CORRELATION = 0.75  # below this, frame t and the warped frame t-1 are different shots
_AB_INTERPOLATION = cv2.INTER_CUBIC  # repeated bilinear warps would blur (desaturate) the state
_FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST


@dataclasses.dataclass(frozen=True)
class StabilizerState:
    """What carries from one frame to the next: flow-resolution L* and the output ab."""

    lightness: np.ndarray  # (F, F) float32 L*, F = flow size
    ab: np.ndarray  # (2, s, s) float32, the previous output


def max_weight(strength: float) -> float:
    """The most weight carried colour gets: its memory is 1 + 38 * strength frames."""
    return 1.0 - 1.0 / (1.0 + 38.0 * strength)


def _flow_picture(lightness: np.ndarray) -> np.ndarray:
    small = cv2.resize(lightness, (_FLOW_SIZE, _FLOW_SIZE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(np.meshgrid(np.arange(width, dtype=np.float32),
                             np.arange(height, dtype=np.float32)))


def _warp(picture: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR
          ) -> np.ndarray:
    """``picture`` (H, W[, C]) sampled at x + flow(x): the previous frame seen from this one."""
    grid_x, grid_y = _grid(*flow.shape[:2])
    return cv2.remap(picture, grid_x + flow[..., 0], grid_y + flow[..., 1],
                     interpolation=interpolation, borderMode=cv2.BORDER_REPLICATE)


def is_cut(current: np.ndarray, carried: np.ndarray) -> bool:
    """Whether ``current`` starts a new shot: the previous frame, moved along the best flow
    there is, still does not correlate with it. Correlation ignores brightness and contrast,
    so flashes and fades are no cuts; within a shot it stays above 0.9 even in fast motion,
    across a cut it rarely reaches 0.55."""
    a, b = current - current.mean(), carried - carried.mean()
    energy = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) < _CUT_CORRELATION * energy


class Stabilizer:
    """The chroma filter of one video stream. Frames must come in display order."""

    def __init__(self, config: TemporalConfig = TemporalConfig()) -> None:
        self.config = config
        self.state: StabilizerState | None = None
        self.cuts = 0
        self._flow = cv2.DISOpticalFlow_create(_FLOW_PRESET)

    def reset(self) -> None:
        """Forget the past: the next frame is the model's own prediction."""
        self.state = None

    def __call__(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """A batch in order: (N,1,S,S) L* and (N,2,s,s) predicted ab -> stabilized ab."""
        if not self.config.enabled:
            return ab
        return np.stack([self.step(picture[0], pred) for picture, pred in zip(lightness, ab,
                                                                           strict=True)])

    def step(self, lightness: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        """One frame: (S,S) L* and (2,s,s) predicted ab -> (2,s,s) stabilized ab."""
        current = _flow_picture(lightness)
        prediction = prediction.astype(np.float32, copy=False)
        out = prediction
        if self.state is not None:
            blended = self._blend(current, prediction)
            if blended is None:
                self.cuts += 1
            else:
                out = blended
        self.state = StabilizerState(current, out)
        return out

    def _blend(self, current: np.ndarray, prediction: np.ndarray) -> np.ndarray | None:
        """The recurrence; None at a cut."""
        previous = self.state.lightness
        eight_bit = [np.clip(p * 2.55, 0, 255).astype(np.uint8) for p in (current, previous)]
        backward = self._flow.calc(eight_bit[0], eight_bit[1], None)
        moved = _warp(previous, backward)
        if is_cut(current, moved):
            return None
        forward = self._flow.calc(eight_bit[1], eight_bit[0], None)
        residual = np.abs(current - moved)
        residual -= np.median(residual)  # a global brightness change is no new content
        round_trip = backward + _warp(forward, backward)
        disagreement = np.hypot(round_trip[..., 0], round_trip[..., 1])
        confidence = np.exp(-np.square(np.maximum(residual, 0) / _TAU_L)
                            - np.square(disagreement / _TAU_F))
        confidence = cv2.GaussianBlur(confidence, (0, 0), 1.5)
        size = prediction.shape[1:]
        scale = np.array([size[1] / _FLOW_SIZE, size[0] / _FLOW_SIZE], np.float32)
        flow = cv2.resize(backward, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) * scale
        weight = max_weight(self.config.strength) * cv2.resize(
            confidence, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        carried = _warp(np.ascontiguousarray(self.state.ab.transpose(1, 2, 0)), flow,
                        _AB_INTERPOLATION)
        carried = carried.transpose(2, 0, 1)
        mixed = weight * carried + (1.0 - weight) * prediction
        magnitude = (weight * np.hypot(*carried) + (1.0 - weight) * np.hypot(*prediction))
        length = np.hypot(*mixed)
        return (mixed * (magnitude / np.maximum(length, 1e-3))).astype(np.float32)

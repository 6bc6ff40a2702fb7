"""Motion between two frames, and how far it can be trusted: the one propagation step that
the temporal stabilizer and reference frames share.

:func:`track` measures DIS optical flow between two frames' lightness at a small fixed size
(never full resolution) and returns a :class:`Motion`, or None at a shot cut. A Motion moves
anything of the first frame (a*b*, a confidence map) to where it is in the second
(:meth:`Motion.carry`), and says per pixel how much the move can be trusted
(:attr:`Motion.confidence`)::

    flow       = DIS optical flow from L_t back to L_{t-1}      (and forward, for a check)
    moved      = L_{t-1} warped along the flow to frame t
    cut        = correlation(L_t, moved) < 0.75
    texture    = min(1, (local gradient of L_t / tau_g)^2)
    confidence = exp(-(|L_t - moved| / tau_l)^2) * exp(-texture * (fb_error / tau_f)^2), blurred

The luma residual has its median removed (a global brightness change is no new content);
the forward-backward disagreement catches flow that does not hold where there is structure
to hold on to. On flat areas (sky, walls) flow is ill-posed and the two directions disagree
without harm: whatever was carried came from the same flat area, and the luma residual
still catches anything new arriving there. The flow is DIS's fast preset measured down to half
the flow resolution (finest scale 1; the preset stops at a quarter): coarser flow loses fast
motion, and the confidence then hands fast-moving frames back to the model's flickering
prediction. Two flows a frame, about 5 ms on one core in all (ultrafast at a quarter: 1 ms).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import threading

import cv2
import numpy as np

__all__ = ["FLOW_SIZE", "Motion", "Tracker", "flow_picture", "is_cut", "texture"]

FLOW_SIZE = 128  # optical flow resolution (pixels per side); never full resolution
_TAU_L = 6.0  # L* units of warp residual at which confidence falls to 1/e
_TAU_F = 1.0  # flow-resolution pixels of forward-backward disagreement, likewise
_TAU_G = 2.0  # L* per pixel of local gradient at which the disagreement fully counts
_CUT_CORRELATION = 0.75  # below this, frame t and the warped frame t-1 are different shots
_AB_INTERPOLATION = cv2.INTER_CUBIC  # repeated bilinear warps would blur (desaturate) colour
_FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
_FLOW_FINEST_SCALE = 1  # the preset's 2 measures 32x32 flow: fast motion is lost


def flow_picture(lightness: np.ndarray) -> np.ndarray:
    """(H, W) L* -> the (F, F) float32 L* that flow is measured on, at float16's precision:
    a first pass holds its pictures in float16, and the main pass then finds the motions it
    measured (the same pictures, the same keys)."""
    small = cv2.resize(lightness, (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float16).astype(np.float32)


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


@dataclasses.dataclass(frozen=True)
class Motion:
    """How frame ``t-1`` moved to become frame ``t``: the backward flow (from t to t-1, at
    flow resolution) and the per-pixel confidence of that move (0..1)."""

    flow: np.ndarray  # (F, F, 2) float32
    confidence: np.ndarray  # (F, F) float32
    ahead: np.ndarray | None = None  # (F, F, 2) the forward flow, from t-1 to t

    def reverse(self) -> Motion:
        """How frame ``t`` moves back to become frame ``t-1`` (for carrying backward in time),
        from the forward flow measured with this one: the confidence is this move's, seen
        from frame t-1 (the two directions were checked against each other already)."""
        if self.ahead is None:
            raise ValueError("this motion was measured one way only")
        return Motion(self.ahead, _warp(self.confidence, self.ahead), self.flow)

    def _flow_at(self, height: int, width: int) -> np.ndarray:
        if (height, width) == self.flow.shape[:2]:
            return self.flow
        flow = cv2.resize(self.flow, (width, height), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= np.float32(width / FLOW_SIZE)
        flow[..., 1] *= np.float32(height / FLOW_SIZE)
        return flow

    def carry(self, planes: np.ndarray) -> np.ndarray:
        """(C, h, w) planes of frame t-1 (a*b* at any size) moved to where they are in t."""
        moved = _warp(np.ascontiguousarray(planes.transpose(1, 2, 0)),
                      self._flow_at(*planes.shape[1:]), _AB_INTERPOLATION)
        return moved.reshape(*planes.shape[1:], -1).transpose(2, 0, 1)

    def carry_picture(self, picture: np.ndarray) -> np.ndarray:
        """(h, w, C) of frame t-1 moved to where it is in t, bilinearly (for smooth things
        such as a map of coordinates)."""
        return _warp(picture, self._flow_at(*picture.shape[:2]))

    def confidence_at(self, height: int, width: int) -> np.ndarray:
        """The confidence resized to (height, width)."""
        return cv2.resize(self.confidence, (width, height), interpolation=cv2.INTER_LINEAR)


def texture(lightness: np.ndarray) -> np.ndarray:
    """0..1 per pixel of flow-resolution L*: how much structure there is for flow to hold
    on to (1 at edges and texture, 0 on flat areas)."""
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    gradient = np.sqrt(gx * gx + gy * gy)  # not cv2.magnitude: its last bit varies run to run
    gradient = cv2.GaussianBlur(gradient, (0, 0), 2.0)
    return np.minimum(1.0, np.square(gradient / _TAU_G))


class _Recent:
    """The motions measured lately in this process, by the two pictures' content: the
    stabilizer (after the model) and a reference's carrier (before it) track the same frames,
    and the second one to ask gets the first one's answer; carrying a reference backward
    reuses the motions its first pass measured forward (:meth:`Motion.reverse`). Thread-safe;
    up to 128 entries (a first pass's frames back to the last reference or cut; beyond that,
    motion is measured again) of about 330 KB."""

    def __init__(self, size: int = 128) -> None:
        self._size, self._lock = size, threading.Lock()
        self._entries: collections.OrderedDict[bytes, Motion | None] = collections.OrderedDict()

    @staticmethod
    def key(previous: np.ndarray, current: np.ndarray) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        for picture in (previous, current):
            digest.update(np.ascontiguousarray(picture, np.float32).data)
        return digest.digest()

    def get(self, key: bytes) -> tuple[bool, Motion | None]:
        with self._lock:
            if key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            return True, self._entries[key]

    def put(self, key: bytes, motion: Motion | None) -> None:
        with self._lock:
            self._entries[key] = motion
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_RECENT = _Recent()


class Tracker:
    """Measures :class:`Motion` between consecutive frames (one DIS flow object, reused;
    a pair that another tracker measured lately is not measured again)."""

    def __init__(self) -> None:
        self._flow = cv2.DISOpticalFlow_create(_FLOW_PRESET)
        self._flow.setFinestScale(_FLOW_FINEST_SCALE)

    def track(self, previous: np.ndarray, current: np.ndarray) -> Motion | None:
        """The motion from ``previous`` to ``current`` (flow-resolution L*, see
        :func:`flow_picture`), or None where ``current`` starts a new shot."""
        key = _RECENT.key(previous, current)
        known, motion = _RECENT.get(key)
        if not known:
            motion = self._measure(previous, current)
            _RECENT.put(key, motion)
        return motion

    def _measure(self, previous: np.ndarray, current: np.ndarray) -> Motion | None:
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
                            - texture(current) * np.square(disagreement / _TAU_F))
        return Motion(backward, cv2.GaussianBlur(confidence, (0, 0), 1.5), forward)

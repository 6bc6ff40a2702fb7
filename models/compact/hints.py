"""Colour hints for training and measuring the guided model, drawn from the true colours.

Three kinds, in SIGGRAPH17's form (hint a*b* and a 0/1 mask at the picture's resolution):

- ``points``: what a user clicks. The number of hints is geometric (p = 1/8, so often one or
  two, sometimes dozens), each a square patch of side 1 to 9 pixels filled with the true mean
  a*b* there, placed uniformly or around the centre (Zhang et al. 2017's sampling).
- ``dense``: what a reference frame carried along the optical flow looks like: the true a*b*
  over most of the picture, shifted by a pixel or two, with noise, a slight colour cast, and
  holes where the flow was not trusted.
- ``none``: no hints, so the automatic result stays as good as it was.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["KINDS", "sample_hints", "patch_hints"]

KINDS = ("none", "points", "dense")


def patch_hints(ab: np.ndarray, centres: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Hints at ``centres`` ((K, 2) rows, cols): a ``size``-pixel square each, filled with the
    mean of ``ab`` (2, H, W) there. Returns (hint a*b* (2, H, W), mask (1, H, W))."""
    _, h, w = ab.shape
    hint = np.zeros_like(ab)
    mask = np.zeros((1, h, w), np.float32)
    half = size // 2
    for y, x in centres:
        y0, x0 = max(0, int(y) - half), max(0, int(x) - half)
        y1, x1 = min(h, y0 + size), min(w, x0 + size)
        hint[:, y0:y1, x0:x1] = ab[:, y0:y1, x0:x1].mean((1, 2), keepdims=True)
        mask[:, y0:y1, x0:x1] = 1.0
    return hint, mask


def _points(ab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    _, h, w = ab.shape
    count = min(int(rng.geometric(1 / 8)), 200)
    if rng.random() < 0.5:
        centres = rng.uniform((0, 0), (h, w), size=(count, 2))
    else:
        centres = rng.normal((h / 2, w / 2), (h / 4, w / 4), size=(count, 2))
    centres = np.clip(centres, 0, (h - 1, w - 1))
    hint = np.zeros_like(ab)
    mask = np.zeros((1, h, w), np.float32)
    for centre in centres:  # each its own size
        one, where = patch_hints(ab, centre[None], int(rng.integers(1, 10)))
        hint = np.where(where > 0, one, hint)
        mask = np.maximum(mask, where)
    return hint, mask


def _holes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A (1, H, W) 0/1 mask that keeps 30-90 % of the picture in smooth blobs."""
    field = cv2.resize(rng.standard_normal((max(2, h // 16), max(2, w // 16))).astype(np.float32),
                       (w, h), interpolation=cv2.INTER_CUBIC)
    keep = np.quantile(field, rng.uniform(0.1, 0.7))
    return (field > keep).astype(np.float32)[None]


def _dense(ab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    _, h, w = ab.shape
    dy, dx = rng.integers(-2, 3, size=2)
    hint = np.roll(ab, (int(dy), int(dx)), axis=(1, 2))
    hint = hint + rng.uniform(0, 4) * rng.standard_normal(hint.shape).astype(np.float32)
    hint = hint * rng.uniform(0.85, 1.1) + rng.normal(0, 2, size=(2, 1, 1)).astype(np.float32)
    return hint.astype(np.float32), _holes(h, w, rng)


def sample_hints(ab: np.ndarray, rng: np.random.Generator,
                 weights: tuple[float, float, float] = (0.3, 0.4, 0.3)
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Hints for a batch of true a*b* (B, 2, H, W): (hint a*b* (B,2,H,W), mask (B,1,H,W)),
    each picture's kind drawn with ``weights`` over :data:`KINDS`."""
    hints = np.zeros_like(ab)
    masks = np.zeros((ab.shape[0], 1, *ab.shape[2:]), np.float32)
    for i, kind in enumerate(rng.choice(len(KINDS), size=len(ab), p=weights)):
        if KINDS[kind] == "points":
            hints[i], masks[i] = _points(ab[i], rng)
        elif KINDS[kind] == "dense":
            hints[i], masks[i] = _dense(ab[i], rng)
    return hints * masks, masks

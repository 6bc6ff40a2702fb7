"""Colour hints: what a user says a colour is, brought to the form a guided model takes.

A hint is a colour at a place. Users give them as a picture (every pixel of an RGBA layer
with alpha >= 128 is a hint of its own colour: strokes painted on a transparent layer) or
as points (x, y, colour). Guided models take them in SIGGRAPH17's form at their input size
S: hint a*b* (2, S, S) in Lab units and a 0/1 mask (1, S, S). :func:`at_model_size` makes
that form from full-resolution hints: a model cell is hinted where any of its pixels is, with
the mean a*b* of its hinted pixels. Only chroma is taken from a hint: luma stays the
picture's, and a colour that luma cannot show loses saturation, never brightness (the
caller's gamut step).

After the model, :func:`spread` carries what the user said a little further than the model
did: the difference between a hint and the model's colour there is spread to nearby pixels of
similar lightness (a joint bilateral interpolation of the residual, as in edge-aware
colorization by optimization), fading out away from any hint. :func:`honour` then keeps each
hint's own colour where it is.
"""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np

from .lab import chroma_length

__all__ = ["Hints", "HintPoint", "parse_point", "from_bgra", "with_points", "at_model_size",
           "batch_at_model_size", "honour", "spread"]

ALPHA_MIN = 128


@dataclasses.dataclass(frozen=True)
class HintPoint:
    """One hint: the pixel (x, y), 0-based from the top left, and its sRGB colour."""

    x: int
    y: int
    rgb: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Hints:
    """Hints at full resolution: a*b* (2, H, W) float32 and mask (H, W) bool."""

    ab: np.ndarray
    mask: np.ndarray

    @classmethod
    def empty(cls, height: int, width: int) -> Hints:
        return cls(np.zeros((2, height, width), np.float32), np.zeros((height, width), bool))

    @property
    def count(self) -> int:
        """Hinted pixels."""
        return int(self.mask.sum())


def parse_point(text: str) -> HintPoint:
    """``X,Y,#RRGGBB`` -> a :class:`HintPoint`; ValueError saying what is wrong."""
    match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*#?([0-9a-fA-F]{6})\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a hint X,Y,#RRGGBB (pixels from the top left)")
    colour = match.group(3)
    rgb = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return HintPoint(int(match.group(1)), int(match.group(2)), rgb)


def _ab_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB uint8 -> (..., 2) a*b* float32."""
    flat = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)[:, 0, 1:].reshape(*rgb.shape[:-1], 2)


def from_bgra(bgra: np.ndarray) -> Hints:
    """Hints from a picture with alpha (H, W, 4) in OpenCV's BGRA order, uint8 or uint16:
    every pixel with alpha >= 128 (of 255) is a hint of its colour."""
    if bgra.ndim != 3 or bgra.shape[2] != 4:
        raise ValueError("a hints picture needs an alpha channel (RGBA): paint the hints on "
                         "a transparent layer")
    if bgra.dtype == np.uint16:
        bgra = (bgra >> 8).astype(np.uint8)
    if bgra.dtype != np.uint8:
        raise ValueError(f"a hints picture has 8 or 16 bits per channel, not {bgra.dtype}")
    mask = bgra[..., 3] >= ALPHA_MIN
    ab = np.zeros((2, *mask.shape), np.float32)
    if mask.any():
        ab[:, mask] = _ab_of_rgb(bgra[..., 2::-1][mask]).T
    return Hints(ab, mask)


def with_points(hints: Hints, points: list[HintPoint]) -> Hints:
    """``hints`` with ``points`` added (a point wins over a painted pixel at its place)."""
    _, height, width = hints.ab.shape
    ab, mask = hints.ab.copy(), hints.mask.copy()
    for point in points:
        if not (0 <= point.x < width and 0 <= point.y < height):
            raise ValueError(f"hint at ({point.x}, {point.y}) is outside the {width}x{height} "
                             "picture")
        ab[:, point.y, point.x] = _ab_of_rgb(np.array(point.rgb, np.uint8))
        mask[point.y, point.x] = True
    return Hints(ab, mask)


def at_model_size(hints: Hints, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(hint a*b* (2, S, S), mask (1, S, S)) float32 for a model that squashes the picture
    to S x S: a cell is hinted where any of its pixels is, with their mean a*b*."""
    _, height, width = hints.ab.shape
    if not hints.mask.any():
        return np.zeros((2, size, size), np.float32), np.zeros((1, size, size), np.float32)
    rows = np.minimum(np.arange(height) * size // height, size - 1)
    cols = np.minimum(np.arange(width) * size // width, size - 1)
    ys, xs = np.nonzero(hints.mask)
    cell = rows[ys] * size + cols[xs]
    count = np.bincount(cell, minlength=size * size).astype(np.float32)
    ab = np.stack([np.bincount(cell, weights=hints.ab[c, ys, xs], minlength=size * size)
                   for c in range(2)]).astype(np.float32)
    hinted = count > 0
    ab[:, hinted] /= count[hinted]
    return ab.reshape(2, size, size), hinted.astype(np.float32).reshape(1, size, size)


def batch_at_model_size(hints: list[Hints | None], size: int
                        ) -> tuple[np.ndarray, np.ndarray] | None:
    """(N,2,S,S) a*b* and (N,1,S,S) mask for a batch (no hints where an entry is None), or
    None where no picture of the batch has hints."""
    if all(h is None for h in hints):
        return None
    ab = np.zeros((len(hints), 2, size, size), np.float32)
    mask = np.zeros((len(hints), 1, size, size), np.float32)
    for i, one in enumerate(hints):
        if one is not None:
            ab[i], mask[i] = at_model_size(one, size)
    return ab, mask


_LIFT_MAX = 3.0  # the most a dense hint's saturation lifts the model's fill
_LIFT_COVER = 0.05  # ... where at least this much of the frame (trust-weighted) is hinted


def honour(ab: np.ndarray, hints: tuple[np.ndarray, ...], dense: bool = False
           ) -> list[np.ndarray]:
    """The model's (N,2,s,s) a*b* with the hints' own colour where they are trusted: a hint
    is what the user said, so the model's answer there only fills what the hint leaves open.
    ``hints``: a*b* (N,2,S,S), mask (N,1,S,S) and optionally trust (N,1,S,S) 0..1 (a carried
    reference's confidence; the mask itself otherwise). Per frame, (2,s,s) a*b*.

    ``dense``: the hints are a reference's colour carried over much of the frame. A frame
    with them is first brought to the hints' size (2,S,S), so that they keep detail the
    model's coarser grid cannot hold (on the s = 56 grid true colour keeps only 0.83-0.92 of
    a frame's colourfulness, on S = 224 0.93-0.99). And the model's fill is lifted to the
    saturation the hints show: where both speak, the model is g times paler than the
    reference (g = trust-weighted mean |hint ab| / |model ab|), so what it fills alone (where
    the flow lost the reference) is scaled by g, within 1..3."""
    hint_ab, mask = hints[0], hints[1]
    trust = hints[2] if len(hints) > 2 else mask
    out = []
    for i in range(len(ab)):
        mine = ab[i].astype(np.float32)
        if not trust[i].any():
            out.append(mine)
            continue
        if dense and hint_ab.shape[2:] != mine.shape[1:]:
            mine = np.stack([cv2.resize(plane, (hint_ab.shape[3], hint_ab.shape[2]),
                                        interpolation=cv2.INTER_LINEAR) for plane in mine])
        size = (mine.shape[2], mine.shape[1])
        if size == (hint_ab.shape[3], hint_ab.shape[2]):  # at the hints' own size
            weight, colour = trust[i, 0], hint_ab[i]  # (hint a*b* is 0 off the mask)
        else:
            cover = cv2.resize(mask[i, 0], size, interpolation=cv2.INTER_AREA)
            weight = cv2.resize(trust[i, 0], size, interpolation=cv2.INTER_AREA)
            colour = np.stack([cv2.resize(hint_ab[i, c] * mask[i, 0], size,
                                          interpolation=cv2.INTER_AREA) for c in range(2)])
            colour = colour / np.maximum(cover, 1e-6)
        if dense:
            mine = mine * _lift(colour, mine, weight)
        out.append((weight * colour + (1.0 - weight) * mine).astype(np.float32))
    return out


def _lift(hint: np.ndarray, model: np.ndarray, weight: np.ndarray) -> float:
    """How much paler the model's (2,h,w) a*b* is than the hints', where they are trusted."""
    said = float(np.sum(weight * chroma_length(model)))
    if weight.mean() < _LIFT_COVER or said < 1e-3:
        return 1.0
    return min(_LIFT_MAX, max(1.0, float(np.sum(weight * chroma_length(hint))) / said))


_SPREAD_REACH = (0.6, 0.1, 0.2)  # spatial sigma: 0.6 / sqrt(hints) widths, within 0.1..0.2
_SPREAD_LIGHTNESS = 10.0  # L* sigma: the residual stays on things as light as the hint
_SPREAD_EVIDENCE = 0.3  # pull of the nearest hint at which the spread residual counts half
_SPREAD_HINTS = 256  # at most this many pooled hint cells per picture


def _pool(plane: np.ndarray, cells: int) -> np.ndarray:
    return cv2.resize(plane, (cells, cells), interpolation=cv2.INTER_AREA)


def _cells(mask: np.ndarray) -> int:
    """The side of the grid (a quarter of the model size, or coarser by powers of two) on
    which the hinted cells are at most _SPREAD_HINTS."""
    cells = max(1, mask.shape[0] // 4)
    while cells > 1 and np.count_nonzero(_pool(mask, cells)) > _SPREAD_HINTS:
        cells //= 2
    return cells


def _reach(mask: np.ndarray) -> float:
    """The spatial sigma of the spread, in pixels of the (S, S) ``mask``: 0.6 / sqrt(K) of S
    for K separate hints (connected regions), within 0.1..0.2 of S."""
    separate = cv2.connectedComponents((mask > 0).astype(np.uint8))[0] - 1
    factor, low, high = _SPREAD_REACH
    return mask.shape[0] * min(high, max(low, factor / np.sqrt(max(1, separate))))


def spread(ab: np.ndarray, hints: tuple[np.ndarray, ...], lightness: np.ndarray) -> np.ndarray:
    """The model's (N,2,s,s) a*b* corrected near the hints: each hint's residual (its a*b*
    minus the model's there) spread with weights exp(-d^2/2sd^2 - dL^2/2sl^2), faded by the
    pull P of the nearest hint cell (its weight) as P / (P + k): a long stroke pulls no
    harder than a click. The reach sd shrinks as hints get denser (0.6 / sqrt(K) of the width
    for K separate hints, within 0.1..0.2): one click colours its surroundings, a hundred
    each colour their own. ``hints``: a*b*
    (N,2,S,S) and mask (N,1,S,S) at model size; ``lightness``: (N,1,S,S) L*. Hints are
    pooled to at most _SPREAD_HINTS cells, so a large painted stroke costs no more than a
    few clicks."""
    hint_ab, mask = hints[0], hints[1]
    out = ab.astype(np.float32, copy=True)
    n, _, height, width = ab.shape
    model_size = mask.shape[-1]
    grid_y, grid_x = (np.mgrid[0:height, 0:width].astype(np.float32)
                      * np.float32(model_size / height))
    for i in range(n):
        where = mask[i, 0].astype(np.float32)
        if not where.any():
            continue
        cells = _cells(where)
        sigma = _reach(where)
        coverage = _pool(where, cells)
        model_ab = [cv2.resize(plane, (model_size, model_size), interpolation=cv2.INTER_LINEAR)
                    for plane in ab[i]]
        residual = np.stack([_pool((hint_ab[i, c] - model_ab[c]) * where, cells)
                             for c in range(2)])
        light = _pool(lightness[i, 0] * where, cells)
        ys, xs = np.nonzero(coverage)
        share = coverage[ys, xs]
        scale = model_size / cells
        centre_y, centre_x = (ys + 0.5) * scale - 0.5, (xs + 0.5) * scale - 0.5
        distance = (grid_y[..., None] - centre_y) ** 2 + (grid_x[..., None] - centre_x) ** 2
        here = cv2.resize(lightness[i, 0], (width, height), interpolation=cv2.INTER_AREA)
        likeness = (here[..., None] - light[ys, xs] / share) ** 2
        weight = share * np.exp(-distance / (2 * sigma**2)
                                - likeness / (2 * _SPREAD_LIGHTNESS**2))
        evidence = weight.sum(-1)
        nearest = (weight / share).max(-1)  # one hint's pull, however many cells it covers
        field = np.einsum("hwk,ck->chw", weight, residual[:, ys, xs] / share)
        out[i] += field / np.maximum(evidence, 1e-6) * (nearest / (nearest + _SPREAD_EVIDENCE))
    return out

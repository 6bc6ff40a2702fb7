"""Colour math on numpy arrays: luma -> L* for the model, ab -> chroma planes for the frame.

No I/O and no threads. Luma is never modified here: the pipeline keeps the input's luma plane
and only replaces chroma, computed at chroma resolution (a quarter of the pixels for 4:2:0).
"""

from __future__ import annotations

import dataclasses
import functools
import threading

import cv2
import numpy as np

__all__ = [
    "PlaneSpec",
    "MATRICES",
    "lightness_lut",
    "model_input",
    "chroma_planes",
    "chroma_codes",
    "ab_columns",
    "ab_rows",
    "lightness_to_gray_rgb",
    "rgb_to_ab",
    "chroma_length",
]

# (Kr, Kb) of the Y'CbCr matrices, keyed by FFmpeg's AVColorSpace numbers.
MATRICES = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
    10: (0.2627, 0.0593),  # BT.2020 constant luminance (approximated as NCL)
}
_BT601 = (0.299, 0.114)
_BT709 = (0.2126, 0.0722)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlaneSpec:
    """How code values of a Y'CbCr picture map to normalized signal."""

    bits: int = 8
    full_range: bool = False
    kr_kb: tuple[float, float] = _BT601

    @classmethod
    def for_frame(cls, *, bits: int, full_range: bool, colorspace: int, height: int) -> PlaneSpec:
        """The spec of a frame; an unspecified matrix is guessed from the height as FFmpeg does."""
        default = _BT709 if height >= 720 else _BT601
        return cls(bits=bits, full_range=full_range, kr_kb=MATRICES.get(int(colorspace), default))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def luma_scale(self) -> tuple[float, float]:
        """(offset, scale) with normalized = (code - offset) / scale."""
        if self.full_range:
            return 0.0, float(self.max_code)
        step = 1 << (self.bits - 8)
        return 16.0 * step, 219.0 * step

    def chroma_matrix(self) -> np.ndarray:
        """2x4 matrix taking R'G'B' in 0..1 (plus a constant 1) to Cb, Cr code values."""
        kr, kb = self.kr_kb
        kg = 1.0 - kr - kb
        cb = np.array([-kr, -kg, 1.0 - kb]) / (2.0 * (1.0 - kb))
        cr = np.array([1.0 - kr, -kg, -kb]) / (2.0 * (1.0 - kr))
        if self.full_range:
            scale, mid = float(self.max_code), float(1 << (self.bits - 1))
        else:
            scale, mid = 224.0 * (1 << (self.bits - 8)), float(128 << (self.bits - 8))
        rows = [np.append(cb * scale, mid), np.append(cr * scale, mid)]
        return np.array(rows, dtype=np.float32)

    def chroma_limits(self) -> tuple[float, float]:
        if self.full_range:
            return 0.0, float(self.max_code)
        step = 1 << (self.bits - 8)
        return 16.0 * step, 240.0 * step


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _lightness_from_linear(y: np.ndarray) -> np.ndarray:
    eps = (6.0 / 29.0) ** 3
    f = np.where(y > eps, np.cbrt(y), y / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return 116.0 * f - 16.0


@functools.lru_cache(maxsize=16)
def lightness_lut(spec: PlaneSpec) -> np.ndarray:
    """L* (0..100) of a neutral grey for every luma code value, as float32."""
    offset, scale = spec.luma_scale()
    codes = np.arange(spec.max_code + 1, dtype=np.float64)
    v = np.clip((codes - offset) / scale, 0.0, 1.0)
    lut = _lightness_from_linear(_srgb_to_linear(v)).astype(np.float32)
    lut.setflags(write=False)
    return lut


def model_input(luma: np.ndarray, size: int, spec: PlaneSpec) -> np.ndarray:
    """The model's (size, size) float32 L* picture from a full-resolution luma plane."""
    small = cv2.resize(luma, (size, size), interpolation=cv2.INTER_AREA)
    return np.take(lightness_lut(spec), small, mode="clip")


BAND_ROWS = 64  # rows of chroma done at a time: a band's float work stays in the CPU's cache


def chroma_planes(
    luma: np.ndarray, ab: np.ndarray, chroma_shape: tuple[int, int], spec: PlaneSpec,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cb and Cr planes of ``chroma_shape`` (h, w) from the luma plane and the model's (2, s, s) ab
    (into ``out``, e.g. a frame's own planes, where given).

    The colour is the Lab colour (L* of the luma, the model's a*b*) converted to R'G'B' and
    then to Cb/Cr with the stream's matrix and range; luma itself is left to the caller.
    The pixel work runs in bands of :data:`BAND_ROWS` rows, on buffers reused from frame to
    frame (per thread): a 720p frame's intermediates would be 10 MB of fresh memory a frame.
    """
    height, width = chroma_shape
    if luma.shape != chroma_shape:
        luma = cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)
    a_up, b_up = (cv2.resize(np.ascontiguousarray(plane, dtype=np.float32), (width, height),
                             interpolation=cv2.INTER_LINEAR) for plane in ab)
    cb, cr = out if out is not None else (np.empty(chroma_shape, spec.dtype),
                                          np.empty(chroma_shape, spec.dtype))
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, min(top + BAND_ROWS, height))
        chroma_codes(luma[rows], a_up[rows], b_up[rows], spec, out=(cb[rows], cr[rows]))
    return cb, cr


def chroma_codes(
    luma: np.ndarray, a: np.ndarray, b: np.ndarray, spec: PlaneSpec,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cb and Cr code planes from a luma plane and float32 a*, b* planes of the same shape
    (into ``out`` where given).

    The pixel-wise second half of :func:`chroma_planes`, so a picture can be done in row bands.
    """
    height, width = luma.shape
    work = _workspace(height, width)
    lab = cv2.merge([_lightness(luma, spec), a, b], dst=work.lab)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=work.rgb)
    # Cb, Cr and Cr again: OpenCV's transform has a vectorized path for three outputs, and
    # none for two (ten times slower); the values differ by float rounding (< 1e-4 code).
    cbcr = cv2.transform(rgb, _chroma_matrix(spec), dst=work.cbcr)
    if out is None:
        out = np.empty(luma.shape, spec.dtype), np.empty(luma.shape, spec.dtype)
    if spec.bits <= 8:
        # R'G'B' comes clipped to 0..1, so Cb and Cr are within the range's limits up to
        # float rounding, which the rounding to codes absorbs (it saturates, too)
        codes = cv2.convertScaleAbs(cbcr, dst=work.codes)
        cv2.mixChannels([codes], list(out), [0, 0, 1, 1])
    else:
        low, high = spec.chroma_limits()
        np.clip(cbcr, low, high, out=cbcr)
        np.add(cbcr[..., 0], 0.5, out=out[0], casting="unsafe")  # truncates: rounds up at .5
        np.add(cbcr[..., 1], 0.5, out=out[1], casting="unsafe")
    return out


@dataclasses.dataclass
class _Workspace:
    lab: np.ndarray
    rgb: np.ndarray
    cbcr: np.ndarray
    codes: np.ndarray


_WORKSPACES = threading.local()


def _workspace(height: int, width: int) -> _Workspace:
    """This thread's buffers for a band of ``height`` x ``width`` (views of the largest made)."""
    held = getattr(_WORKSPACES, "held", None)
    if held is None or held.lab.shape[0] < height or held.lab.shape[1] != width:
        rows = max(height, held.lab.shape[0] if held is not None and
                   held.lab.shape[1] == width else 0)
        floats = (rows, width, 3)
        held = _Workspace(np.empty(floats, np.float32), np.empty(floats, np.float32),
                          np.empty(floats, np.float32), np.empty(floats, np.uint8))
        _WORKSPACES.held = held
    return _Workspace(held.lab[:height], held.rgb[:height], held.cbcr[:height],
                      held.codes[:height])


def _lightness(luma: np.ndarray, spec: PlaneSpec) -> np.ndarray:
    """L* of every luma code value (OpenCV's table lookup for 8 bits, numpy's otherwise)."""
    lut = lightness_lut(spec)
    if luma.dtype == np.uint8 and len(lut) == 256:
        return cv2.LUT(luma, lut)
    return np.take(lut, luma, mode="clip")


def ab_columns(ab: np.ndarray, width: int) -> np.ndarray:
    """The model's (2, s, s) a*b* linearly resized along x only, to float32 (2, s, width).

    The first pass of OpenCV's separable ``INTER_LINEAR`` resize (the same values); with
    :func:`ab_rows` it gives any band of rows of the full-size a*b* without the full planes.
    """
    return np.stack([cv2.resize(np.ascontiguousarray(plane, dtype=np.float32),
                                (width, plane.shape[0]), interpolation=cv2.INTER_LINEAR)
                     for plane in ab])


def ab_rows(columns: np.ndarray, height: int, top: int,
            bottom: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``top:bottom`` of the a* and b* planes linearly resized to ``height`` rows from
    :func:`ab_columns`' output: pixel centres aligned as ``cv2.resize`` aligns them, values
    within float rounding (about 1e-5 relative) of a whole-picture ``cv2.resize``."""
    rows = columns.shape[1]
    y = ((np.arange(top, bottom) + 0.5) * (rows / height) - 0.5).astype(np.float32)
    first = np.floor(y)
    weight = (y - first)[:, None]
    first = first.astype(np.intp)
    upper = columns[:, np.clip(first, 0, rows - 1)]
    lower = columns[:, np.clip(first + 1, 0, rows - 1)]
    band = upper * (np.float32(1) - weight) + lower * weight
    return band[0], band[1]


@functools.lru_cache(maxsize=16)
def _chroma_matrix(spec: PlaneSpec) -> np.ndarray:
    """The 3x4 matrix to (Cb, Cr, Cr) (see :func:`chroma_codes`)."""
    matrix = spec.chroma_matrix()
    return np.ascontiguousarray(np.vstack([matrix, matrix[1:]]))


def lightness_to_gray_rgb(lightness: np.ndarray) -> np.ndarray:
    """(N,1,S,S) L* -> (N,3,S,S) grey sRGB in 0..1, for models that take a grey RGB picture."""
    fy = (lightness.astype(np.float32) + 16.0) / 116.0
    eps = 6.0 / 29.0
    y = np.where(fy > eps, fy**3, 3 * eps**2 * (fy - 4.0 / 29.0))
    v = np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(np.maximum(y, 0), 1 / 2.4) - 0.055)
    return np.repeat(np.clip(v, 0.0, 1.0).astype(np.float32), 3, axis=1)


def rgb_to_ab(rgb: np.ndarray) -> np.ndarray:
    """(N,3,s,s) sRGB in 0..1 -> (N,2,s,s) a*b*, for models that answer in RGB."""
    out = np.empty((rgb.shape[0], 2) + rgb.shape[2:], dtype=np.float32)
    for i, picture in enumerate(rgb):
        hwc = np.ascontiguousarray(np.clip(picture, 0, 1).transpose(1, 2, 0), dtype=np.float32)
        out[i] = cv2.cvtColor(hwc, cv2.COLOR_RGB2Lab)[..., 1:].transpose(2, 0, 1)
    return out


def chroma_length(ab: np.ndarray) -> np.ndarray:
    """(2, h, w) a*b* -> (h, w) chroma |ab|, in the input's float type. (OpenCV's
    ``magnitude`` is faster but not deterministic: the same input can differ in the last
    bit, and a film job's segments must match the single pass exactly.)"""
    a, b = ab[0], ab[1]
    return np.sqrt(a * a + b * b)

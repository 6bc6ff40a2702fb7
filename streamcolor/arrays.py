"""Arrays in, arrays out: colorize numpy pictures in memory, one at a time or as a stream.

    >>> colorizer = streamcolor.Colorizer(model="colorizer.onnx", provider="cpu")
    >>> colour = colorizer.colorize(grey)              # (H, W) -> (H, W, 3) BGR
    >>> for colour in colorizer.stream(frames): ...     # batched inside, yielded in order

Pictures are OpenCV's layouts: grey ``(H, W)`` or ``(H, W, 1)``, BGR ``(H, W, 3)`` or BGRA
``(H, W, 4)``, 8 or 16 bits per channel. Luma (BT.601, full range, as JPEG defines it) is
kept: only chroma is added. Grey comes back as BGR; BGR(A) comes back as BGR(A), alpha
untouched; the dtype is the input's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from .color.carry import ReferenceGuide, reference_ab
from .color.guidance import Hints, batch_at_model_size, from_bgra, honour, spread
from .color.lab import PlaneSpec, ab_columns, ab_rows, chroma_codes, model_input
from .color.temporal import Stabilizer
from .config import TemporalConfig
from .errors import InputError
from .runtime import ModelRunner

_STEADY = TemporalConfig()
# Full-resolution work is done in bands of rows of about this many pixels, so a large photo
# costs a few of its own uint8/uint16 planes, not dozens of float32 ones.
_BAND_PIXELS = 1 << 18

__all__ = ["Colorizer", "split_luma", "compose", "picture_spec"]


def split_luma(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(luma, alpha or None) of a grey, BGR or BGRA picture."""
    if picture.ndim == 2:
        return picture, None
    if picture.shape[2] == 1:
        return np.ascontiguousarray(picture[..., 0]), None
    alpha = picture[..., 3] if picture.shape[2] == 4 else None
    height, width = picture.shape[:2]
    luma = np.empty((height, width), picture.dtype)
    for top, bottom in _bands(height, width):
        bgr = np.ascontiguousarray(picture[top:bottom, :, :3])
        luma[top:bottom] = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]
    return luma, alpha


def _bands(height: int, width: int) -> Iterator[tuple[int, int]]:
    """(top, bottom) of the row bands that full-resolution work is done in."""
    step = max(1, _BAND_PIXELS // max(1, width))
    for top in range(0, height, step):
        yield top, min(top + step, height)


def picture_spec(picture: np.ndarray) -> PlaneSpec:
    """Full-range BT.601 code values of the picture's bit depth (what JPEG/PNG pixels mean)."""
    return PlaneSpec(bits=8 * picture.dtype.itemsize, full_range=True, kr_kb=(0.299, 0.114))


def compose(luma: np.ndarray, ab: np.ndarray, alpha: np.ndarray | None, spec: PlaneSpec, *,
            out: np.ndarray | None = None) -> np.ndarray:
    """The BGR(A) picture with ``luma`` kept and chroma from the model's (2, s, s) ``ab``.

    Chroma is computed at full resolution in bands of rows, so the float work never holds
    more than a band. ``out`` (H, W, 3 or 4 for alpha, the luma's dtype) receives the
    picture, and may be the input picture itself once its luma has been taken.
    """
    height, width = luma.shape
    if out is None:
        out = np.empty((height, width, 3 if alpha is None else 4), luma.dtype)
    columns = ab_columns(ab, width)
    for top, bottom in _bands(height, width):
        a, b = ab_rows(columns, height, top, bottom)
        out[top:bottom, :, :3] = _bgr_band(luma[top:bottom], a, b, spec)
        if alpha is not None:
            out[top:bottom, :, 3] = alpha[top:bottom]
    return out


def _bgr_band(luma: np.ndarray, a: np.ndarray, b: np.ndarray, spec: PlaneSpec) -> np.ndarray:
    """BGR rows from luma rows and the a*, b* of the same rows."""
    cb, cr = chroma_codes(luma, a, b, spec)
    scale = np.float32(spec.max_code)
    ycrcb = cv2.merge([luma, cr, cb]).astype(np.float32) / scale
    bgr = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)
    bgr = _into_gamut(bgr, ycrcb[..., :1]) * scale + 0.5
    return np.clip(bgr, 0, spec.max_code).astype(luma.dtype)


def _into_gamut(bgr: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pull each pixel's colour toward its grey, as little as needed for B, G, R to lie in
    0..1. Every channel moves by the same fraction, so the luma (a weighted mean with weights
    summing to one) stays exactly ``y``: a colour the picture cannot show loses saturation,
    never brightness."""
    offset = bgr - y
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offset > 0, (1.0 - y) / offset, np.where(offset < 0, -y / offset, 1.0))
    fraction = np.clip(room.min(axis=2, keepdims=True), 0.0, 1.0)
    return y + offset * fraction


def _check(picture) -> np.ndarray:
    if not isinstance(picture, np.ndarray):
        raise InputError(f"Colorizer takes numpy arrays, not {type(picture).__name__}")
    channels = 1 if picture.ndim == 2 else picture.shape[2] if picture.ndim == 3 else 0
    if channels not in (1, 3, 4) or picture.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"Colorizer takes grey (H,W), BGR (H,W,3) or BGRA (H,W,4) arrays of uint8 or "
            f"uint16; got shape {picture.shape} of {picture.dtype}")
    if picture.shape[0] == 0 or picture.shape[1] == 0:
        raise InputError(f"Colorizer got an empty picture (shape {picture.shape}): it needs "
                         f"at least one row and one column of pixels")
    return picture


def _hints_for(hints: Hints | np.ndarray | None, picture: np.ndarray) -> Hints | None:
    """``hints`` as :class:`Hints` of the picture's size; InputError saying what is wrong."""
    if hints is None:
        return None
    if isinstance(hints, np.ndarray):
        try:
            hints = from_bgra(hints)
        except ValueError as error:
            raise InputError(str(error)) from None
    if hints.mask.shape != picture.shape[:2]:
        height, width = hints.mask.shape
        raise InputError(f"the hints are {width}x{height} but the picture is "
                         f"{picture.shape[1]}x{picture.shape[0]}: they must be the same size")
    return hints


def _batches(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Checked frames in lists of ``size`` (the last may be shorter). If the source fails
    (or gives a bad frame), the frames already taken come first, then the error."""
    batch: list[np.ndarray] = []
    source = iter(frames)
    while True:
        try:
            batch.append(_check(next(source)))
        except StopIteration:
            break
        except Exception:
            if batch:
                yield batch
            raise
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Colorizer:
    """A loaded model that colorizes numpy pictures (see the module docstring for layouts).

    ``model`` is an ONNX path or registry name (None: the bundled model); ``provider`` is
    auto, tensorrt, cuda or cpu; ``batch_size`` is how many frames :meth:`stream` sends to the
    model at once, and so (with the frame being built) how many it holds in memory;
    ``temporal`` is the stabilizer :meth:`stream` applies (on by default, as for video files).
    """

    def __init__(self, model: str | os.PathLike | None = None, *, provider: str = "auto",
                 batch_size: int = 8, threads: int = 0,
                 temporal: TemporalConfig = _STEADY) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.runner = ModelRunner(model, provider=provider, threads=threads)
        self.batch_size = batch_size
        self.temporal = temporal

    @property
    def provider(self) -> str:
        """The onnxruntime provider that runs the model (``cpu``, ``cuda``, ``tensorrt``)."""
        return self.runner.provider

    @property
    def guided(self) -> bool:
        """Whether the model takes colour hints (``hints=`` of :meth:`colorize`)."""
        return self.runner.guided

    def colorize(self, image: np.ndarray, *, hints: Hints | np.ndarray | None = None
                 ) -> np.ndarray:
        """One picture in colour: BGR for grey input, BGR(A) for BGR(A); same dtype and size.

        ``hints`` (guided models): a :class:`~streamcolor.color.guidance.Hints`, or a BGRA
        picture of the same size in which every pixel with alpha >= 128 is a hint of its
        colour. Luma stays the picture's; only chroma follows the hints."""
        picture = _check(image)
        return self._batch([picture], stabilizer=None, hints=[_hints_for(hints, picture)])[0]

    def stream(self, frames: Iterable[np.ndarray], *,
               temporal: TemporalConfig | None = None,
               references: dict[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """Colorize the frames of one video lazily: read ``batch_size`` at a time, yield each
        result in order.

        At most one batch of inputs and outputs is held, so an endless camera loop runs in
        bounded memory. Colour is carried from frame to frame by a temporal stabilizer of its
        own (``temporal``, default: the Colorizer's), so it does not flicker; the output does
        not depend on ``batch_size``. If ``frames`` raises, the frames it gave before are
        still colorized and yielded, then its exception is raised.

        ``references`` (a guided model): frame index -> colour picture (BGR) of that frame.
        Its colour is carried forward through the shot along the motion, as hints (a stream
        is read once: to carry colour backward too, colorize a file with ``references``).
        """
        config = temporal or self.temporal
        stabilizer = Stabilizer(config) if config.enabled else None
        guide = None
        if references:
            self.runner.require_guidance()
            guide = ReferenceGuide({int(i): reference_ab(_check(p))
                                    for i, p in references.items()})
        for batch in _batches(frames, self.batch_size):
            yield from self._batch(batch, stabilizer, guide=guide)

    def _batch(self, pictures: list[np.ndarray], stabilizer: Stabilizer | None,
               hints: list[Hints | None] | None = None,
               guide: ReferenceGuide | None = None) -> list[np.ndarray]:
        parts = [split_luma(p) for p in pictures]
        specs = [picture_spec(p) for p in pictures]
        size = self.runner.input_size
        lightness = np.stack([model_input(luma, size, spec)
                              for (luma, _), spec in zip(parts, specs, strict=True)])
        hints_in = batch_at_model_size(hints, size) if hints else None
        if guide is not None:
            hints_in = guide(lightness[:, None])
        ab = self.runner.run(lightness[:, None],
                             *([hints_in[:2]] if hints_in is not None else []))
        if hints_in is not None and guide is None:  # a user's hints reach a little further
            ab = spread(ab, hints_in, lightness[:, None])
        if hints_in is not None:
            ab = honour(ab, hints_in, dense=guide is not None)
        if stabilizer is not None:  # model-resolution a*b*, before chroma is upsampled
            ab = stabilizer(lightness[:, None], ab, hints_in)
        return [compose(luma, colour, alpha, spec)
                for (luma, alpha), spec, colour in zip(parts, specs, ab, strict=True)]

"""Training data for the compact colorizer: a decoded photo cache and a batch sampler.

Photos are decoded once into a uint8 array (N, C, C, 3) of sRGB pictures, each the whole
photo squashed to C x C: the pipeline also squashes a whole frame to the model's S x S, so
the training pictures have the same aspect distortion as the pictures the model sees.
Batches are random resized crops with horizontal flips, converted to CIE Lab with OpenCV
(float sRGB 0..1 -> Lab, the same L* as ``streamcolor.color.lab`` computes from luma).
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

__all__ = ["build_cache", "load_cache", "sample_batch", "rgb_to_lab"]

SUFFIXES = (".webp", ".jpg", ".jpeg", ".png")


def _files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def build_cache(folder: str | pathlib.Path, out: str | pathlib.Path, *, size: int = 192,
                limit: int | None = None) -> pathlib.Path:
    """Decode every photo of ``folder`` to ``size``x``size`` RGB uint8 and save ``out`` (.npz)."""
    files = _files(pathlib.Path(folder))[:limit]
    pictures = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {path}")
        pictures[i] = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1]
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, pictures=pictures, names=np.array([p.name for p in files]))
    tmp.replace(out)
    return out


def load_cache(path: str | pathlib.Path) -> tuple[np.ndarray, list[str]]:
    """(pictures, names) from a cache written by :func:`build_cache`."""
    with np.load(path) as data:
        return data["pictures"], [str(n) for n in data["names"]]


def rgb_to_lab(rgb_u8: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB uint8 -> (H, W, 3) float32 CIE Lab (L* 0..100)."""
    return cv2.cvtColor(rgb_u8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _crop(picture: np.ndarray, rng: np.random.Generator, crop: int,
          min_area: float) -> np.ndarray:
    side = picture.shape[0]
    area = rng.uniform(min_area, 1.0) * side * side
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    h = int(min(side, round(np.sqrt(area / aspect))))
    w = int(min(side, round(np.sqrt(area * aspect))))
    y, x = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    patch = picture[y : y + h, x : x + w]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return cv2.resize(np.ascontiguousarray(patch), (crop, crop), interpolation=cv2.INTER_AREA)


def sample_batch(pictures: np.ndarray, rng: np.random.Generator, *, batch: int, crop: int,
                 min_area: float = 0.3, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A random batch: (L (B,1,crop,crop) in 0..100, ab (B,2,crop,crop)), float32.

    ``noise`` is the largest standard deviation (in L* units) of Gaussian noise added to
    the input, drawn per picture, so the model sees grain as old film has it.
    """
    index = rng.integers(0, len(pictures), size=batch)
    lab = np.stack([rgb_to_lab(_crop(pictures[i], rng, crop, min_area)) for i in index])
    lab = lab.transpose(0, 3, 1, 2)
    lightness = lab[:, :1].copy()
    if noise > 0:
        sigma = rng.uniform(0, noise, size=(batch, 1, 1, 1)).astype(np.float32)
        lightness += sigma * rng.standard_normal(lightness.shape, dtype=np.float32)
        np.clip(lightness, 0.0, 100.0, out=lightness)
    return np.ascontiguousarray(lightness), np.ascontiguousarray(lab[:, 1:])

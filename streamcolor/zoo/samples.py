"""Pictures for calibrating int8 models and measuring variants, prepared per contract.

Calibration uses only ``photos/train`` of the shared datasets (``../shared/datasets`` from
the repository root, or ``STREAMCOLOR_CALIBRATION_DIR``); the error of a variant is
measured on ``photos/val`` (``STREAMCOLOR_EVAL_DIR``), never on calibration pictures.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from ..contract import ModelContract

__all__ = ["calibration_dir", "evaluation_dir", "list_images", "model_inputs",
           "synthetic_inputs"]

_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
_DATASETS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "datasets" / "photos"


def calibration_dir() -> pathlib.Path:
    """Folder of calibration pictures (training split only)."""
    return pathlib.Path(os.environ.get("STREAMCOLOR_CALIBRATION_DIR") or _DATASETS / "train")


def evaluation_dir() -> pathlib.Path:
    """Folder of pictures on which variants are compared with fp32."""
    return pathlib.Path(os.environ.get("STREAMCOLOR_EVAL_DIR") or _DATASETS / "val")


def list_images(folder: str | pathlib.Path, limit: int) -> list[pathlib.Path]:
    """Up to ``limit`` pictures of ``folder``, spread evenly over its sorted listing."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)
    if len(files) <= limit:
        return files
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


def _lightness(path: pathlib.Path, size: int) -> np.ndarray:
    """CIE L* (0..100) of a picture resized to ``size`` x ``size``, float32."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    return lab[:, :, 0]


def _gray_rgb(lightness: np.ndarray) -> np.ndarray:
    """The gray sRGB picture (0..1) of a lightness plane, three equal channels."""
    y = (lightness + 16.0) / 116.0
    linear = np.where(y > 6 / 29, y ** 3, (y - 16 / 116) * 3 * (6 / 29) ** 2)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(np.maximum(linear, 0), 1 / 2.4) - 0.055)
    return np.repeat(np.clip(srgb, 0, 1)[None], 3, axis=0).astype(np.float32)


def model_inputs(paths: list[pathlib.Path], contract: ModelContract,
                 size: int | None = None) -> np.ndarray:
    """A batch (N,C,S,S) of model inputs for ``contract`` from pictures."""
    size = size or contract.input_size or 256
    planes = [_lightness(p, size) for p in paths]
    if contract.input_kind == "L":
        return np.stack(planes)[:, None].astype(np.float32)
    return np.stack([_gray_rgb(p) for p in planes])


def synthetic_inputs(count: int, contract: ModelContract, size: int | None = None,
                     seed: int = 0) -> np.ndarray:
    """Smooth random pictures (gradients and blobs) for when no dataset is at hand."""
    size = size or contract.input_size or 256
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = []
    for _ in range(count):
        f = rng.uniform(0.5, 3.0, 4)
        plane = 50 + 25 * np.sin(2 * np.pi * (f[0] * x + f[1] * y) + rng.uniform(0, 6))
        plane += 15 * np.cos(2 * np.pi * (f[2] * x - f[3] * y))
        planes.append(np.clip(plane, 0, 100).astype(np.float32))
    if contract.input_kind == "L":
        return np.stack(planes)[:, None]
    return np.stack([_gray_rgb(p) for p in planes])

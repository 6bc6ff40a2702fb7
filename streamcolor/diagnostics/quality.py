"""Colorization quality: metrics, an evaluation over a folder of colour photos, a contact sheet.

Each colour photo is made grey (its BT.601 luma, as :mod:`streamcolor.images` reads it), the
model colours it through the same colour path as images and video (luma kept, a*b* from the
model, composed by :func:`streamcolor.color.lab.chroma_planes`), and the result is compared with
the original. Two baselines go through the same path: ``gray`` (a*b* = 0, the grey picture
itself) and ``mean_color`` (one constant a*b* for every pixel: the mean a*b* of the folder's
originals, an oracle constant that no model is given).

Metrics: PSNR over the RGB channels (8-bit, capped at :data:`PSNR_CAP` dB for identical
pictures), and the colourfulness of Hasler and Süsstrunk (2003), averaged over the images.
"""

from __future__ import annotations

import math
import pathlib

import cv2
import numpy as np

from ..color.lab import PlaneSpec, chroma_planes, model_input

__all__ = ["PSNR_CAP", "psnr_rgb", "colorfulness", "split_luma", "compose", "mean_ab",
           "evaluate_folder", "contact_sheet", "format_table"]

PSNR_CAP = 100.0
_SPEC = PlaneSpec(bits=8, full_range=True, kr_kb=(0.299, 0.114))
_ROWS = ("ours", "gray", "mean_color", "original")


def psnr_rgb(result: np.ndarray, reference: np.ndarray, *, peak: float = 255.0) -> float:
    """PSNR in dB between two pictures of the same shape (all channels); capped at PSNR_CAP."""
    if result.shape != reference.shape:
        raise ValueError(f"shapes differ: {result.shape} and {reference.shape}")
    mse = float(np.mean((result.astype(np.float64) - reference.astype(np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(peak * peak / mse))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness of an (H, W, 3) RGB picture in 0..255 units.

    rg = R - G, yb = (R + G) / 2 - B; M = sqrt(σrg² + σyb²) + 0.3 sqrt(μrg² + μyb²).
    Channel order matters only through the sign of rg and yb, so BGR gives the same value.
    """
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    spread = math.sqrt(rg.var() + yb.var())
    centre = math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return spread + 0.3 * centre


def split_luma(bgr: np.ndarray) -> np.ndarray:
    """The luma plane (BT.601, full range) of an 8-bit BGR picture."""
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0])


def compose(luma: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """8-bit BGR picture from a luma plane and (2, s, s) a*b*, as still images are composed."""
    cb, cr = chroma_planes(luma, np.asarray(ab, dtype=np.float32), luma.shape, _SPEC)
    return cv2.cvtColor(cv2.merge([luma, cr, cb]), cv2.COLOR_YCrCb2BGR)


def _find(folder: pathlib.Path, limit: int | None) -> list[pathlib.Path]:
    from ..images import find_images

    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    paths = list(find_images(folder))[:limit]
    if not paths:
        raise ValueError(f"no images under {folder}")
    return paths


def _read(path: pathlib.Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return bgr


def mean_ab(paths: list[pathlib.Path]) -> np.ndarray:
    """The mean a*b* of the pictures (each weighted equally), as a (2,) float32 array."""
    total = np.zeros(2)
    for path in paths:
        small = cv2.resize(_read(path), (64, 64), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
        total += lab[..., 1:].reshape(-1, 2).mean(0)
    return (total / len(paths)).astype(np.float32)


def _score(rows: dict, name: str, picture: np.ndarray, original: np.ndarray) -> None:
    rows[name]["psnr"].append(psnr_rgb(picture, original))
    rows[name]["colorfulness"].append(colorfulness(picture))


def evaluate_folder(folder, runner, limit: int | None = None, *, batch_size: int = 8,
                    sheet: str | pathlib.Path | None = None, sheet_count: int = 12) -> dict:
    """Grey, colorize and score every image under ``folder`` (the first ``limit`` of them).

    ``runner`` is a :class:`streamcolor.runtime.ModelRunner` (or anything with ``run`` and
    ``input_size``). Returns a JSON-ready dict: per row (ours, gray, mean_color, original)
    the mean PSNR (dB) and colourfulness, plus ``colorfulness_ratio`` (ours / originals) and
    ``psnr_minus_gray`` (dB). With ``sheet`` a contact sheet of the first ``sheet_count``
    images is written there (gray | ours | original).
    """
    paths = _find(pathlib.Path(folder), limit)
    constant = mean_ab(paths)
    rows = {name: {"psnr": [], "colorfulness": []} for name in _ROWS}
    triples = []
    size = runner.input_size
    for start in range(0, len(paths), batch_size):
        originals = [_read(p) for p in paths[start : start + batch_size]]
        lumas = [split_luma(p) for p in originals]
        batch = np.stack([model_input(luma, size, _SPEC) for luma in lumas])[:, None]
        predicted = runner.run(batch)
        for original, luma, ab in zip(originals, lumas, predicted, strict=True):
            ours = compose(luma, ab)
            gray = cv2.cvtColor(luma, cv2.COLOR_GRAY2BGR)
            flat = compose(luma, np.broadcast_to(constant[:, None, None], (2, 8, 8)))
            _score(rows, "ours", ours, original)
            _score(rows, "gray", gray, original)
            _score(rows, "mean_color", flat, original)
            _score(rows, "original", original, original)
            if len(triples) < sheet_count:
                triples.append((gray, ours, original))
    table = {name: {k: float(np.mean(v)) for k, v in metrics.items()}
             for name, metrics in rows.items()}
    table["original"]["psnr"] = None
    result = {
        "folder": str(folder), "images": len(paths), "model": str(getattr(runner, "path", "")),
        "input_size": int(size), "mean_ab": [float(x) for x in constant], "rows": table,
        "colorfulness_ratio": table["ours"]["colorfulness"] / table["original"]["colorfulness"],
        "psnr_minus_gray": table["ours"]["psnr"] - table["gray"]["psnr"],
    }
    if sheet:
        result["sheet"] = str(contact_sheet(triples, sheet))
    return result


def contact_sheet(triples, path: str | pathlib.Path, *, height: int = 160) -> pathlib.Path:
    """Write a PNG with one row per (gray, ours, original) BGR triple, each ``height`` high."""
    if not triples:
        raise ValueError("no pictures for the contact sheet")
    rows = []
    for triple in triples:
        scaled = [cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height),
                             interpolation=cv2.INTER_AREA) for p in triple]
        gap = np.full((height, 4, 3), 255, np.uint8)
        rows.append(np.hstack([scaled[0], gap, scaled[1], gap, scaled[2]]))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
              for r in rows]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.vstack(padded)):
        raise OSError(f"cannot write {path}")
    return path


def format_table(result: dict) -> str:
    """The evaluation as a plain-text table."""
    labels = {"ours": "ours", "gray": "gray (no color)", "mean_color": "constant mean color",
              "original": "originals"}
    lines = [f"{result['images']} images from {result['folder']}, model {result['model']} "
             f"at {result['input_size']}",
             f"{'':22} {'PSNR RGB (dB)':>14} {'colorfulness':>13}"]
    for name in _ROWS:
        row = result["rows"][name]
        psnr = "-" if row["psnr"] is None else f"{row['psnr']:.2f}"
        lines.append(f"{labels[name]:22} {psnr:>14} {row['colorfulness']:>13.1f}")
    lines.append(f"colorfulness ours/originals: {100 * result['colorfulness_ratio']:.0f}%   "
                 f"PSNR ours - gray: {result['psnr_minus_gray']:+.2f} dB")
    return "\n".join(lines)

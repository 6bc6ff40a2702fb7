"""Guided colorization on photos: quality against the number of colour hints.

    python benchmarks/guided.py [--folder ../shared/datasets/photos/val] [--model M]
                                [--baseline M] [--hints 0,1,5,10,50,200] [--limit N]
                                [--json PATH] [--plot docs/guided_hints.png]

Each colour photo is made grey (its BT.601 luma) and colorized through the still-image colour
path with N ground-truth hints: N places drawn uniformly (seeded per photo), each a 5x5 patch
filled with the original's mean a*b* there, as a user would click colours they know (the
model takes them, and their own colour wins at the hinted places, as ``streamcolor image``
does). For each
N: mean PSNR (RGB) against the originals and the Hasler-Suesstrunk colourfulness, beside the
baseline model (no hints: the bundled automatic colorizer of the time) and the grey picture.
Also the worst photo's PSNR gain at 10 hints, so a mean cannot hide a photo that hints hurt.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics

import cv2
import numpy as np
from _machine import cpu_model

from streamcolor.color.guidance import Hints, batch_at_model_size, honour, spread
from streamcolor.color.lab import model_input
from streamcolor.diagnostics.quality import _SPEC, colorfulness, compose, psnr_rgb, split_luma
from streamcolor.images import find_images
from streamcolor.runtime import ModelRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]
PATCH = 5


def true_hints(original: np.ndarray, count: int, seed: int) -> Hints:
    """``count`` 5x5 patches of the original's mean a*b*, at seeded uniform places."""
    height, width = original.shape[:2]
    lab = cv2.cvtColor(original.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    hints = Hints.empty(height, width)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        y, x = rng.integers(0, height - PATCH + 1), rng.integers(0, width - PATCH + 1)
        patch = (slice(y, y + PATCH), slice(x, x + PATCH))
        hints.ab[:, patch[0], patch[1]] = lab[patch][..., 1:].reshape(-1, 2).mean(0)[:, None, None]
        hints.mask[patch] = True
    return hints


def score(runner: ModelRunner, originals: list[np.ndarray], count: int | None) -> list[tuple]:
    """(PSNR, colourfulness) of each photo with ``count`` hints (None: a model without any)."""
    size = runner.input_size
    lumas = [split_luma(p) for p in originals]
    lightness = np.stack([model_input(luma, size, _SPEC) for luma in lumas])[:, None]
    hints = None
    if count is not None:
        hints = batch_at_model_size([true_hints(p, count, seed=i)
                                     for i, p in enumerate(originals)], size)
    ab = runner.run(lightness, hints if count else None)
    if count:
        ab = honour(spread(ab, hints, lightness), hints)  # as the photo path does
    results = []
    for original, luma, colour in zip(originals, lumas, ab, strict=True):
        picture = compose(luma, colour)
        results.append((psnr_rgb(picture, original), colorfulness(picture)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=pathlib.Path,
                        default=ROOT.parent / "shared/datasets/photos/val")
    parser.add_argument("--model", default=str(ROOT / "streamcolor/weights/"
                                               "streamcolor-compact.onnx"))
    parser.add_argument("--baseline", help="an automatic model to compare with (no hints)")
    parser.add_argument("--hints", default="0,1,5,10,50,200")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--plot", type=pathlib.Path)
    args = parser.parse_args()
    paths = list(find_images(args.folder))[: args.limit]
    originals = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]
    runner = ModelRunner(args.model, provider="cpu", precision="fp32")
    runner.require_guidance()
    counts = [int(c) for c in args.hints.split(",")]
    rows = {}
    for count in counts:
        got = score(runner, originals, count)
        rows[str(count)] = got
    gray = [(psnr_rgb(cv2.cvtColor(split_luma(p), cv2.COLOR_GRAY2BGR), p), 0.0)
            for p in originals]
    table = {name: {"psnr": statistics.mean(r[0] for r in got),
                    "colorfulness": statistics.mean(r[1] for r in got)}
             for name, got in [*rows.items(), ("gray", gray)]}
    if args.baseline:
        base = ModelRunner(args.baseline, provider="cpu", precision="fp32")
        got = score(base, originals, None)
        table["baseline"] = {"psnr": statistics.mean(r[0] for r in got),
                             "colorfulness": statistics.mean(r[1] for r in got)}
    table["originals"] = {"psnr": None,
                          "colorfulness": statistics.mean(colorfulness(p) for p in originals)}
    gains = {}
    if "0" in rows:
        for count in counts[1:]:
            diff = [a[0] - b[0] for a, b in zip(rows[str(count)], rows["0"], strict=True)]
            gains[str(count)] = {"mean_db": statistics.mean(diff), "worst_db": min(diff)}
    report = {"cpu": cpu_model(), "photos": len(paths), "folder": str(args.folder),
              "model": args.model, "baseline": args.baseline, "rows": table,
              "gain_over_no_hints": gains}
    print(f"{len(paths)} photos from {args.folder}; {cpu_model()}")
    print(f"{'':12} {'PSNR (dB)':>10} {'colourfulness':>14} {'gain vs 0 (mean / worst)':>26}")
    for name, row in table.items():
        psnr = "-" if row["psnr"] is None else f"{row['psnr']:.2f}"
        gain = gains.get(name)
        extra = f"{gain['mean_db']:+.2f} / {gain['worst_db']:+.2f}" if gain else ""
        label = f"{name} hints" if name.isdigit() else name
        print(f"{label:12} {psnr:>10} {row['colorfulness']:>14.1f} {extra:>26}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(table, counts, args.plot)
    return 0


def plot(table: dict, counts: list[int], path: pathlib.Path) -> None:
    """PSNR against hints (log axis, 0 drawn at 0.5) with the baseline and grey as lines;
    drawn with OpenCV like ``streamcolor bench --plot``."""
    width, height, pad = 640, 360, 60
    canvas = np.full((height, width, 3), 255, np.uint8)
    values = [table[str(c)]["psnr"] for c in counts]
    lines = {k: table[k]["psnr"] for k in ("baseline", "gray") if k in table}
    low = min(values + list(lines.values())) - 0.5
    high = max(values + list(lines.values())) + 0.5
    xs = np.log10([max(c, 0.5) for c in counts])

    def at(x: float, y: float) -> tuple[int, int]:
        u = pad + (x - xs.min()) / max(1e-9, xs.max() - xs.min()) * (width - 2 * pad)
        return int(u), int(height - pad - (y - low) / (high - low) * (height - 2 * pad))

    for name, colour in (("baseline", (0, 140, 255)), ("gray", (128, 128, 128))):
        if name in lines:
            cv2.line(canvas, at(xs.min(), lines[name]), at(xs.max(), lines[name]), colour, 1)
            cv2.putText(canvas, name, at(xs.min(), lines[name] + 0.15), 0, 0.45, colour, 1)
    points = [at(x, y) for x, y in zip(xs, values, strict=True)]
    for a, b in zip(points, points[1:], strict=False):
        cv2.line(canvas, a, b, (200, 80, 0), 2)
    for (u, v), count, value in zip(points, counts, values, strict=True):
        cv2.circle(canvas, (u, v), 4, (200, 80, 0), -1)
        cv2.putText(canvas, f"{count}: {value:.1f}", (u - 20, v - 10), 0, 0.45, (0, 0, 0), 1)
    cv2.putText(canvas, "PSNR (dB) against ground-truth hints per photo (log scale)",
                (pad, 30), 0, 0.5, (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas)

if __name__ == "__main__":
    raise SystemExit(main())

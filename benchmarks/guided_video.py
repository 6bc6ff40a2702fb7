"""Reference frames on real clips: the true colour of frame 0 as the reference, against the
automatic colorization, frame by frame.

    python benchmarks/guided_video.py --model GUIDED.onnx [--datasets ../shared/datasets]
                                      [--max-frames 80] [--json PATH] [--plot PATH]

Every clip of ``video/seq/*`` (frame sequences) and ``video/clips/*`` (files) is made grey
(lossless FFV1, the source's own luma, as ``benchmarks/temporal.py`` does) and colorized into
lossless FFV1 twice with the defaults (stabilizer on): automatic, and with the original's
frame 0 as ``--reference``. Per clip: mean PSNR (RGB) over the first ``--max-frames`` frames,
PSNR per frame against the distance from the reference, flicker (the warping error of
chroma, ``benchmarks/temporal.py``'s measure) and colourfulness against the originals'.
Overall figures are means over clips with the worst clip beside them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile

import cv2
import numpy as np
from _machine import cpu_model
from temporal import (
    _LOSSLESS,
    _source_frames,
    colorfulness,
    flicker_per_frame,
    read_rgb,
    tracked_flows,
    write_grey,
)

from streamcolor import ModelConfig, colorize_file


def clips(datasets: pathlib.Path) -> list[pathlib.Path]:
    """The shared clips: ``video/seq/*`` frame sequences, then ``video/clips/*`` files."""
    return sorted((datasets / "video/seq").glob("*")) + sorted(
        (datasets / "video/clips").glob("*.*"))


def _psnr_per_frame(rgb: list[np.ndarray], truth: list[np.ndarray]) -> list[float]:
    return [float(10 * np.log10(255.0**2 / max(np.mean(
        (a.astype(np.float64) - b.astype(np.float64)) ** 2), 1e-10)))
        for a, b in zip(rgb, truth, strict=True)]


def measure(name: str, truth: list[np.ndarray], work: pathlib.Path, model: str) -> dict:
    grey = work / f"{name}_grey.mkv"
    write_grey(truth, grey)
    flows = tracked_flows(truth)
    row = {"frames": len(truth), "colorfulness_originals": colorfulness(truth)}
    for mode, references in (("automatic", None),
                             ("reference", {0: cv2.cvtColor(truth[0], cv2.COLOR_RGB2BGR)})):
        out = work / f"{name}_{mode}.mkv"
        colorize_file(grey, out, model=ModelConfig(model=model, provider="cpu"),
                      encode=_LOSSLESS, references=references)
        rgb = read_rgb(out)
        per_frame = _psnr_per_frame(rgb, truth)
        row[mode] = {"psnr": statistics.mean(per_frame), "psnr_per_frame": per_frame,
                     "flicker": float(np.nanmean(flicker_per_frame(rgb, flows))),
                     "colorfulness": colorfulness(rgb)}
    return row


def summary(rows: dict) -> dict:
    gains = {n: r["reference"]["psnr"] - r["automatic"]["psnr"] for n, r in rows.items()}
    flicker = {n: r["reference"]["flicker"] / r["automatic"]["flicker"] for n, r in rows.items()}
    colour = {n: r["reference"]["colorfulness"] / r["colorfulness_originals"]
              for n, r in rows.items()}
    worst = min(gains, key=gains.get)
    return {"clips": len(rows), "psnr_gain_mean_db": statistics.mean(gains.values()),
            "psnr_gain_worst_db": gains[worst], "worst_clip": worst,
            "flicker_reference_over_automatic_mean": statistics.mean(flicker.values()),
            "flicker_reference_over_automatic_worst": max(flicker.values()),
            "colorfulness_over_originals_mean": statistics.mean(colour.values()),
            "colorfulness_over_originals_worst": min(colour.values())}


def plot(rows: dict, path: pathlib.Path) -> None:
    """Mean PSNR against frames from the reference, reference vs automatic (OpenCV)."""
    length = min(len(r["reference"]["psnr_per_frame"]) for r in rows.values())
    curves = {mode: [statistics.mean(r[mode]["psnr_per_frame"][t] for r in rows.values())
                     for t in range(length)] for mode in ("automatic", "reference")}
    width, height, pad = 640, 360, 50
    canvas = np.full((height, width, 3), 255, np.uint8)
    low = min(min(c) for c in curves.values()) - 1
    high = max(max(c) for c in curves.values()) + 1
    for (mode, curve), colour in zip(curves.items(), ((128, 128, 128), (200, 80, 0)),
                                     strict=True):
        points = [(int(pad + t / max(1, length - 1) * (width - 2 * pad)),
                   int(height - pad - (v - low) / (high - low) * (height - 2 * pad)))
                  for t, v in enumerate(curve)]
        cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, 2)
        cv2.putText(canvas, mode, (points[-1][0] - 80, points[-1][1] - 8), 0, 0.5, colour, 1)
    cv2.putText(canvas, f"PSNR (dB, {low:.0f}..{high:.0f}) by frames from the reference "
                f"({len(rows)} clips)", (pad, 30), 0, 0.5, (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a guided model (ONNX)")
    parser.add_argument("--datasets", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parents[2] / "shared/datasets")
    parser.add_argument("--max-frames", type=int, default=80)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--plot", type=pathlib.Path)
    args = parser.parse_args()
    items = clips(args.datasets)
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        for item in items:
            truth = _source_frames(item, args.max_frames)
            if len(truth) < 2:
                continue
            rows[item.stem] = measure(item.stem, truth, pathlib.Path(scratch), args.model)
            r = rows[item.stem]
            print(f"{item.stem:40} automatic {r['automatic']['psnr']:6.2f} dB  reference "
                  f"{r['reference']['psnr']:6.2f} dB  flicker {r['automatic']['flicker']:.2f}"
                  f" -> {r['reference']['flicker']:.2f}", file=sys.stderr, flush=True)
    report = {"cpu": cpu_model(), "model": args.model, "max_frames": args.max_frames,
              "summary": summary(rows), "clips": rows}
    print(json.dumps(report["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

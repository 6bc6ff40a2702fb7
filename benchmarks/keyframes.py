"""Keyframes from a stronger model (``--keyframe-model``) carried by the guided model, against
running the strong model on every frame, on real clips.

    python benchmarks/keyframes.py --model GUIDED.onnx --strong STRONG.onnx
                                   [--keyframe-seconds 1] [--max-frames 80] [--json PATH]

Every clip of ``video/seq/*`` and ``video/clips/*`` is made grey (lossless FFV1, as
``benchmarks/temporal.py`` does) and colorized into lossless FFV1 three ways, stabilizer on:

- ``strong``: the strong model on every frame;
- ``keyframes``: the guided model, with the strong model colouring the first frame and one
  every ``--keyframe-seconds`` (clips are 25 fps here), carried through the shot;
- ``automatic``: the guided model alone.

Per clip and way: mean PSNR (RGB) against the colour original, flicker (the warping error of
chroma, ``benchmarks/temporal.py``'s measure), colourfulness, and frames per second of the
whole call (decode, models, carrying, encode). Overall: means over clips, with the worst clip
of each ratio beside them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np
from _machine import cpu_model
from guided_video import _psnr_per_frame, clips
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

WAYS = ("strong", "keyframes", "automatic")


def measure(name: str, truth: list[np.ndarray], work: pathlib.Path, model: str, strong: str,
            seconds: float) -> dict:
    grey = work / f"{name}_grey.mkv"
    write_grey(truth, grey)
    flows = tracked_flows(truth)
    row: dict = {"frames": len(truth)}
    for way in WAYS:
        out = work / f"{name}_{way}.mkv"
        started = time.perf_counter()
        colorize_file(grey, out, model=ModelConfig(model=strong if way == "strong" else model,
                                                   provider="cpu"),
                      encode=_LOSSLESS, keyframe_model=strong if way == "keyframes" else None,
                      keyframe_seconds=seconds)
        elapsed = time.perf_counter() - started
        rgb = read_rgb(out)
        row[way] = {"psnr": statistics.mean(_psnr_per_frame(rgb, truth)),
                    "flicker": float(np.nanmean(flicker_per_frame(rgb, flows))),
                    "colorfulness": colorfulness(rgb), "fps": len(truth) / elapsed}
    return row


def summary(rows: dict) -> dict:
    out: dict = {"clips": len(rows)}
    for way in ("keyframes", "automatic"):
        gap = {n: r[way]["psnr"] - r["strong"]["psnr"] for n, r in rows.items()}
        speed = {n: r[way]["fps"] / r["strong"]["fps"] for n, r in rows.items()}
        flicker = {n: r[way]["flicker"] / r["strong"]["flicker"] for n, r in rows.items()}
        worst = min(gap, key=gap.get)
        out[way] = {"psnr_vs_strong_mean_db": statistics.mean(gap.values()),
                    "psnr_vs_strong_worst_db": gap[worst], "worst_clip": worst,
                    "fps_vs_strong_median": statistics.median(speed.values()),
                    "flicker_vs_strong_mean": statistics.mean(flicker.values()),
                    "flicker_vs_strong_worst": max(flicker.values())}
    out["fps_median"] = {way: statistics.median(r[way]["fps"] for r in rows.values())
                         for way in WAYS}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the guided model that carries (ONNX)")
    parser.add_argument("--strong", required=True, help="the keyframe model (name or ONNX)")
    parser.add_argument("--keyframe-seconds", type=float, default=1.0)
    parser.add_argument("--datasets", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parents[2] / "shared/datasets")
    parser.add_argument("--max-frames", type=int, default=80)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    items = clips(args.datasets)
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        for item in items:
            truth = _source_frames(item, args.max_frames)
            if len(truth) < 2:
                continue
            rows[item.stem] = r = measure(item.stem, truth, pathlib.Path(scratch), args.model,
                                          args.strong, args.keyframe_seconds)
            print(f"{item.stem:40} " + "  ".join(
                f"{way} {r[way]['psnr']:6.2f} dB {r[way]['fps']:5.1f} fps" for way in WAYS),
                file=sys.stderr, flush=True)
    report = {"cpu": cpu_model(), "model": args.model, "strong": args.strong,
              "keyframe_seconds": args.keyframe_seconds, "max_frames": args.max_frames,
              "summary": summary(rows), "clips": rows}
    print(json.dumps(report["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

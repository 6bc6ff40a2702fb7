"""Speed of a model on this machine's CPU: model-only and end to end on a 720p clip.

    python benchmarks/compact_speed.py [--model PATH.onnx] [--threads 0] [--repeats 5]
                                       [--frames 150] [--json PATH]

Model-only: onnxruntime on the CPU provider, frames per second at batch 1 and batch 8 at
the model's native input size (median over --repeats timed runs of 4 batches each, after
a warm-up). End to end: ``streamcolor.colorize_file`` of a generated 1280x720 H.264 clip
(decode, colour math, inference, libx264 encode) in frames per second, median of
--repeats runs. --model defaults to the shipped compact model.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

import numpy as np

from streamcolor import EncodeConfig, ModelConfig, colorize_file
from streamcolor.runtime import ModelRunner
from streamcolor.testing import ClipSpec, make_clip

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "streamcolor" / "weights" / "streamcolor-compact.onnx"


def model_fps(model: str, batch: int, repeats: int, threads: int) -> float:
    """Median frames per second of ``runner.run`` at ``batch``."""
    runner = ModelRunner(model, provider="cpu", threads=threads)
    size = runner.input_size
    feed = np.random.default_rng(0).uniform(0, 100, (batch, 1, size, size)).astype(np.float32)
    runner.run(feed)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(4):
            runner.run(feed)
        rates.append(4 * batch / (time.perf_counter() - started))
    return statistics.median(rates)


def end_to_end_fps(model: str, frames: int, repeats: int, tmp: pathlib.Path) -> float:
    """Median frames per second of ``colorize_file`` on a generated 720p clip."""
    clip = make_clip(tmp / "clip720.mkv", ClipSpec(width=1280, height=720, frames=frames,
                                                   codec="libx264"))
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        summary = colorize_file(clip, tmp / "out.mkv", model=ModelConfig(model=model),
                                encode=EncodeConfig())
        rates.append(summary.frames / (time.perf_counter() - started))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = {"model": args.model, "cpus": os.cpu_count(), "machine": platform.processor()
              or platform.machine(), "model_only_fps": {}}
    for batch in (1, 8):
        result["model_only_fps"][str(batch)] = model_fps(args.model, batch, args.repeats,
                                                         args.threads)
    if not args.skip_end_to_end:
        with tempfile.TemporaryDirectory() as tmp:
            result["end_to_end_720p_fps"] = end_to_end_fps(
                args.model, args.frames, max(1, args.repeats // 2), pathlib.Path(tmp))
    print(f"model {args.model} on {result['cpus']} CPUs")
    print(f"{'measure':34} {'frames/s':>9}")
    for batch, fps in result["model_only_fps"].items():
        print(f"{'model only, batch ' + batch:34} {fps:9.1f}")
    if "end_to_end_720p_fps" in result:
        print(f"{'colorize_file 1280x720 H.264':34} {result['end_to_end_720p_fps']:9.1f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

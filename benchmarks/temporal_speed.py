"""What the temporal stabilizer costs end to end: ``colorize_file`` with it on and off.

    python benchmarks/temporal_speed.py [--resolution 720p] [--frames 150] [--repeats 3]
                                        [--model NAME|PATH] [--json PATH]

Runs alternate on and off in one process (so both see the same machine load) and the
ratio of their median fps is reported; the target is on >= 0.9x off at 720p. The stabilizer's
own time per frame is measured separately on the same frames.
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

from streamcolor import ModelConfig, TemporalConfig, colorize_file
from streamcolor.color.temporal import Stabilizer
from streamcolor.config import EncodeConfig
from streamcolor.testing import ClipSpec, make_clip

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


def _fps(clip: pathlib.Path, out: pathlib.Path, model: str | None, on: bool) -> float:
    summary = colorize_file(clip, out, model=ModelConfig(model=model), encode=EncodeConfig(),
                            temporal=TemporalConfig(enabled=on))
    return summary.frames / summary.seconds


def _stabilizer_ms(frames: int) -> float:
    """Milliseconds per frame of the stabilizer alone, on a moving 224x224 picture."""
    rng = np.random.default_rng(0)
    texture = rng.random((64, 64 + frames)).astype(np.float32)
    import cv2

    pictures = [cv2.resize(texture[:, i : i + 64], (224, 224)) * 100 for i in range(frames)]
    lightness = np.stack(pictures)[:, None]
    ab = rng.normal(0, 10, (frames, 2, 56, 56)).astype(np.float32)
    stabilizer = Stabilizer(TemporalConfig())
    started = time.perf_counter()
    stabilizer(lightness, ab)
    return (time.perf_counter() - started) / frames * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", choices=sorted(SIZES), default="720p")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    width, height = SIZES[args.resolution]
    fps: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        clip = make_clip(work / "in.mp4", ClipSpec(width=width, height=height,
                                                   frames=args.frames))
        _fps(clip, work / "warm.mp4", args.model, True)  # load caches once
        for _ in range(args.repeats):
            for mode in ("off", "on"):
                fps[mode].append(_fps(clip, work / f"{mode}.mp4", args.model, mode == "on"))
    result = {mode: statistics.median(v) for mode, v in fps.items()}
    result.update(ratio=result["on"] / result["off"], runs=fps, cpu=cpu_model(),
                  stabilizer_ms_per_frame=_stabilizer_ms(100), resolution=args.resolution)
    print(f"CPU: {result['cpu']}; {args.resolution}, {args.frames} frames, median of "
          f"{args.repeats}")
    print("| --temporal | end-to-end fps |\n|---|---:|")
    print(f"| off | {result['off']:.1f} |\n| on | {result['on']:.1f} |")
    print(f"on / off: {result['ratio']:.3f} (target >= 0.9); stabilizer alone: "
          f"{result['stabilizer_ms_per_frame']:.2f} ms a frame")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

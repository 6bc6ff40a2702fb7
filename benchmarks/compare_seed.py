"""streamcolor against the seed's frame-by-frame loop, same model and clip, side by side.

    python benchmarks/compare_seed.py [--model eccv16] [--resolutions 720p,1080p]
                                      [--frames 24] [--repeats 3] [--batch-size 8]

Without --model it builds ECCV16 with random weights (speed does not depend on the weights).
Per resolution, medians of --repeats runs, interleaved: seed fps, streamcolor end-to-end fps,
streamcolor model-only fps, and the ratios the targets are about (e2e/seed, e2e/model-only).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile

from seed_baseline import seed_colorize

from streamcolor import EncodeConfig, ModelConfig, ModelRunner, colorize_file
from streamcolor.diagnostics.bench import RESOLUTIONS, model_only_fps
from streamcolor.testing import ClipSpec, make_clip


def _eccv16(tmp: pathlib.Path) -> pathlib.Path:
    from streamcolor.zoo.architectures import random_state_dict
    from streamcolor.zoo.export import export_onnx

    path = tmp / "eccv16_random.onnx"
    export_onnx("eccv16", random_state_dict("eccv16", seed=0), path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--resolutions", default="720p,1080p")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        model = args.model or str(_eccv16(tmp))
        config = ModelConfig(model=model, provider="cpu", batch_size=args.batch_size)
        model_fps = model_only_fps(ModelRunner(model, provider="cpu"), args.batch_size,
                                   seconds=6.0)
        print(f"model {pathlib.Path(model).name}, batch {args.batch_size}, {args.frames} frames, "
              f"median of {args.repeats}; model-only {model_fps:.2f} fps")
        print(f"{'res':>6} {'seed fps':>9} {'e2e fps':>8} {'e2e/seed':>9} {'e2e/model':>10}")
        for res in args.resolutions.split(","):
            width, height = RESOLUTIONS[res]
            clip = make_clip(tmp / f"{res}.mp4", ClipSpec(width=width, height=height,
                                                           frames=args.frames))
            seed, ours = [], []
            for _ in range(args.repeats):
                frames, seconds = seed_colorize(str(clip), str(tmp / "seed.mp4"), model)
                seed.append(frames / seconds)
                ours.append(colorize_file(clip, tmp / "ours.mp4", model=config,
                                          encode=EncodeConfig()).fps)
            row = {"seed_fps": statistics.median(seed), "e2e_fps": statistics.median(ours),
                   "model_fps": model_fps}
            row["e2e_vs_seed"] = row["e2e_fps"] / row["seed_fps"]
            row["e2e_vs_model"] = row["e2e_fps"] / model_fps
            results[res] = row
            print(f"{res:>6} {row['seed_fps']:9.2f} {row['e2e_fps']:8.2f} "
                  f"{row['e2e_vs_seed']:9.2f} {row['e2e_vs_model']:10.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What guidance costs: model-only fps of a guided model beside an automatic one, and end-to-end
fps at 720p without references, with one at frame 0, and with one in the middle of the clip.

    python benchmarks/guided_speed.py --model GUIDED.onnx [--baseline AUTO.onnx]
                                      [--frames 150] [--repeats 3] [--json PATH]

Model-only: onnxruntime on the CPU at batch 8 and the model's input size, fp32 for both, the
guided model with no hints (as every automatic path runs it). End to end: ``colorize_file``
of a generated 1280x720 H.264 clip (a pan over a texture, so the flow has work to do) with
the defaults (stabilizer on, libx264). The runs are interleaved, ``--repeats`` rounds, and
each figure is the median; the ratios compare figures of the same round.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time

import av
import cv2
import numpy as np
from _machine import cpu_model

from streamcolor import EncodeConfig, ModelConfig, colorize_file
from streamcolor.runtime import ModelRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_pan(path: pathlib.Path, frames: int) -> pathlib.Path:
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (720, 1280 + 4 * frames)).astype(np.float32),
                               (0, 0), 4)
    texture = cv2.normalize(texture, None, 20, 230, cv2.NORM_MINMAX).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(frames):
            grey = np.ascontiguousarray(texture[:, 4 * i : 4 * i + 1280])
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR),
                                               format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def model_fps(model: str, batch: int = 8, runs: int = 6) -> float:
    runner = ModelRunner(model, provider="cpu", precision="fp32")
    size = runner.input_size
    feed = np.random.default_rng(0).uniform(0, 100, (batch, 1, size, size)).astype(np.float32)
    runner.run(feed)
    started = time.perf_counter()
    for _ in range(runs):
        runner.run(feed)
    return runs * batch / (time.perf_counter() - started)


def end_to_end(clip: pathlib.Path, model: str, references) -> float:
    """Frames per wall-clock second of the whole call: model loading and a first pass over
    the frames before a reference included."""
    with tempfile.TemporaryDirectory() as scratch:
        out = pathlib.Path(scratch) / "out.mkv"
        started = time.perf_counter()
        summary = colorize_file(clip, out, model=ModelConfig(model=model, provider="cpu"),
                                encode=EncodeConfig(), references=references)
        return summary.frames / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a guided model (ONNX)")
    parser.add_argument("--baseline", default=str(ROOT / "streamcolor/weights/"
                                                  "streamcolor-compact.onnx"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        clip = make_pan(pathlib.Path(scratch) / "pan720.mp4", args.frames)
        with av.open(str(clip)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="bgr24")
            container.seek(0)
        reference = first.copy()
        reference[..., 2] = np.clip(reference[..., 2].astype(int) + 60, 0, 255)
        cases = {"automatic": None, "reference_at_0": {0: reference},
                 "reference_in_the_middle": {args.frames // 2: reference}}
        rows = {name: [] for name in ("model_fps_baseline", "model_fps_guided", *cases)}
        for _ in range(args.repeats):
            rows["model_fps_baseline"].append(model_fps(args.baseline))
            rows["model_fps_guided"].append(model_fps(args.model))
            for name, references in cases.items():
                rows[name].append(end_to_end(clip, args.model, references))
    median = {name: statistics.median(values) for name, values in rows.items()}
    ratios = {
        "guided_over_baseline_model_only": statistics.median(
            g / b for g, b in zip(rows["model_fps_guided"], rows["model_fps_baseline"],
                                  strict=True)),
        **{f"{name}_over_automatic": statistics.median(
            c / a for c, a in zip(rows[name], rows["automatic"], strict=True))
           for name in ("reference_at_0", "reference_in_the_middle")}}
    report = {"cpu": cpu_model(), "frames": args.frames, "repeats": args.repeats,
              "fps_median": median, "ratios_median": ratios, "runs": rows}
    print(json.dumps({"cpu": report["cpu"], "fps_median": median, "ratios_median": ratios},
                     indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

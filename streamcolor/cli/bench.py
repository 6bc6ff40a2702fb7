"""``streamcolor bench``: the table, the JSON and the plot of
:mod:`streamcolor.diagnostics.bench`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import tempfile

import cv2
import numpy as np

from ..config import ModelConfig
from ..diagnostics.bench import RESOLUTIONS, Cell, run_bench

__all__ = ["add_bench_parser", "run_bench_command"]

_STAGES = ("decode", "preprocess", "inference", "postprocess", "encode", "mux")
_COLOURS = [(66, 133, 244), (52, 168, 83), (234, 67, 53), (251, 188, 5), (171, 71, 188),
            (0, 172, 193)]


def add_bench_parser(commands) -> None:
    """Add ``bench`` to the subcommands."""
    bench = commands.add_parser("bench", help="measure throughput and where the time goes",
                                description="End-to-end, model-only and encode-only fps per "
                                "resolution and batch size, the limit 1 / (t_encode + t_model) "
                                "and the share of it reached, stage time shares, queues, CPU, "
                                "memory, GPU.")
    bench.add_argument("input", nargs="?", help="a clip to use (default: synthetic clips)")
    bench.add_argument("--model", help="ONNX file or registry name")
    bench.add_argument("--provider", default="auto", choices=("auto", "tensorrt", "cuda", "cpu"))
    bench.add_argument("--batch-sizes", default="1,4,8,16", help="default: 1,4,8,16")
    bench.add_argument("--resolutions", default="480p,720p,1080p",
                       help=f"from {','.join(RESOLUTIONS)} (default: 480p,720p,1080p)")
    bench.add_argument("--frames", type=int, default=96, help="frames per synthetic clip")
    bench.add_argument("--json", type=pathlib.Path, help="write the results as JSON")
    bench.add_argument("--plot", type=pathlib.Path, help="write a PNG: fps and stage shares")


def _row(cell: Cell) -> str:
    shares = " ".join(f"{100 * cell.stage_share.get(s, 0):4.0f}" for s in _STAGES)
    queues = " ".join(f"{100 * q:3.0f}" for q in cell.queue_occupancy)
    gpu = (f"{cell.gpu_memory_mib:6.0f} {cell.gpu_utilization:4.0f}"
           if cell.gpu_memory_mib is not None else "     -    -")
    return (f"{cell.resolution:>7} {cell.batch_size:>5} {cell.e2e_fps:8.1f} {cell.model_fps:8.1f} "
            f"{100 * cell.e2e_vs_model:6.0f}% {cell.encode_fps:7.1f} {cell.limit_fps:7.1f} "
            f"{cell.e2e_vs_limit:7.2f} | {shares} | {queues} | {cell.cpu_percent:5.0f} "
            f"{cell.peak_rss_mib:6.0f} {gpu}")


HEADER = (f"{'res':>7} {'batch':>5} {'e2e fps':>8} {'model':>8} {'e2e/m':>7} {'encode':>7} "
          f"{'limit':>7} {'e2e/lim':>7} | "
          "dec  pre  inf post  enc  mux | q0  q1  q2  q3 |  cpu%  rss MiB gpuMiB util%")
LEGEND = ("model: the model alone, on every core; encode: the same encoder alone on the "
          "colorized frames; limit: 1 / (t_encode + t_model), encode and model done back to "
          "back; e2e/lim: how close the run came to it")


def _text(img, s: str, xy, scale: float = 0.45) -> None:
    cv2.putText(img, s, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 1, cv2.LINE_AA)


def _plot_fps(canvas, cells: list[Cell], box: tuple[int, int, int, int]) -> None:
    """fps (log scale) against batch size, one colour per resolution."""
    batches = sorted({c.batch_size for c in cells})
    values = [v for c in cells for v in (c.model_fps, c.e2e_fps) if v > 0] or [1.0]
    low, high = np.floor(np.log10(min(values))), np.ceil(np.log10(max(values)) + 0.05)
    cv2.rectangle(canvas, box[:2], box[2:], (200, 200, 200), 1)
    _text(canvas, "fps (log) vs batch size; thick: end to end, thin: model only",
          (box[0], 40), 0.5)
    x_of = lambda b: int(box[0] + (batches.index(b) + 0.5) / len(batches)  # noqa: E731
                         * (box[2] - box[0]))
    y_of = lambda v: int(box[3] - (np.log10(max(v, 1e-3)) - low)  # noqa: E731
                         / max(high - low, 1) * (box[3] - box[1]))
    for decade in range(int(low), int(high) + 1):
        y = y_of(10.0**decade)
        cv2.line(canvas, (box[0], y), (box[2], y), (225, 225, 225), 1)
        _text(canvas, f"{10 ** decade:g}", (box[0] - 45, y + 4), 0.4)
    for b in batches:
        _text(canvas, str(b), (x_of(b) - 5, box[3] + 20))
    for i, res in enumerate(dict.fromkeys(c.resolution for c in cells)):
        colour = _COLOURS[i % len(_COLOURS)][::-1]
        row = sorted((c for c in cells if c.resolution == res), key=lambda c: c.batch_size)
        for a, b in zip(row, row[1:], strict=False):
            for value, thickness in ((lambda c: c.e2e_fps, 3), (lambda c: c.model_fps, 1)):
                cv2.line(canvas, (x_of(a.batch_size), y_of(value(a))),
                         (x_of(b.batch_size), y_of(value(b))), colour, thickness, cv2.LINE_AA)
        for c in row:
            cv2.circle(canvas, (x_of(c.batch_size), y_of(c.e2e_fps)), 4, colour, -1)
            _text(canvas, f"{c.e2e_fps:.1f}", (x_of(c.batch_size) + 6, y_of(c.e2e_fps) - 6))
        _text(canvas, res, (box[0] + 10, box[1] + 20 + 18 * i), 0.5)
        cv2.line(canvas, (box[0] + 70, box[1] + 15 + 18 * i),
                 (box[0] + 100, box[1] + 15 + 18 * i), colour, 3)


def _plot_stages(canvas, cells: list[Cell], box: tuple[int, int, int, int]) -> None:
    """One stacked bar of stage shares per cell, with a legend."""
    _text(canvas, "share of busy time per stage", (box[0], 40), 0.5)
    slot = (box[3] - box[1]) / max(1, len(cells))
    for i, c in enumerate(cells):
        y0, x = int(box[1] + i * slot), box[0] + 110
        _text(canvas, f"{c.resolution} b{c.batch_size}", (box[0], y0 + int(slot * 0.6)), 0.4)
        for j, stage in enumerate(_STAGES):
            w = int(c.stage_share.get(stage, 0) * (box[2] - box[0] - 110))
            cv2.rectangle(canvas, (x, y0 + 2), (x + w, y0 + int(slot) - 2),
                          _COLOURS[j][::-1], -1)
            x += w
    for j, stage in enumerate(_STAGES):
        x = box[0] + 110 + 75 * j
        cv2.rectangle(canvas, (x, box[3] + 25), (x + 12, box[3] + 37), _COLOURS[j][::-1], -1)
        _text(canvas, stage[:6], (x + 16, box[3] + 36), 0.4)


def plot(cells: list[Cell], path: pathlib.Path) -> None:
    """fps against batch size per resolution (left); stage shares per cell (right)."""
    width, height, pad = 1200, 520, 60
    canvas = np.full((height, width, 3), 255, np.uint8)
    _plot_fps(canvas, cells, (pad, pad, 560, height - pad))
    _plot_stages(canvas, cells, (620, pad, width - 30, height - pad))
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"cannot write {path}")


def run_bench_command(args: argparse.Namespace) -> int:
    """Run ``streamcolor bench``; prints the table as each cell finishes."""
    batches = [int(b) for b in args.batch_sizes.split(",")]
    resolutions = args.resolutions.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        cells = run_bench(input=args.input, model=ModelConfig(model=args.model,
                                                               provider=args.provider),
                          batch_sizes=batches, resolutions=resolutions, frames=args.frames,
                          tmp=pathlib.Path(tmp), on_cell=lambda c: print(_row(c), flush=True),
                          on_plan=lambda line: print(f"{line}\n{HEADER}", flush=True))
    print(LEGEND)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(c) | {
            "e2e_vs_model": c.e2e_vs_model, "limit_fps": c.limit_fps,
            "e2e_vs_limit": c.e2e_vs_limit} for c in cells], indent=2))
    if args.plot:
        plot(cells, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0

"""End-to-end throughput of ``colorize_file`` against decode-only and encode-only, side by side.

    python benchmarks/pipeline_throughput.py [--resolutions 480p,720p,1080p] [--frames 120]
                                             [--model PATH.onnx] [--repeats 3] [--json PATH]

With no --model it uses the tiny stand-in model, so the figures show the pipeline's own
cost (decode, colour math, encode), not a real model's. Prints medians of --repeats runs,
all measured in this one process so that the ratios are comparable.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import statistics
import sys
import tempfile
import time

import av

from streamcolor import EncodeConfig, ModelConfig, colorize_file
from streamcolor.testing import ClipSpec, make_clip, make_model

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


def _decode_only(path: pathlib.Path) -> float:
    started = time.perf_counter()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        frames = sum(1 for _ in c.decode(video=0))
    return frames / (time.perf_counter() - started)


def _encode_only(path: pathlib.Path, out: pathlib.Path) -> float:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    started = time.perf_counter()
    with av.open(str(out), "w") as o:
        s = o.add_stream("libx264", rate=25, options={"crf": "18"})
        s.width, s.height, s.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        for f in frames:
            f.pict_type = av.video.frame.PictureType.NONE
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    return len(frames) / (time.perf_counter() - started)


def measure(resolution: str, frames: int, model: pathlib.Path, repeats: int, tmp: pathlib.Path):
    width, height = SIZES[resolution]
    clip = make_clip(tmp / f"{resolution}.mkv", ClipSpec(width=width, height=height,
                                                          frames=frames, codec="libx264"))
    rows = {"end_to_end": [], "decode_only": [], "encode_only": []}
    stages = []
    for _ in range(repeats):
        summary = colorize_file(clip, tmp / "out.mkv", model=ModelConfig(model=str(model)),
                                encode=EncodeConfig())
        rows["end_to_end"].append(summary.fps)
        stages.append(summary.stage_seconds)
        rows["decode_only"].append(_decode_only(clip))
        rows["encode_only"].append(_encode_only(clip, tmp / "enc.mkv"))
    result = {k: statistics.median(v) for k, v in rows.items()}
    result["stage_seconds"] = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    result["e2e_vs_slower_of_decode_encode"] = result["end_to_end"] / min(
        result["decode_only"], result["encode_only"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="480p,720p,1080p")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=pathlib.Path)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        model = args.model or make_model(tmp / "tiny.onnx", input_size=256)
        print(f"model {model.name}, {args.frames} frames, median of {args.repeats}, libx264 CRF 18")
        print(f"{'res':>6} {'e2e fps':>8} {'decode':>8} {'encode':>8} {'e2e/min':>8}  "
              "stage busy seconds (decode/pre/infer/post/encode)")
        for resolution in args.resolutions.split(","):
            r = measure(resolution, args.frames, model, args.repeats, tmp)
            results[resolution] = r
            busy = "/".join(f"{v:.2f}" for v in r["stage_seconds"].values())
            print(f"{resolution:>6} {r['end_to_end']:8.1f} {r['decode_only']:8.1f} "
                  f"{r['encode_only']:8.1f} {r['e2e_vs_slower_of_decode_encode']:8.2f}  {busy}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "peak_rss_mib": peak}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

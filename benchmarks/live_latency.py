"""Live latency at 720p: a real-time 25 fps source through live mode, arrival to encoded.

    python benchmarks/live_latency.py [--model M] [--size 1280x720] [--seconds 30]
                                      [--batch-sizes 1,2,4] [--max-latency 500] [--json PATH]

The source is FFmpeg's lavfi test pattern paced to the wall clock (as a camera would be);
the output an MKV file with x264 in its live settings (veryfast, zerolatency). Prints, per
batch size: frames, fps, dropped, latency p50/p95/max (ms) over the whole run.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

from streamcolor import EncodeConfig, LiveConfig, ModelConfig, PipelineConfig, colorize


def measure(model: str | None, size: str, seconds: float, batch: int, max_latency: float,
            tmp: pathlib.Path) -> dict:
    summary = colorize(f"lavfi:testsrc2=size={size}:rate=25", [tmp / f"live_{batch}.mkv"],
                       model=ModelConfig(model=model, provider="cpu", batch_size=batch),
                       encode=EncodeConfig(), pipeline=PipelineConfig(duration=seconds),
                       live=LiveConfig(max_latency=max_latency / 1000))
    live = summary.live
    return {"batch": batch, "frames": summary.frames, "fps": live["fps_total"],
            "dropped": live["dropped"], **live["latency_ms_total"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="ONNX file or registry name (default: the default)")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--batch-sizes", default="1,2,4")
    parser.add_argument("--max-latency", type=float, default=500, help="ms")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    rows = []
    print(f"{args.size} 25 fps live source, {args.seconds:.0f} s per run, "
          f"max latency {args.max_latency:.0f} ms, model {args.model or '(default)'}")
    print(f"{'batch':>5} {'frames':>7} {'fps':>6} {'dropped':>8} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'max ms':>7}")
    with tempfile.TemporaryDirectory() as name:
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            r = measure(args.model, args.size, args.seconds, batch, args.max_latency,
                        pathlib.Path(name))
            rows.append(r)
            print(f"{r['batch']:>5} {r['frames']:>7} {r['fps']:>6.1f} {r['dropped']:>8} "
                  f"{r['p50']:>7} {r['p95']:>7} {r['max']:>7}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

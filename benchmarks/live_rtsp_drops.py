"""Drops of a real RTSP camera feed in live mode, and how sound and picture line up.

    python benchmarks/live_rtsp_drops.py [--model M] [--size 640x360] [--seconds 20]
                                         [--runs 3] [--audio pcma|none] [--json PATH]

Starts GStreamer's RTSP server (tests/servers/rtsp_server.py, under Debian's python3-gi) on
loopback serving a live 25 fps grey pattern (and a G.711 tone), and runs the CLI's live
path (batch 1, x264 veryfast zerolatency) into an MKV for each run. Prints, per run:
frames, dropped (in all, and in the first 2 s), latency p50/p95/max and, with audio, the
start gap and length difference of the two streams as Debian's ffprobe reads them; then
the median of each.
Run it with PYTHONPATH pointing at another checkout to compare two versions side by side.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from live_servers import RtspServer  # noqa: E402
from streamcolor import EncodeConfig, ModelConfig, PipelineConfig, colorize  # noqa: E402


def _stream_span(path: pathlib.Path) -> dict[str, tuple[float, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_entries",
                          "packet=stream_index,pts_time,duration_time:stream=index,codec_type",
                          "-show_streams", "-show_packets", str(path)],
                         capture_output=True, check=True).stdout
    probe = json.loads(out)
    kinds = {s["index"]: s["codec_type"] for s in probe["streams"]}
    spans: dict[str, list[float]] = {}
    for p in probe["packets"]:
        if "pts_time" in p:
            start = float(p["pts_time"])
            end = start + float(p.get("duration_time") or 0)
            span = spans.setdefault(kinds[p["stream_index"]], [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    return {k: (a, b) for k, (a, b) in spans.items()}


def run_once(args, tmp: pathlib.Path, index: int) -> dict:
    server = RtspServer(size=args.size, audio=None if args.audio == "none" else args.audio)
    out = tmp / f"run{index}.mkv"
    start = {}

    def progress(p) -> None:  # drops in the first 2 s: the start, apart from the rest
        if "dropped" not in start and p.snapshot and p.elapsed >= 2.0:
            start["dropped"] = p.snapshot()["dropped"]

    try:
        summary = colorize(server.url, [out],
                           model=ModelConfig(model=args.model, provider="cpu", batch_size=1),
                           encode=EncodeConfig(), pipeline=PipelineConfig(duration=args.seconds),
                           on_progress=progress)
    finally:
        server.stop()
    live = summary.live
    row = {"frames": summary.frames, "dropped": live["dropped"],
           "dropped_first_2s": start.get("dropped"), **live["latency_ms_total"]}
    spans = _stream_span(out)
    if "audio" in spans and "video" in spans:
        (a0, a1), (v0, v1) = spans["audio"], spans["video"]
        row["start_gap_ms"] = round(1000 * abs(a0 - v0), 1)
        row["length_diff_ms"] = round(1000 * abs((a1 - a0) - (v1 - v0)), 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="ONNX file or registry name (default: the bundled one)")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--audio", default="pcma", choices=("pcma", "pcmu", "none"))
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_once(args, pathlib.Path(tmp), i) for i in range(args.runs)]
    for i, row in enumerate(rows):
        print(f"run {i}: " + "  ".join(f"{k} {v}" for k, v in row.items()))
    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]
               if all(r.get(k) is not None for r in rows)}
    print("median: " + "  ".join(f"{k} {v}" for k, v in medians.items()))
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "median": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

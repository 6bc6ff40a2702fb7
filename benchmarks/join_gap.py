"""Film jobs: how far the joined film is from the single pass at the joins, clip by clip.

    python benchmarks/join_gap.py [--datasets ../shared/datasets] [--seconds 8]
                                  [--segment-seconds 2] [--json PATH]

Each clip is cut to ``--seconds``, made grey at 320 px wide and written losslessly (FFV1), then
colorized twice with the defaults (stabilizer on) into lossless FFV1: once as a film job cut
every ``--segment-seconds`` and once in one pass (``--no-segments``). A lossless codec leaves
only what the job itself changes: the warm-up before each cut that stands in for the colour the
stabilizer carried from earlier frames. For each clip: the mean |chroma difference| (8-bit
Cb/Cr levels) over the first frame of every segment after the first, the same over every
frame, and the largest single difference. Clips: the real black-and-white films and colour
clips of ``video/bw`` and ``video/clips``, and three generated ones (a test pattern, a slow
pan and a fast pan, where colour carried across a cut matters most). The summary gives the
range over clips, not one clip's figure.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

import av
import numpy as np
from _machine import cpu_model

from streamcolor.jobs.plan import plan_segments, scan

GENERATED = {
    "generated_slow_pattern": "testsrc2=size=320x240:rate=24",
    "generated_pan": "testsrc2=size=960x240:rate=24,scroll=horizontal=0.004,crop=320:240:0:0",
    "generated_fast_pan": "testsrc2=size=960x240:rate=24,scroll=horizontal=0.02,crop=320:240:0:0",
}


def make_grey(source: str, path: pathlib.Path, seconds: float, lavfi: bool) -> bool:
    """Cut, scale to 320 px wide, make grey, write FFV1 (no audio: only the picture counts)."""
    head = ["-f", "lavfi", "-i", source] if lavfi else ["-i", source]
    command = ["ffmpeg", "-v", "error", *head, "-t", str(seconds), "-an", "-sn",
               "-vf", "scale=320:-2,format=gray,format=yuv420p", "-c:v", "ffv1", "-y", str(path)]
    return subprocess.run(command, check=False).returncode == 0


def colorize(source: pathlib.Path, out: pathlib.Path, extra: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "streamcolor", "colorize", str(source), "-o", str(out),
                    "--provider", "cpu", "--codec", "ffv1", "-q", *extra], check=True)


def chroma(path: pathlib.Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="yuv444p")[1:].astype(np.float32)
                for frame in container.decode(video=0)]


def gap(source: pathlib.Path, work: pathlib.Path, segment_seconds: float) -> dict:
    joined, single = work / f"{source.stem}_job.mkv", work / f"{source.stem}_single.mkv"
    colorize(source, joined, ["--segment-seconds", str(segment_seconds)])
    colorize(source, single, ["--no-segments"])
    a, b = chroma(joined), chroma(single)
    if len(a) != len(b):
        raise SystemExit(f"{source.name}: {len(a)} frames joined, {len(b)} in one pass")
    firsts = sorted(s.first for s in plan_segments(scan(source, 0), segment_seconds,
                                                   path=source) if s.first)
    per_frame = [float(np.abs(x - y).mean()) for x, y in zip(a, b, strict=True)]
    return {"frames": len(a), "joins": len(firsts),
            "mean_at_joins": round(statistics.mean(per_frame[i] for i in firsts), 4)
            if firsts else None,
            "mean_all_frames": round(statistics.mean(per_frame), 4),
            "max": float(max(np.abs(x - y).max() for x, y in zip(a, b, strict=True)))}


def clips(datasets: pathlib.Path) -> list[tuple[str, str, bool]]:
    found = [(name, graph, True) for name, graph in GENERATED.items()]
    for folder in ("video/bw", "video/clips"):
        found += [(p.stem, str(p), False) for p in sorted((datasets / folder).glob("*.*"))]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parents[2] / "shared/datasets")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--segment-seconds", type=float, default=2)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs ffmpeg (apt-get install ffmpeg)")
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = pathlib.Path(scratch)
        for name, source, lavfi in clips(args.datasets):
            grey = work / f"{name}.mkv"
            if not make_grey(source, grey, args.seconds, lavfi):
                print(f"{name}: ffmpeg could not cut it; left out", file=sys.stderr)
                continue
            rows[name] = gap(grey, work, args.segment_seconds)
            print(f"{name:45} {json.dumps(rows[name])}", flush=True)
    at_joins = [r["mean_at_joins"] for r in rows.values() if r["mean_at_joins"] is not None]
    summary = {"cpu": cpu_model(), "clips": len(rows), "segment_seconds": args.segment_seconds,
               "mean_at_joins_range": [min(at_joins), max(at_joins)],
               "mean_at_joins_median": statistics.median(at_joins),
               "worst_max": max(r["max"] for r in rows.values())}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Film jobs: what segmenting costs, what a second worker gains, and whether joins show.

    python benchmarks/jobs_overhead.py [--seconds 180] [--segment-seconds 60] [--reps 2]
                                       [--size 320x240] [--model M] [--temporal on|off]
                                       [--json PATH]

Writes a test film (FFmpeg's testsrc2 in grey at 24 fps with AAC audio) and colorizes it with
the ``streamcolor`` command three ways, interleaved ``--reps`` times (ABC, CBA, ...) so that
the machine's load hits each alike: one pass (``--no-segments``), segmented with one worker,
segmented with two workers. Prints the median wall time of each and the ratios (target: segmented at
one worker within 5% of the single pass). Then, on the one-worker output, the mean change
of chroma between consecutive frames at the joins against inside the segments and against
the single pass at the same frames (no seam: near equal), and the largest chroma difference
from the single pass (encoder noise: each segment starts with a keyframe).
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
import time

import av
import numpy as np

from streamcolor.jobs.plan import plan_segments, scan

MODES = {"single": ["--no-segments"], "segments_1_worker": [],
         "segments_2_workers": ["--workers", "2"]}


def cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def make_film(path: pathlib.Path, seconds: float, size: str) -> pathlib.Path:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs ffmpeg (apt-get install ffmpeg) to write the film")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=24,format=gray", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v",
                    "libx264", "-preset", "veryfast", "-c:a", "aac", "-y", str(path)],
                   check=True)
    return path


def run(film, out, model, segment_seconds, extra) -> float:
    command = [sys.executable, "-m", "streamcolor", "colorize", str(film), "-o", str(out),
               "--provider", "cpu", "--segment-seconds", str(segment_seconds), "-q", *extra]
    if model:
        command += ["--model", model]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def chroma(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            planes = frame.to_ndarray(format="yuv444p")[1:].astype(np.float32)
            frames.append(planes)
        return frames


def seams(segmented, single, film, segment_seconds) -> dict:
    """Chroma change across joins vs inside segments; largest difference from one pass."""
    starts = {s.first for s in plan_segments(scan(film, 0), segment_seconds, path=film)} - {0}
    a, b = chroma(segmented), chroma(single)
    steps = [float(np.abs(y - x).mean()) for x, y in zip(a, a[1:], strict=False)]
    at_joins = [steps[i - 1] for i in sorted(starts)]
    inside = [d for i, d in enumerate(steps, 1) if i not in starts]
    same_frames = [float(np.abs(b[i] - b[i - 1]).mean()) for i in sorted(starts)]
    return {"joins": len(at_joins),
            "chroma_step_at_joins": round(statistics.mean(at_joins), 3) if at_joins else None,
            "single_pass_step_at_the_same_frames":
                round(statistics.mean(same_frames), 3) if same_frames else None,
            "chroma_step_inside": round(statistics.mean(inside), 3),
            "seam_ratio": round(statistics.mean(at_joins) / statistics.mean(inside), 3)
            if at_joins else None,
            "max_chroma_difference_from_single_pass":
                round(max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True)), 1)}


def fixed_costs(film, segment_seconds, temporal: str) -> dict:
    """The work a job adds whatever the load: planning, the join, and warm-up frames."""
    from streamcolor.config import TemporalConfig
    from streamcolor.jobs.plan import warmup_frames

    started = time.perf_counter()
    index = scan(film, 0)
    segments = plan_segments(index, segment_seconds, path=film)
    planned = time.perf_counter() - started
    warmup = warmup_frames(TemporalConfig(enabled=temporal == "on"))
    extra = sum(min(warmup, s.first) for s in segments)
    return {"plan_seconds": round(planned, 2), "segments": len(segments),
            "warmup_frames_per_cut": warmup,
            "extra_model_frames_percent": round(100 * extra / len(index.pts), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--segment-seconds", type=float, default=60)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--model", help="default: the bundled model")
    parser.add_argument("--temporal", choices=("on", "off"), default="on",
                        help="the stabilizer (on: each segment also colorizes its warm-up)")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        film = make_film(tmp / "film.mkv", args.seconds, args.size)
        temporal = ["--temporal", args.temporal]
        for rep in range(args.reps):  # ABC, CBA, ...: a drift in load hits every mode alike
            order = list(MODES.items())
            for mode, extra in order if rep % 2 == 0 else order[::-1]:
                times[mode].append(run(film, tmp / f"{mode}.mkv", args.model,
                                       args.segment_seconds, [*extra, *temporal]))
        seam = seams(tmp / "segments_1_worker.mkv", tmp / "single.mkv", film,
                     args.segment_seconds)
        fixed = fixed_costs(film, args.segment_seconds, args.temporal)
    median = {mode: statistics.median(t) for mode, t in times.items()}
    result = {"cpu": cpu_model(), "cores": __import__("os").cpu_count(),
              "film_seconds": args.seconds, "segment_seconds": args.segment_seconds,
              "size": args.size, "reps": args.reps, "temporal": args.temporal,
              "seconds": {m: [round(x, 2) for x in t] for m, t in times.items()},
              "median_seconds": {m: round(t, 2) for m, t in median.items()},
              "segmented_1_worker_overhead_percent":
                  round(100 * (median["segments_1_worker"] / median["single"] - 1), 2),
              "two_workers_speedup": round(median["segments_1_worker"]
                                           / median["segments_2_workers"], 3),
              "fixed_costs": fixed, "seams": seam}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

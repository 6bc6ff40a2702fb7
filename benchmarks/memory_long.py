"""Memory stays flat on long inputs: peak RSS after 1,000 frames vs after 50,000 frames.

    python benchmarks/memory_long.py [--frames 50000] [--size 320x240] [--model M] [--json PATH]

Writes a long synthetic clip (FFmpeg lavfi test pattern with a sine audio track, x264 +
AAC in MKV), colorizes it with ``colorize_file`` (every stream copied), and samples this
process's RSS from the progress callback. Prints RSS at 1,000 frames, the peak at the end,
and their ratio; the target is a difference under 5%.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile

from streamcolor import EncodeConfig, ModelConfig, colorize_file


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def long_clip(path: pathlib.Path, frames: int, size: str) -> pathlib.Path:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs ffmpeg (apt-get install ffmpeg) to write the long clip")
    seconds = frames / 25
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25,format=gray", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", f"{seconds}", "-c:v",
                    "libx264", "-preset", "ultrafast", "-c:a", "aac", "-y", str(path)],
                   check=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--model")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        model = args.model
        if model is None:
            from streamcolor.testing import make_model

            model = str(make_model(tmp / "tiny.onnx", input_size=256))
        clip = long_clip(tmp / "long.mkv", args.frames, args.size)
        marks: dict[str, float] = {}

        def sample(progress) -> None:
            rss = rss_mib()
            if progress.frames >= 1000 and "at_1000" not in marks:
                marks["at_1000"] = rss
            marks["peak"] = max(marks.get("peak", 0.0), rss)
            marks["last_frames"] = progress.frames

        summary = colorize_file(clip, tmp / "out.mkv", model=ModelConfig(model=model),
                                encode=EncodeConfig(preset="ultrafast"), on_progress=sample)
    growth = marks["peak"] / marks["at_1000"] - 1
    result = {"frames": summary.frames, "fps": round(summary.fps, 1),
              "rss_at_1000_mib": round(marks["at_1000"], 1),
              "peak_rss_mib": round(marks["peak"], 1), "growth_percent": round(100 * growth, 2)}
    print(f"{summary.frames} frames at {args.size}, {summary.fps:.0f} fps: "
          f"RSS {marks['at_1000']:.1f} MiB at 1,000 frames, "
          f"peak {marks['peak']:.1f} MiB at the end "
          f"({100 * growth:+.2f}%; target < 5%)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if growth < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())

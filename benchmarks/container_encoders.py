"""Encode speed of the default video encoder of each container, side by side in one run.

    python benchmarks/container_encoders.py [--size 1280x720] [--frames 60] [--repeats 3]
                                            [--json PATH]

Encodes the same colour frames (a moving gradient, made once in memory) with the settings
streamcolor gives each container by default (:func:`streamcolor.media.encoders.encoder_options`):
.webm -> libvpx-vp9, .mp4/.mov/.mkv -> libx264. Reports the median frames per second over
--repeats runs, the ratio to libx264, the output size, and the CPU model. (With
``deadline=good`` libvpx treats cpu-used above 5 as 5: 5 is the fastest good-quality setting.)
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time

import av
import numpy as np

from streamcolor.config import EncodeConfig
from streamcolor.media.encoders import choose_encoder, encoder_options


def _frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        rgb = np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x + y + i) % 256], axis=-1)
        frames.append(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
                      .reformat(format="yuv420p"))
    return frames


def encode_once(fmt: str, frames: list[av.VideoFrame],
                extra: tuple = ()) -> tuple[str, float, int]:
    """(encoder, seconds, bytes) of encoding ``frames`` into an in-memory ``fmt`` file, with
    the default options plus ``extra``."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        codec = choose_encoder(EncodeConfig(), out.format.name, out.default_video_codec)
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.codec_context.options = encoder_options(codec, EncodeConfig(options=extra), None)
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        seconds = time.perf_counter() - started
    return codec, seconds, buffer.getbuffer().nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-used", default="",
                        help="also time VP9 with these cpu-used values, e.g. 6,8")
    parser.add_argument("--json")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    frames = _frames(width, height, args.frames)
    rows = []
    variants = [("webm", ()), ("mp4", ())] + [
        ("webm", (("cpu-used", value),)) for value in args.cpu_used.split(",") if value]
    for fmt, extra in variants:
        runs = [encode_once(fmt, frames, extra) for _ in range(args.repeats)]
        fps = statistics.median(args.frames / seconds for _, seconds, _ in runs)
        rows.append({"container": fmt, "encoder": runs[0][0], "extra": dict(extra),
                     "fps": round(fps, 1), "bytes": runs[0][2]})
    base = next(r["fps"] for r in rows if r["encoder"] == "libx264")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"{args.size}, {args.frames} frames, median of {args.repeats}; CPU: {cpu}")
    for row in rows:
        row["vs_libx264"] = round(row["fps"] / base, 2)
        extra = " ".join(f"{k}={v}" for k, v in row["extra"].items()) or "defaults"
        print(f"{row['container']:5} {row['encoder']:11} {extra:11} {row['fps']:7.1f} fps "
              f"x{row['vs_libx264']:.2f}  {row['bytes'] / 1e3:8.1f} kB")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"size": args.size, "frames": args.frames, "cpu": cpu, "rows": rows},
                      handle, indent=1)


if __name__ == "__main__":
    main()

"""Peak memory of colorizing one large photo: ``colorize_image`` on a big grey and BGR PNG.

    python benchmarks/photo_memory.py [--size 8000x8000] [--kinds grey,bgr] [--model NAME|PATH]
                                      [--json PATH]

Writes each test picture (a smooth scan-like pattern with film grain) as a PNG, then runs
every step in a fresh child process and reads that process's high-water RSS (``VmHWM``), so
one measurement never inherits another's memory. Steps, each including the ones before it:

    start     import streamcolor and load the model (the floor every run pays)
    decode    + read the PNG with its metadata (``read_photo``: OpenCV's imread)
    codec     + encode a colour picture of the output's size and write it (no colour math)
    colorize  the whole of ``colorize_image`` (what ``streamcolor image IN -o OUT`` does)

The target is ``colorize`` well under 1 GiB for an 8000x8000 8-bit picture.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from _machine import cpu_model

STEPS = ("start", "decode", "codec", "colorize")


def scan(width: int, height: int, kind: str) -> np.ndarray:
    """A scan-like picture: soft shapes plus grain, grey (H, W) or near-grey BGR (H, W, 3)."""
    rng = np.random.default_rng(0)
    coarse = cv2.resize(rng.random((24, 24), dtype=np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    picture = np.empty((height, width), np.uint8)
    for top in range(0, height, 512):  # in bands, so that the writer stays small too
        band = coarse[top : top + 512] * 180 + 40
        band += rng.normal(0, 4, band.shape).astype(np.float32)
        picture[top : top + 512] = np.clip(band, 0, 255)
    del coarse
    if kind == "grey":
        return picture
    tint = np.array([0.96, 1.0, 1.04], np.float32)  # a faintly warm scan, not exactly grey
    return np.dstack([cv2.convertScaleAbs(picture, alpha=float(t)) for t in tint])


def _peak_mib() -> float:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, source: str, target: str, model: str | None) -> None:
    """Run one step in this (fresh) process and print its peak RSS and seconds as JSON."""
    from streamcolor.images import colorize_image
    from streamcolor.media.photo_meta import encode_photo, read_photo
    from streamcolor.runtime import ModelRunner

    runner = ModelRunner(model, provider="cpu")
    start = time.perf_counter()
    if step == "decode":
        read_photo(pathlib.Path(source))
    elif step == "codec":
        picture, meta = read_photo(pathlib.Path(source))
        if picture.ndim == 2:
            picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
        ok, data = encode_photo(picture, pathlib.Path(target).suffix, meta)
        pathlib.Path(target).write_bytes(data)
    elif step == "colorize":
        colorize_image(source, target, runner=runner)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mib": round(_peak_mib(), 1), "seconds": round(seconds, 2)}))


def measure(step: str, source: pathlib.Path, target: pathlib.Path, model: str | None) -> dict:
    """Peak RSS and seconds of ``step`` in a child process."""
    command = [sys.executable, __file__, "--child", step, str(source), str(target)]
    if model:
        command += ["--model", model]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    target.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="8000x8000", help="WIDTHxHEIGHT")
    parser.add_argument("--kinds", default="grey,bgr", help="comma-separated: grey, bgr")
    parser.add_argument("--model", help="model path or name (default: the bundled model)")
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--child", nargs=3, metavar=("STEP", "IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.model)
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"CPU: {cpu_model()}")
    print(f"{'picture':<22} {'PNG MiB':>8} " + " ".join(f"{s:>14}" for s in STEPS))
    results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        for kind in args.kinds.split(","):
            source = tmp / f"{kind}.png"
            cv2.imwrite(str(source), scan(width, height, kind))
            row = {"picture": f"{width}x{height} {kind} 8-bit",
                   "png_mib": round(source.stat().st_size / 2**20, 1)}
            for step in STEPS:
                row[step] = measure(step, source, tmp / "out.png", args.model)
            cells = " ".join(f"{row[s]['peak_mib']:>7.0f}MiB {row[s]['seconds']:>4.1f}s"
                             for s in STEPS)
            print(f"{row['picture']:<22} {row['png_mib']:>8.1f} {cells}")
            results.append(row)
            source.unlink()
    print("cells: peak RSS of the whole process (VmHWM) and seconds of the step itself")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

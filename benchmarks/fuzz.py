"""Fuzz: seeded mutations of small clips (MP4, MKV, MOV/HEVC, TS, WebM, AVI, FLV, with audio
and subtitles where the container holds them) and of photos (JPEG, PNG, TIFF, WebP), each
colorized by ``streamcolor`` as a subprocess beside FFmpeg's transcode of the same file.

    .venv/bin/python benchmarks/fuzz.py --cases 2000 [--photos 200] [--seed 0] [--jobs 2]

Prints the figures (cases, FFmpeg ok, ours ok, tracebacks, hangs, leftovers, the most lines
of a refusal, files FFmpeg transcodes that we do not) and the failing cases, and writes them
as JSON (``--json``). Exit status 1 when any case broke a promise (see
:mod:`streamcolor.fuzzing`).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import pathlib
import sys
import tempfile
import time

from streamcolor.fuzzing import cases, make_media, make_photos, run_case, run_photo_case
from streamcolor.testing import make_model


def _figures(outcomes) -> dict:
    refused = [o.lines for o in outcomes if not o.ours_ok and not o.hang]
    return {"cases": len(outcomes), "ffmpeg_ok": sum(o.ffmpeg_ok for o in outcomes),
            "ours_ok": sum(o.ours_ok for o in outcomes),
            "ffmpeg_ok_ours_not": sum(o.ffmpeg_ok and not o.ours_ok for o in outcomes),
            "tracebacks": sum(o.traceback for o in outcomes),
            "hangs": sum(o.hang for o in outcomes),
            "leftovers": sum(bool(o.leftovers) for o in outcomes),
            "max_refusal_lines": max(refused, default=0)}


def _run(pool, jobs, workdir, model, timeout, extra):
    futures = {pool.submit(fn, case, workdir, model, timeout=timeout, clean=True,
                           **({"extra": extra} if fn is run_case else {})): case
               for fn, case in jobs}
    outcomes = []
    for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
        outcomes.append(future.result())
        if done % 25 == 0:
            print(f"  {done}/{len(futures)}", file=sys.stderr, flush=True)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="damaged clips")
    parser.add_argument("--photos", type=int, default=None,
                        help="damaged photos (default: a tenth of --cases)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--workdir", help="keep failing cases here (default: a temporary one)")
    parser.add_argument("--json", help="write the figures and failures here")
    parser.add_argument("--segment-seconds", type=float,
                        help="cut the clips' film jobs this short (several segments, joins)")
    args = parser.parse_args()
    photos = args.cases // 10 if args.photos is None else args.photos
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(args.workdir or tmp)
        model = make_model(pathlib.Path(tmp) / "tiny.onnx")
        bases = list(make_media(pathlib.Path(tmp) / "media").values())
        pictures = list(make_photos(pathlib.Path(tmp) / "photos").values())
        jobs = [(run_case, c) for c in cases(bases, args.cases, args.seed)]
        jobs += [(run_photo_case, c) for c in cases(pictures, photos, args.seed + 1)]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            extra = (("--segment-seconds", str(args.segment_seconds))
                     if args.segment_seconds else ())
            outcomes = _run(pool, jobs, workdir, model, args.timeout, extra)
    clips = [o for o in outcomes if not o.case.endswith((".jpg", ".png", ".tiff", ".webp"))]
    stills = [o for o in outcomes if o not in clips]
    report = {"command": " ".join(sys.argv), "seconds": round(time.perf_counter() - started, 1),
              "clips": _figures(clips), "photos": _figures(stills),
              "failures": [{"case": o.case, "problems": o.problems, "stderr": o.stderr[-2000:]}
                           for o in outcomes if o.problems]}
    by_kind = collections.Counter(p.split(" ")[0] for f in report["failures"]
                                  for p in f["problems"])
    for kind in ("clips", "photos"):
        print(f"{kind:7} " + "  ".join(f"{k} {v}" for k, v in report[kind].items()))
    for failure in report["failures"]:
        print(f"FAIL {failure['case']}: {'; '.join(failure['problems'])}\n    "
              + failure["stderr"].strip().replace("\n", "\n    ")[-600:])
    print(f"{report['seconds']} s; problems by kind: {dict(by_kind) or 'none'}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

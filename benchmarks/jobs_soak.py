"""Film-job soak: a generated two-hour film, run whole, then killed at a random point and resumed.

    python benchmarks/jobs_soak.py [--hours 2] [--size 64x48] [--seed N] [--temporal on|off]
                                   [--json PATH]

The film is FFmpeg's test pattern at 24 fps (tiny frames so it fits in minutes) with AAC
audio and an SRT subtitle every minute, in MKV. It is colorized with the tiny test model by
the ``streamcolor`` command (segmented, 60 s segments), while this script samples the
command's RSS. Checks: the output has exactly the input's video pts, and its audio and
subtitle packets hash the same as the input's; RSS at the end is within 10% of RSS at 10%
progress (flat memory). Then the same command is SIGKILLed at a random moment, run again,
and must say ``resuming: K of N`` and give the same pts and packets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import av

from streamcolor.jobs import job_folder
from streamcolor.jobs.manifest import Manifest


def cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def make_film(folder: pathlib.Path, hours: float, size: str) -> pathlib.Path:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs ffmpeg (apt-get install ffmpeg) to write the film")
    seconds = int(hours * 3600)
    cues = "".join(f"{i + 1}\n{_stamp(60 * i + 5)} --> {_stamp(60 * i + 8)}\nline {i}\n\n"
                   for i in range(seconds // 60))
    (folder / "film.srt").write_text(cues, encoding="utf-8")
    film = folder / "film.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=24,format=gray", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=8000", "-i", str(folder / "film.srt"),
                    "-t", str(seconds), "-map", "0", "-map", "1", "-map", "2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "1",
                    "-c:s", "srt", "-y", str(film)], check=True)
    return film


def _stamp(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d},000"


def fingerprint(path: pathlib.Path) -> dict:
    """Video pts (sorted) and a hash of every other stream's packets (pts and bytes)."""
    pts, digests = [], {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                pts.append(packet.pts)
                continue
            digest = digests.setdefault(packet.stream.type, hashlib.sha256())
            digest.update(f"{packet.pts}:".encode() + bytes(packet))
    pts.sort()
    return {"frames": len(pts), "pts_sha256": hashlib.sha256(str(pts).encode()).hexdigest(),
            **{kind: d.hexdigest() for kind, d in digests.items()}}


def rss_mib(pid: int) -> float | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


TEMPORAL = ["--temporal", "on"]


def command(film, out, model) -> list[str]:
    return [sys.executable, "-m", "streamcolor", "colorize", str(film), "-o", str(out),
            "--model", str(model), "--provider", "cpu", "--preset", "ultrafast", *TEMPORAL,
            "-q"]


def full_run(film, out, model) -> dict:
    """Run to completion, sampling RSS against the share of segments done."""
    started = time.perf_counter()
    process = subprocess.Popen(command(film, out, model), stderr=subprocess.PIPE, text=True)
    samples = []
    while process.poll() is None:
        manifest = Manifest.load(job_folder(out) / "manifest.json")
        share = len(manifest.done) / len(manifest.segments) if manifest else 0.0
        rss = rss_mib(process.pid)
        if rss:
            samples.append((share, rss))
        time.sleep(0.5)
    err = process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"the run failed: {err}")
    started_work = [rss for share, rss in samples if share > 0] or [samples[-1][1]]
    early = [rss for share, rss in samples if 0.1 <= share <= 0.2] or started_work[:1]
    late = [rss for share, rss in samples if share >= 0.9] or [samples[-1][1]]
    return {"seconds": round(time.perf_counter() - started, 1),
            "rss_at_10_20_percent_mib": round(max(early), 1),
            "rss_after_90_percent_mib": round(max(late), 1),
            "growth_percent": round(100 * (max(late) / max(early) - 1), 2)}


def _done(out) -> tuple[int, int]:
    manifest = Manifest.load(job_folder(out) / "manifest.json")
    return (len(manifest.done), len(manifest.segments)) if manifest else (0, 0)


def killed_and_resumed(film, out, model, rng: random.Random) -> dict:
    """SIGKILL after a random number of finished segments plus a random part of the next."""
    process = subprocess.Popen(command(film, out, model), stderr=subprocess.PIPE, text=True)
    while _done(out)[1] == 0:
        time.sleep(0.05)
    target = rng.randint(1, max(1, _done(out)[1] - 2))
    while _done(out)[0] < target and process.poll() is None:
        time.sleep(0.05)
    started = time.perf_counter()
    time.sleep(rng.uniform(0.0, 1.0))
    after = target + (time.perf_counter() - started)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = subprocess.run([*command(film, out, model)[:-1]], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the resumed run failed: {done.stderr}")
    line = next((x for x in done.stderr.splitlines() if x.startswith("resuming:")), None)
    return {"killed_after_segments_plus_s": round(after, 2), "resume_line": line}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--temporal", choices=("on", "off"), default="on",
                        help="the stabilizer (off: about 3x faster at this frame size)")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    TEMPORAL[1] = args.temporal
    rng = random.Random(args.seed)
    from streamcolor.testing import make_model

    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        model = make_model(tmp / "tiny.onnx")
        started = time.perf_counter()
        film = make_film(tmp, args.hours, args.size)
        made = time.perf_counter() - started
        source = fingerprint(film)
        whole = full_run(film, tmp / "whole.mkv", model)
        whole_print = fingerprint(tmp / "whole.mkv")
        resumed = killed_and_resumed(film, tmp / "resumed.mkv", model, rng)
        resumed_print = fingerprint(tmp / "resumed.mkv")
    result = {"cpu": cpu_model(), "hours": args.hours, "size": args.size,
              "temporal": args.temporal,
              "film_written_s": round(made, 1), "frames": source["frames"],
              "whole": whole, "resumed": resumed,
              "whole_matches_input": whole_print == source,
              "resumed_matches_input": resumed_print == source}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = (result["whole_matches_input"] and result["resumed_matches_input"]
          and whole["growth_percent"] < 10 and resumed["resume_line"] is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

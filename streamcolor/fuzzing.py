"""Damaged media for tests and the fuzz benchmark: small clips in many containers, seeded
mutations of them, and one case run the way a user runs it (``streamcolor`` as a
subprocess) beside FFmpeg's own transcode of the same file.

A case passes when streamcolor either colorizes the file or refuses it in one to three lines
of stderr, with no traceback, within the time limit, leaving nothing but the input (and the
output, on success) behind; and when FFmpeg transcodes a file, streamcolor colorizes it too.
Needs Debian's ``ffmpeg`` on PATH (to make the clips and as the reference reader).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import random
import shutil
import subprocess
import sys

__all__ = ["CONTAINERS", "PHOTOS", "Case", "Outcome", "make_media", "make_photos", "mutate",
           "cases", "run_case", "run_photo_case"]

_CLIP = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1.6,format=gray,"
         "format=yuv420p", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:"
         "duration=1.6"]
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "12"]
# container -> (encoding arguments, holds subtitles)
CONTAINERS: dict[str, tuple[list[str], bool]] = {
    "mp4": ([*_X264, "-c:a", "aac", "-c:s", "mov_text"], True),
    "mkv": ([*_X264, "-c:a", "libopus", "-c:s", "srt"], True),
    "mov": (["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none",
             "-tag:v", "hvc1", "-c:a", "aac", "-c:s", "mov_text"], True),
    "ts": ([*_X264, "-c:a", "mp2"], False),
    "webm": (["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "12",
              "-c:a", "libopus", "-c:s", "webvtt"], True),
    "avi": (["-c:v", "mpeg4", "-g", "12", "-c:a", "libmp3lame"], False),
    "flv": ([*_X264, "-c:a", "aac"], False),
}
PHOTOS = ("jpg", "png", "tiff", "webp")
_SUBTITLES = ("1\n00:00:00,200 --> 00:00:00,900\nhello\n\n"
              "2\n00:00:01,000 --> 00:00:01,400\nworld\n\n")
_MUTATIONS = ("flip", "zero", "truncate", "duplicate")


def _ffmpeg(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args],
                          capture_output=True, timeout=timeout)


def make_media(folder: str | os.PathLike) -> dict[str, pathlib.Path]:
    """A 1.6 s 64x48 clip with sine audio (and subtitles where the container holds them)
    in every container of :data:`CONTAINERS`; returns the paths by container."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    srt = folder / "subtitles.srt"
    srt.write_text(_SUBTITLES, encoding="utf-8")
    made = {}
    for name, (codecs, subtitles) in CONTAINERS.items():
        path = folder / f"clip.{name}"
        inputs = [*_CLIP, *(["-i", str(srt)] if subtitles else [])]
        maps = ["-map", "0", "-map", "1", *(["-map", "2"] if subtitles else [])]
        _ffmpeg(*inputs, *maps, *codecs, str(path)).check_returncode()
        made[name] = path
    return made


def make_photos(folder: str | os.PathLike) -> dict[str, pathlib.Path]:
    """A small grey picture as JPEG, PNG, TIFF and WebP; returns the paths by format."""
    import cv2
    import numpy as np

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 3 + y * 2) % 256).astype(np.uint8)
    made = {}
    for name in PHOTOS:
        path = folder / f"photo.{name}"
        cv2.imwrite(str(path), grey)
        made[name] = path
    return made


@dataclasses.dataclass(frozen=True)
class Case:
    """One mutation of one base file: which, and the seed that places it."""

    base: pathlib.Path
    mutation: str
    seed: int

    @property
    def name(self) -> str:
        """A file name that says what the case is."""
        return f"{self.mutation}-{self.seed}{self.base.suffix}"


def mutate(data: bytes, mutation: str, rng: random.Random) -> bytes:
    """``data`` damaged one way: bytes flipped, a run zeroed, cut short, or a chunk repeated.
    The first bytes are spared half the time, so that most cases reach the packets."""
    size = len(data)
    lo = 0 if rng.random() < 0.5 else min(size - 1, 512)
    buf = bytearray(data)
    if mutation == "flip":
        for _ in range(rng.randint(1, 24)):
            buf[rng.randrange(lo, size)] ^= 1 << rng.randrange(8)
    elif mutation == "zero":
        start = rng.randrange(lo, size)
        length = rng.randint(1, max(1, size // 10))
        buf[start:start + length] = bytes(len(buf[start:start + length]))
    elif mutation == "truncate":
        buf = buf[:rng.randrange(max(1, lo), size)]
    elif mutation == "duplicate":
        start = rng.randrange(lo, size)
        chunk = buf[start:start + rng.randint(16, max(16, size // 8))]
        at = rng.randrange(lo, size)
        buf[at:at] = chunk
    else:
        raise ValueError(f"unknown mutation {mutation!r}")
    return bytes(buf)


def cases(bases: list[pathlib.Path], count: int, seed: int = 0) -> list[Case]:
    """``count`` cases spread evenly over the base files and the mutations."""
    rng = random.Random(seed)
    return [Case(bases[i % len(bases)], _MUTATIONS[(i // len(bases)) % len(_MUTATIONS)],
                 rng.randrange(1 << 30)) for i in range(count)]


@dataclasses.dataclass
class Outcome:
    """What one case did: FFmpeg's result, ours, and what the checks found."""

    case: str
    ffmpeg_ok: bool
    ours_ok: bool
    hang: bool = False
    traceback: bool = False
    leftovers: list[str] = dataclasses.field(default_factory=list)
    lines: int = 0  # stderr lines of a refusal
    stderr: str = ""

    @property
    def problems(self) -> list[str]:
        """Every broken promise of this case, in words (none: the case passed)."""
        found = []
        if self.hang:
            found.append("hang")
        if self.traceback:
            found.append("traceback")
        if self.leftovers:
            found.append(f"left behind {self.leftovers}")
        if not self.ours_ok and not self.hang and not 1 <= self.lines <= 3:
            found.append(f"refused in {self.lines} lines")
        if self.ffmpeg_ok and not self.ours_ok:
            found.append("FFmpeg transcodes it, streamcolor does not")
        return found


def _prepare(case: Case, folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / case.name
    source.write_bytes(mutate(case.base.read_bytes(), case.mutation, random.Random(case.seed)))
    return source


def _ffmpeg_transcodes(source: pathlib.Path, folder: pathlib.Path, timeout: float) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "ffmpeg-out.mkv"
    try:
        done = _ffmpeg("-i", str(source), "-c:v", "libx264", "-preset", "ultrafast",
                       "-c:a", "copy", str(target), timeout=timeout)
    except subprocess.TimeoutExpired:
        ok = False
    else:
        ok = done.returncode == 0 and _has_video(target)
    shutil.rmtree(folder, ignore_errors=True)
    return ok


def _has_video(path: pathlib.Path) -> bool:
    """Whether FFmpeg's output holds a video frame (FFmpeg also succeeds with none)."""
    import av

    if not path.is_file():
        return False
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return any(p.size for p in container.demux(video=0))
    except (av.FFmpegError, IndexError, ValueError):
        return False


def _run_ours(argv: list[str], outcome: Outcome, timeout: float) -> None:
    command = [sys.executable, "-m", "streamcolor", *argv]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        outcome.hang = True
        err = expired.stderr or ""
        outcome.stderr = err.decode(errors="replace") if isinstance(err, bytes) else err
        return
    outcome.stderr = done.stderr
    outcome.ours_ok = done.returncode == 0
    outcome.traceback = "Traceback (most recent call last)" in done.stderr
    outcome.lines = len([line for line in done.stderr.splitlines() if line.strip()])


def run_case(case: Case, workdir: str | os.PathLike, model: str | os.PathLike, *,
             timeout: float = 60.0, clean: bool = True, extra: tuple[str, ...] = ()
             ) -> Outcome:
    """Damage ``case.base`` as the case says, transcode it with FFmpeg, colorize it with
    ``streamcolor colorize -q`` (a subprocess, as a user would; ``extra`` arguments added)
    and check the result."""
    folder = pathlib.Path(workdir) / case.name
    source = _prepare(case, folder / "in")
    ffmpeg_ok = _ffmpeg_transcodes(source, folder / "ffmpeg", timeout)
    outcome = Outcome(case.name, ffmpeg_ok=ffmpeg_ok, ours_ok=False)
    inside = source.parent
    _run_ours(["colorize", str(source), "-o", str(inside / "out.mkv"), "--model", str(model),
               "-q", *extra], outcome, timeout)
    _judge_leftovers(outcome, inside, source.name)
    if clean and not outcome.problems:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome


def _judge_leftovers(outcome: Outcome, folder: pathlib.Path, source: str) -> None:
    """Beside the input only the output may remain, and only after a success."""
    allowed = {source, "out.mkv"} if outcome.ours_ok else {source}
    outcome.leftovers = sorted({p.name for p in folder.iterdir()} - allowed)
    if outcome.ours_ok and not (folder / "out.mkv").is_file():
        outcome.leftovers.append("(no out.mkv after a success)")


def run_photo_case(case: Case, workdir: str | os.PathLike, model: str | os.PathLike, *,
                   timeout: float = 60.0, clean: bool = True) -> Outcome:
    """Damage a picture and run ``streamcolor image -q`` on it: colorized (as far as OpenCV
    decodes it) or refused in one to three lines; FFmpeg's verdict is not asked."""
    folder = pathlib.Path(workdir) / case.name
    source = _prepare(case, folder / "in")
    inside = source.parent
    target = f"out{case.base.suffix if case.base.suffix != '.webp' else '.png'}"
    outcome = Outcome(case.name, ffmpeg_ok=False, ours_ok=False)
    _run_ours(["image", str(source), "-o", str(inside / target), "--model", str(model), "-q"],
              outcome, timeout)
    allowed = {source.name, target} if outcome.ours_ok else {source.name}
    outcome.leftovers = sorted({p.name for p in inside.iterdir()} - allowed)
    if clean and not outcome.problems:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome

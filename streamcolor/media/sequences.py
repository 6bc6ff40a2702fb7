"""Image sequences: a film scanned to numbered pictures (``reel1_%06d.dpx``, TIFF, PNG, EXR,
JPEG), read as one video stream by FFmpeg's image2 demuxer. A sequence has no clock of its
own: its frames are timed at a rate the user gives (24 fps unless told).

The pattern names the pictures as FFmpeg does: ``%d`` for the number, ``%06d`` for a number
padded to six digits (``%%`` for a per cent sign). The first number may be anything; a gap in
the numbers is an error, because image2 would stop there without a word.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from fractions import Fraction

from ..errors import InputError, InputNotFoundError, OutputError

__all__ = ["DEFAULT_RATE", "Sequence", "find_sequence", "is_pattern", "is_sequence",
           "pattern_in", "picture_encoder"]

DEFAULT_RATE = Fraction(24)  # sound film; silent films were shot at 16-20 fps: --input-rate
_NUMBER = re.compile(r"%(0?)(\d*)d")


# The encoder of each picture format an output pattern may name.
# (Not EXR: its values are linear light by convention, and the colour made here is not.)
_PICTURE_ENCODERS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dpx": "dpx",
                     ".jpg": "mjpeg", ".jpeg": "mjpeg", ".bmp": "bmp"}


def is_pattern(path: str | os.PathLike) -> bool:
    """Whether ``path``'s name numbers pictures (one ``%d`` or ``%06d`` in it)."""
    return len(_NUMBER.findall(pathlib.Path(path).name.replace("%%", ""))) == 1


def is_sequence(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a pattern of numbered pictures rather than a file (a file that
    exists under that very name is a file)."""
    return is_pattern(path) and not pathlib.Path(path).exists()


def picture_encoder(path: str | os.PathLike) -> str:
    """The encoder for pictures named like ``path``, or an :class:`OutputError` naming the
    formats a sequence can be written in."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in _PICTURE_ENCODERS:
        raise OutputError(f"{path}: an image sequence is written as "
                          f"{', '.join(sorted(_PICTURE_ENCODERS))} pictures, not {suffix or '?'}")
    return _PICTURE_ENCODERS[suffix]


@dataclasses.dataclass(frozen=True)
class Sequence:
    """The pictures a pattern names: numbers ``first`` to ``first + count - 1``, no gap."""

    pattern: pathlib.Path
    first: int
    count: int

    def options(self, rate: Fraction | None) -> dict[str, str]:
        """image2's options: where the numbers start, and the rate the frames are timed at."""
        rate = rate or DEFAULT_RATE
        return {"start_number": str(self.first),
                "framerate": f"{rate.numerator}/{rate.denominator}"}


def find_sequence(path: str | os.PathLike) -> Sequence:
    """The sequence ``path`` names, or an :class:`InputError` saying why there is none."""
    pattern = pathlib.Path(path)
    folder = pattern.parent
    if not folder.is_dir():
        raise InputNotFoundError(f"input not found: {pattern} (no folder {folder})")
    matcher = _matcher(pattern.name)
    numbers = sorted(int(m.group(1)) for entry in os.scandir(folder)
                     if (m := matcher.fullmatch(entry.name)) and entry.is_file())
    if not numbers:
        raise InputNotFoundError(f"input not found: no pictures in {folder} match "
                                 f"{pattern.name}")
    first, last = numbers[0], numbers[-1]
    if len(numbers) != last - first + 1:
        missing = next(n for n, m in zip(range(first, last + 1), numbers, strict=False) if n != m)
        raise InputError(f"{pattern}: picture {_name(pattern.name, missing)} is missing (the "
                         f"sequence runs {_name(pattern.name, first)} to "
                         f"{_name(pattern.name, last)}); FFmpeg would stop there: fill the gap "
                         "or rename the pictures after it")
    return Sequence(pattern=pattern, first=first, count=len(numbers))


_NUMBERED = re.compile(r"(.*?)(\d+)(\.[A-Za-z0-9]+)")
_READABLE = (*_PICTURE_ENCODERS, ".exr")


def pattern_in(folder: str | os.PathLike) -> str | None:
    """The pattern of the numbered pictures in ``folder`` (the largest set sharing a name
    and a suffix: ``scans/reel1_%06d.dpx``), for a user who gave the folder; None if it holds
    fewer than two."""
    sets: dict[tuple[str, str], list[str]] = {}
    for entry in os.scandir(folder):
        if (m := _NUMBERED.fullmatch(entry.name)) and m.group(3).lower() in _READABLE:
            sets.setdefault((m.group(1), m.group(3)), []).append(m.group(2))
    if not sets:
        return None
    (stem, suffix), numbers = max(sets.items(), key=lambda item: len(item[1]))
    if len(numbers) < 2:
        return None
    widths = {len(n) for n in numbers}
    padded = len(widths) == 1 and any(n.startswith("0") for n in numbers)
    number = f"%0{widths.pop()}d" if padded else "%d"
    return str(pathlib.Path(folder) / f"{stem.replace('%', '%%')}{number}{suffix}")


def _matcher(name: str) -> re.Pattern:
    parts = re.split(r"(%%|%0?\d*d)", name)
    regex = ""
    for part in parts:
        if part == "%%":
            regex += "%"
        elif (m := _NUMBER.fullmatch(part)) and m.group(2):
            width = int(m.group(2))
            regex += rf"(\d{{{width}}})" if m.group(1) else rf"(\d{{1,{width}}})"
        elif m:
            regex += r"(\d+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _name(pattern: str, number: int) -> str:
    return _NUMBER.sub(lambda m: f"%{m.group(1)}{m.group(2)}d" % number,
                       pattern.replace("%%", "\0")).replace("\0", "%")

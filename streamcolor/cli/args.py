"""Value types of the command line's options: argparse ``type=`` callables that say what
is wrong with a value in one line."""

from __future__ import annotations

import argparse
import re
from fractions import Fraction

from ..color.guidance import HintPoint, parse_point

__all__ = ["bitrate", "frame_rate", "hint_point", "key_value", "positive", "seconds", "strength"]


def seconds(text: str) -> float:
    """``90``, ``1:30`` or ``00:01:30.5`` -> seconds."""
    if not re.fullmatch(r"(\d+:){0,2}\d+(\.\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time (seconds or HH:MM:SS.mmm)")
    value = 0.0
    for part in text.split(":"):
        value = value * 60 + float(part)
    return value


def frame_rate(text: str) -> Fraction:
    """``24``, ``23.976`` or ``24000/1001`` -> frames per second (positive)."""
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or rate <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate (24, 23.976, 24000/1001)")
    return rate


def bitrate(text: str) -> int:
    """``800k``, ``5M`` or bits per second -> bits per second."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate such as 800k or 5M")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def positive(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def strength(text: str) -> float:
    """A number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def hint_point(text: str) -> HintPoint:
    """``X,Y,#RRGGBB``: a colour hint at one pixel."""
    try:
        return parse_point(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None

"""Hints from files: a picture with alpha painted over a photo, and points, for ``--hints``;
reference pictures of video frames, for ``--reference``.

A hints file is a picture of the photo's size (as it displays: after EXIF orientation) with
an alpha channel; every pixel with alpha >= 128 is a hint of its colour. For a folder of
photos, a folder of hints files mirrors it: ``scans/a/b.jpg`` takes ``hints/a/b.png`` (or
``.webp``, ``.tif``, ``.tiff``, or the same name); a photo without one is colorized as usual.

A reference is a colour picture of one frame of a video (the frame coloured by hand, a colour
print of it, a still at another size). A single picture is frame 0; in a folder the last run
of digits in each file's stem is the 0-based frame index in display order (``000120.png``,
``ref_000120.png``).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

import cv2
import numpy as np

from ..color.guidance import HintPoint, Hints, from_bgra, with_points
from ..errors import InputError, InputNotFoundError

__all__ = ["HintSource", "hints_file_for", "read_references", "REFERENCE_SUFFIXES"]

HINT_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
REFERENCE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class HintSource:
    """Where one photo's hints come from: a hints file, points, or both."""

    file: pathlib.Path | None = None
    points: tuple[HintPoint, ...] = ()

    def load(self, width: int, height: int) -> Hints:
        """The hints for a photo of ``width`` x ``height``; InputError naming what is wrong."""
        hints = self._read_file(width, height) if self.file else Hints.empty(height, width)
        try:
            return with_points(hints, list(self.points))
        except ValueError as error:
            raise InputError(str(error)) from None

    def _read_file(self, width: int, height: int) -> Hints:
        path = self.file
        if not path.is_file():
            raise InputNotFoundError(f"hints file not found: {path}")
        picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # no EXIF rotation: as painted
        if picture is None:
            raise InputError(f"hints file {path} is not a picture OpenCV can read")
        if picture.shape[:2] != (height, width):
            raise InputError(f"hints file {path} is {picture.shape[1]}x{picture.shape[0]} but "
                             f"the photo is {width}x{height} (as displayed): paint the hints "
                             "on a layer of the photo's size")
        try:
            return from_bgra(picture if picture.ndim == 3 else np.atleast_3d(picture))
        except ValueError as error:
            raise InputError(f"hints file {path}: {error}") from None


def hints_file_for(photo: pathlib.Path, photos: pathlib.Path,
                   hints: pathlib.Path) -> pathlib.Path | None:
    """The hints file in the folder ``hints`` for ``photo`` under ``photos``, if there is one."""
    relative = photo.relative_to(photos)
    candidates = [hints / relative.with_suffix(s) for s in HINT_SUFFIXES] + [hints / relative]
    return next((c for c in candidates if c.is_file()), None)


def _reference_picture(path: pathlib.Path) -> np.ndarray:
    picture = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if picture is None:
        raise InputError(f"reference {path} is not a picture OpenCV can read")
    return picture


def _frame_index(path: pathlib.Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def read_references(spec: str | os.PathLike | dict) -> dict[int, np.ndarray]:
    """Frame index -> colour picture (BGR), from a picture (frame 0), a folder of pictures
    named by frame index, or a dict of index -> picture path or BGR array."""
    if isinstance(spec, dict):
        return {int(index): picture if isinstance(picture, np.ndarray)
                else _reference_picture(pathlib.Path(picture))
                for index, picture in spec.items()}
    path = pathlib.Path(spec)
    if not path.exists():
        raise InputNotFoundError(f"reference not found: {path}")
    if path.is_file():
        return {0: _reference_picture(path)}
    found: dict[int, pathlib.Path] = {}
    for file in sorted(p for p in path.iterdir() if p.suffix.lower() in REFERENCE_SUFFIXES):
        index = _frame_index(file)
        if index is None:
            continue
        if index in found:
            raise InputError(f"references {found[index].name} and {file.name} in {path} are "
                             f"both for frame {index}; keep one")
        found[index] = file
    if not found:
        raise InputError(f"no usable references in {path}: name each picture by its 0-based "
                         f"frame index, e.g. 000120.png ({', '.join(REFERENCE_SUFFIXES)})")
    return {index: _reference_picture(file) for index, file in found.items()}

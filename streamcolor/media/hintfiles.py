"""Hints from files: a picture with alpha painted over a photo, and points, for ``--hints``.

A hints file is a picture of the photo's size (as it displays: after EXIF orientation) with
an alpha channel; every pixel with alpha >= 128 is a hint of its colour. For a folder of
photos, a folder of hints files mirrors it: ``scans/a/b.jpg`` takes ``hints/a/b.png`` (or
``.webp``, ``.tif``, ``.tiff``, or the same name); a photo without one is colorized as usual.
"""

from __future__ import annotations

import dataclasses
import pathlib

import cv2
import numpy as np

from ..color.guidance import HintPoint, Hints, from_bgra, with_points
from ..errors import InputError, InputNotFoundError

__all__ = ["HintSource", "hints_file_for"]

HINT_SUFFIXES = (".png", ".webp", ".tif", ".tiff")


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

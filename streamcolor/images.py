"""Still images: one file or a folder tree, colorized with the same colour path as video.

The picture's luma (BT.601 full range, as JPEG defines it) is kept; chroma comes from the
model at full resolution. Output keeps the input's pixel size, bit depth and alpha channel,
displays the way the input does (EXIF orientation applied), and carries EXIF, the ICC
profile and the resolution (DPI) where its format holds them (:mod:`.photo_meta`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from .arrays import compose, picture_spec, split_luma
from .color.lab import model_input
from .errors import InputError, InputNotFoundError, OutputError
from .media.atomic import temporary_beside
from .media.photo_meta import PhotoMeta, encode_photo, read_photo
from .media.sinks import check_output_path
from .runtime import ModelRunner

__all__ = ["IMAGE_SUFFIXES", "colorize_image", "colorize_images", "find_images"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _read(path: pathlib.Path) -> tuple[np.ndarray, PhotoMeta]:
    if not path.is_file():
        raise InputNotFoundError(f"input not found: {path}")
    try:
        picture, meta = read_photo(path)
    except cv2.error:
        picture, meta = None, PhotoMeta()
    if picture is None or picture.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path} is not an image OpenCV can read (8 or 16 bits per channel)")
    return picture, meta


def _write(picture: np.ndarray, output: pathlib.Path, meta: PhotoMeta) -> None:
    tmp = temporary_beside(output)
    reason = "OpenCV cannot write that format"
    try:
        try:
            ok, data = encode_photo(picture, output.suffix, meta)
        except cv2.error as error:
            ok, reason = False, str(error).strip().splitlines()[-1]
        if not ok:
            raise OutputError(f"cannot write {output}: {reason} (try .png)")
        tmp.write_bytes(data)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def _colorize_batch(runner: ModelRunner, pairs: list[tuple[pathlib.Path, pathlib.Path]]) -> None:
    pictures, metas = zip(*(_read(source) for source, _ in pairs), strict=True)
    parts = [split_luma(p) for p in pictures]
    specs = [picture_spec(p) for p in pictures]
    size = runner.input_size
    lightness = np.stack([model_input(luma, size, spec)
                          for (luma, _), spec in zip(parts, specs, strict=True)])
    ab = runner.run(lightness[:, None])
    for (_, target), (luma, alpha), spec, colour, meta in zip(pairs, parts, specs, ab, metas,
                                                              strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(compose(luma, colour, alpha, spec), target, meta)


def colorize_image(input: str | os.PathLike, output: str | os.PathLike, *,
                   runner: ModelRunner) -> None:
    """Colorize one image file into ``output`` (format from its extension)."""
    source, target = pathlib.Path(input), pathlib.Path(output)
    check_output_path(target, [source])
    _colorize_batch(runner, [(source, target)])


def find_images(folder: pathlib.Path) -> Iterator[pathlib.Path]:
    """Image files under ``folder``, recursively, in a stable order."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def colorize_images(input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                    runner: ModelRunner, batch_size: int = 8, suffix: str | None = None,
                    on_progress: Callable[[int, int], None] | None = None) -> int:
    """Colorize every image under ``input_dir`` into the same relative path under ``output_dir``.

    ``suffix`` (e.g. ``".png"``) changes the output format; by default each output keeps its
    input's. Returns the number of images written.
    """
    source_dir, target_dir = pathlib.Path(input_dir), pathlib.Path(output_dir)
    if not source_dir.is_dir():
        raise InputNotFoundError(f"input folder not found: {source_dir}")
    if target_dir.resolve() == source_dir.resolve():
        raise OutputError("output folder is the input folder; choose another output folder")
    pairs = [(p, target_dir / p.relative_to(source_dir)) for p in find_images(source_dir)]
    if suffix:
        pairs = [(s, t.with_suffix(suffix)) for s, t in pairs]
    if not pairs:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {source_dir}")
    target_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(pairs), batch_size):
        _colorize_batch(runner, pairs[start : start + batch_size])
        if on_progress:
            on_progress(min(start + batch_size, len(pairs)), len(pairs))
    return len(pairs)

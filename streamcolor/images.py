"""Still images: one file or a folder tree, colorized with the same colour path as video.

The picture's luma (BT.601 full range, as JPEG defines it) is kept; chroma comes from the
model at full resolution. Output keeps the input's pixel size, bit depth and alpha channel,
displays the way the input does (EXIF orientation applied), and carries EXIF, the ICC
profile and the resolution (DPI) where its format holds them (:mod:`.photo_meta`).
"""

from __future__ import annotations

import logging
import os
import pathlib
import struct
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from .arrays import compose, picture_spec, split_luma
from .color.guidance import HintPoint, batch_at_model_size, honour, spread
from .color.lab import model_input
from .errors import InputError, InputNotFoundError, OutputError, StageError
from .media.atomic import temporary_beside
from .media.hintfiles import HintSource, hints_file_for
from .media.photo_meta import PhotoMeta, encode_photo, read_photo
from .media.sinks import check_output_path
from .runtime import ModelRunner

__all__ = ["IMAGE_SUFFIXES", "check_gif", "colorize_animation", "colorize_image",
           "colorize_images", "colorize_path", "find_images", "is_animated",
           "other_files", "output_name"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".webm", ".mp4", ".mkv", ".mov")  # an animated GIF can go to
ANIMATION_SUFFIX = ".webm"  # an animated GIF's output in folder mode

_Pair = tuple[pathlib.Path, pathlib.Path]
_FILE_ERRORS = (InputError, OSError, StageError)  # one file failed; the next may not
_log = logging.getLogger(__name__)


def _read(path: pathlib.Path) -> tuple[np.ndarray, PhotoMeta]:
    if not path.is_file():
        raise InputNotFoundError(f"input not found: {path}")
    quiet = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a damaged file's
    try:  # warnings are OpenCV's own lines on stderr: the refusal below says it in one
        picture, meta = read_photo(path)
    except (cv2.error, ValueError, IndexError, KeyError, OverflowError, struct.error):
        picture, meta = None, PhotoMeta()  # damaged pixels or metadata
    finally:
        cv2.utils.logging.setLogLevel(quiet)
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


def _colorize_batch(runner: ModelRunner, pairs: list[tuple[pathlib.Path, pathlib.Path]],
                    hints: list[HintSource | None] | None = None) -> None:
    if hints and any(hints):
        runner.require_guidance()
    pictures, metas = zip(*(_read(source) for source, _ in pairs), strict=True)
    given = [h.load(p.shape[1], p.shape[0]) if h else None
             for h, p in zip(hints or [None] * len(pairs), pictures, strict=True)]
    parts = [split_luma(p) for p in pictures]
    specs = [picture_spec(p) for p in pictures]
    size = runner.input_size
    lightness = np.stack([model_input(luma, size, spec)
                          for (luma, _), spec in zip(parts, specs, strict=True)])
    hints_in = batch_at_model_size(given, size)
    ab = runner.run(lightness[:, None], *([hints_in] if hints_in is not None else []))
    if hints_in is not None:
        ab = honour(spread(ab, hints_in, lightness[:, None]), hints_in)
    work = list(zip(pairs, pictures, parts, specs, ab, metas, strict=True))
    del pictures, parts  # so that each picture is let go once it is written
    while work:
        (_, target), picture, (luma, alpha), spec, colour, meta = work.pop(0)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(compose(luma, colour, alpha, spec, out=_colour_over(picture)), target, meta)


def _colour_over(picture: np.ndarray) -> np.ndarray | None:
    """The picture itself where its colour version can be written over it (BGR or BGRA, whose
    luma is taken first), else None: a large scan then costs one picture, not two."""
    bgr = picture.ndim == 3 and picture.shape[2] in (3, 4)
    return picture if bgr and picture.flags.writeable else None


def colorize_image(input: str | os.PathLike, output: str | os.PathLike, *,
                   runner: ModelRunner, hints: str | os.PathLike | None = None,
                   hint_points: list[HintPoint] | tuple[HintPoint, ...] = ()) -> None:
    """Colorize one image file into ``output`` (format from its extension). An animated GIF
    is refused here (:func:`colorize_path` sends it through the video path).

    ``hints`` (a guided model): a picture with alpha of the photo's size, every pixel with
    alpha >= 128 a hint of its colour; ``hint_points`` add single pixels
    (:class:`~streamcolor.color.guidance.HintPoint`)."""
    source, target = pathlib.Path(input), pathlib.Path(output)
    check_gif(source, target)
    check_output_path(target, [source])
    wanted = hints is not None or hint_points
    given = HintSource(pathlib.Path(hints) if hints else None, tuple(hint_points))
    _colorize_batch(runner, [(source, target)], [given] if wanted else None)


def find_images(folder: pathlib.Path) -> Iterator[pathlib.Path]:
    """Image files under ``folder``, recursively, in a stable order (GIFs not included)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def is_animated(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a GIF of more than one frame."""
    path = pathlib.Path(path)
    if path.suffix.lower() != ".gif":
        return False
    try:
        return cv2.imcount(str(path)) > 1
    except cv2.error:
        return False  # unreadable: reading it as a picture says why


def output_name(source: pathlib.Path) -> str:
    """The file name ``source`` is colorized into inside an output folder: its own, except a
    GIF's, which cannot hold the colours: ``.webm`` if animated, else ``.png``."""
    if source.suffix.lower() != ".gif":
        return source.name
    return source.stem + (ANIMATION_SUFFIX if is_animated(source) else ".png")


def check_gif(source: pathlib.Path, target: pathlib.Path) -> None:
    """Raise :class:`OutputError` if ``target`` is a GIF, or a still format for an animated GIF."""
    if target.suffix.lower() == ".gif":
        raise OutputError(f"cannot write {target}: GIF's 256 colours would band the colours and "
                          f"change the brightness; use .png (or .webm, .mp4, .mkv if animated)")
    if is_animated(source) and target.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"{source} is an animated GIF and {target} holds one picture; use "
                          f"{target.with_suffix(ANIMATION_SUFFIX)} (or .mp4, .mkv): every frame, "
                          f"delays kept")


def colorize_animation(input: str | os.PathLike, output: str | os.PathLike, *,
                       runner: ModelRunner, batch_size: int = 8) -> int:
    """Colorize every frame of an animated GIF (or any video file) into the video ``output``
    (``.webm``, ``.mp4``, ``.mkv``), keeping each frame's timestamp. Returns the frame count."""
    from .color.temporal import Stabilizer
    from .config import EncodeConfig, TemporalConfig
    from .live.outputs import open_outputs
    from .media.sources import FileSource
    from .pipeline import Pipeline

    source, target = pathlib.Path(input), pathlib.Path(output)
    check_output_path(target, [source])
    with FileSource(source) as video:
        sink = open_outputs([str(target)], video, EncodeConfig())
        try:
            run = Pipeline(video, runner, sink, batch_size=batch_size,
                           stabilizer=Stabilizer(TemporalConfig()))
        except BaseException:
            sink.abort()
            raise
        return run.run().frames


def colorize_path(input: str | os.PathLike, output: str | os.PathLike, *,
                  runner: ModelRunner, batch_size: int = 8,
                  hints: str | os.PathLike | None = None,
                  hint_points: list[HintPoint] | tuple[HintPoint, ...] = ()) -> None:
    """Colorize one picture (with its hints, see :func:`colorize_image`), or an animated GIF
    through the video path (see :func:`check_gif`)."""
    source, target = pathlib.Path(input), pathlib.Path(output)
    check_gif(source, target)
    if is_animated(source):
        if hints or hint_points:
            raise InputError(f"{source} is an animated GIF: hints are for one picture; "
                             "colorize it without them")
        colorize_animation(source, target, runner=runner, batch_size=batch_size)
    else:
        colorize_image(source, target, runner=runner, hints=hints, hint_points=hint_points)


def other_files(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Files under ``folder`` that :func:`colorize_images` leaves alone (not pictures)."""
    return [p for p in sorted(pathlib.Path(folder).rglob("*"))
            if p.is_file() and p.suffix.lower() not in (*IMAGE_SUFFIXES, ".gif")]


def _folder_work(source_dir: pathlib.Path, target_dir: pathlib.Path,
                 suffix: str | None) -> tuple[list[_Pair], list[_Pair]]:
    """(pictures, animated GIFs) under ``source_dir``, each with its output path."""
    pictures, animations = [], []
    for path in sorted(source_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (*IMAGE_SUFFIXES, ".gif"):
            continue
        target = target_dir / path.relative_to(source_dir).parent / output_name(path)
        if is_animated(path):
            animations.append((path, target))
        else:
            pictures.append((path, target.with_suffix(suffix) if suffix else target))
    return pictures, animations


def _attempt(work: Callable[[list[_Pair]], None], pairs: list[_Pair], on_error: str,
             on_failure: Callable[[pathlib.Path, Exception], None] | None) -> int:
    """Run ``work`` on ``pairs``; returns how many were written. With ``on_error="continue"`` a
    failed batch is retried one file at a time and each file that fails is reported."""
    try:
        work(pairs)
        return len(pairs)
    except _FILE_ERRORS as error:
        if on_error == "stop":
            raise
        if len(pairs) > 1:
            return sum(_attempt(work, [pair], on_error, on_failure) for pair in pairs)
        if on_failure is None:
            _log.warning("not colorized: %s", error if str(pairs[0][0]) in str(error)
                         else f"{pairs[0][0]}: {error}")
        else:
            on_failure(pairs[0][0], error)
        return 0


def colorize_images(input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                    runner: ModelRunner, batch_size: int = 8, suffix: str | None = None,
                    on_progress: Callable[[int, int], None] | None = None,
                    on_error: str = "stop",
                    on_failure: Callable[[pathlib.Path, Exception], None] | None = None,
                    hints_dir: str | os.PathLike | None = None) -> int:
    """Colorize every image under ``input_dir`` into the same relative path under ``output_dir``
    (created if missing).

    ``suffix`` (e.g. ``".png"``) changes the output format of pictures; by default each keeps
    its input's. GIFs cannot hold the colours: a single-frame GIF becomes a ``.png``, an
    animated one a ``.webm`` through the video path (every frame, delays kept).
    ``on_error="stop"`` (the default) raises the first file's error; ``"continue"`` goes on
    with the rest and hands each file that failed, with its error, to ``on_failure`` (logged
    as a warning if None). ``hints_dir`` (a guided model) mirrors ``input_dir`` with hints
    files (:mod:`streamcolor.media.hintfiles`); pictures without one get none. Returns the
    number of files written.
    """
    source_dir, target_dir = pathlib.Path(input_dir), pathlib.Path(output_dir)
    if hints_dir is not None:
        hints_dir = pathlib.Path(hints_dir)
        if not hints_dir.is_dir():
            raise InputNotFoundError(f"hints folder not found: {hints_dir}")
        runner.require_guidance()
    if not source_dir.is_dir():
        raise InputNotFoundError(f"input folder not found: {source_dir}")
    if target_dir.resolve() == source_dir.resolve():
        raise OutputError("output folder is the input folder; choose another output folder")
    if on_error not in ("stop", "continue"):
        raise ValueError(f"on_error must be 'stop' or 'continue', not {on_error!r}")
    pictures, animations = _folder_work(source_dir, target_dir, suffix)
    if not pictures and not animations:
        raise InputError(f"no images ({', '.join((*IMAGE_SUFFIXES, '.gif'))}) under {source_dir}")
    target_dir.mkdir(parents=True, exist_ok=True)

    def pictures_work(pairs: list[_Pair]) -> None:
        hints = None if hints_dir is None else [
            HintSource(found) if (found := hints_file_for(s, source_dir, hints_dir)) else None
            for s, _ in pairs]
        _colorize_batch(runner, pairs, hints)

    chunks = [(pictures[i : i + batch_size], pictures_work)
              for i in range(0, len(pictures), batch_size)]
    chunks += [([pair], lambda pairs: _animation_pair(runner, pairs[0], batch_size))
               for pair in animations]
    total, done, written = len(pictures) + len(animations), 0, 0
    for pairs, work in chunks:
        written += _attempt(work, pairs, on_error, on_failure)
        done += len(pairs)
        if on_progress:
            on_progress(done, total)
    return written


def _animation_pair(runner: ModelRunner, pair: _Pair, batch_size: int) -> None:
    pair[1].parent.mkdir(parents=True, exist_ok=True)
    colorize_animation(pair[0], pair[1], runner=runner, batch_size=batch_size)

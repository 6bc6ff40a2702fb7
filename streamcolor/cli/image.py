"""``streamcolor image``: a photo, an animated GIF, or a folder of them; colour hints."""

from __future__ import annotations

import os
import pathlib
import sys
import time

from ..errors import describe
from ..redact import redact
from .args import hint_point
from .options import add_common, add_model_options

__all__ = ["add_image_parser", "run_image"]


def add_image_parser(commands) -> None:
    """Add ``image INPUT -o OUTPUT`` with its options."""
    image = commands.add_parser("image", help="colorize an image, or a folder of them",
                                description="Colorize an image file, or every image under a "
                                "folder (recursively, keeping relative paths and names).")
    image.add_argument("input", metavar="INPUT")
    image.add_argument("-o", "--output", required=True, metavar="OUTPUT")
    image.add_argument("--format", metavar="EXT",
                       help="output format for folders, e.g. png (default: the input's)")
    image.add_argument("--on-error", choices=("continue", "stop"), default="continue",
                       help="folders: when a file cannot be colorized, name it and go on with "
                       "the rest (continue, the default; exit status 1), or stop there")
    hints = image.add_argument_group("colour hints (a guided model, such as the bundled one)")
    hints.add_argument("--hints", metavar="PATH",
                       help="a picture with alpha of the photo's size (as displayed): every "
                       "pixel with alpha >= 128 is a hint of its colour; for a folder of "
                       "photos, a folder of such files with the same relative names")
    hints.add_argument("--hint", type=hint_point, action="append", default=[],
                       metavar="X,Y,#RRGGBB", help="one pixel's colour (repeatable)")
    add_model_options(image)
    add_common(image)


class _ImageReport:
    """What ``image`` says on stderr: progress (one line, redrawn), each file that failed, the
    files left alone, and the summary."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.open_line, self.failed = quiet, False, []

    def progress(self, done: int, total: int) -> None:
        if not self.quiet:
            print(f"\r{done}/{total} images", end="", file=sys.stderr)
            self.open_line = True

    def failure(self, path: pathlib.Path, error: Exception) -> None:
        self.failed.append(path)
        message = describe(error)
        if str(path) not in message:
            message = f"{path}: {message}"
        self.end_line()
        print(redact(f"streamcolor: error: {message}"), file=sys.stderr)

    def end_line(self) -> None:
        if self.open_line:
            print(file=sys.stderr)
            self.open_line = False

    def left_alone(self, folder: pathlib.Path, others: list[pathlib.Path]) -> None:
        if self.quiet or not others:
            return
        names = [str(p.relative_to(folder)) for p in others[:3]]
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        print(f"left {len(others)} file{'s' * (len(others) != 1)} that "
              f"{'is not an image' if len(others) == 1 else 'are not images'}: "
              f"{', '.join(names)}{more}", file=sys.stderr)


def _image_target(source: pathlib.Path, output: str) -> pathlib.Path:
    """A single file's output: ``output``, or inside it if it is a folder (a trailing slash
    names a folder, created if missing)."""

    from ..images import output_name

    target = pathlib.Path(output)
    if output.endswith(("/", os.sep)) and not target.exists():
        target.mkdir(parents=True)
    return target / output_name(source) if target.is_dir() else target


def run_image(args) -> int:
    """Run ``image``: one picture (or animated GIF), or a folder of them."""
    from ..images import colorize_images, colorize_path, other_files
    from ..runtime import ModelRunner

    source = pathlib.Path(args.input)
    if source.is_dir() and args.hint:
        args.usage_error("--hint names a pixel of one photo; for a folder give --hints FOLDER")
    if source.is_dir() and args.hints and not pathlib.Path(args.hints).is_dir():
        args.usage_error(f"for a folder of photos --hints is a folder of hints files; "
                         f"{args.hints} is not a folder")
    runner = ModelRunner(args.model, provider=args.provider, precision=args.precision)
    started, report = time.perf_counter(), _ImageReport(args.quiet)
    if source.is_dir():
        suffix = "." + args.format.lstrip(".") if args.format else None
        try:
            count = colorize_images(source, args.output, runner=runner,
                                    batch_size=args.batch_size or 8, suffix=suffix,
                                    on_progress=report.progress, on_error=args.on_error,
                                    on_failure=report.failure, hints_dir=args.hints)
        finally:
            report.end_line()  # an error or Ctrl-C starts on a line of its own
        report.left_alone(source, other_files(source))
    else:
        colorize_path(source, _image_target(source, args.output), runner=runner,
                      batch_size=args.batch_size or 8, hints=args.hints, hint_points=args.hint)
        count = 1
    took = f"{time.perf_counter() - started:.1f} s ({runner.provider}) -> {args.output}"
    if report.failed:
        print(f"{count} colorized, {len(report.failed)} failed in {took}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"colorized {count} image{'s' * (count != 1)} in {took}", file=sys.stderr)
    return 0

"""The ``streamcolor`` command line. The only module that prints.

Exit status: 0 done, 1 error (one line on stderr; a traceback with --debug), 2 bad usage,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Either way no partial output is left.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import re
import signal
import sys
import time

from . import __version__
from .api import colorize_file
from .config import EncodeConfig, ModelConfig, PipelineConfig
from .errors import StreamcolorError, describe
from .pipeline import Progress, Summary

__all__ = ["main"]


def _seconds(text: str) -> float:
    """``90``, ``1:30`` or ``00:01:30.5`` -> seconds."""
    if not re.fullmatch(r"(\d+:){0,2}\d+(\.\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time (seconds or HH:MM:SS.mmm)")
    value = 0.0
    for part in text.split(":"):
        value = value * 60 + float(part)
    return value


def _bitrate(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate such as 800k or 5M")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="ONNX file, or a model name from `streamcolor models list`")
    group.add_argument("--provider", choices=("auto", "tensorrt", "cuda", "cpu"), default="auto",
                       help="onnxruntime execution provider (default: auto, the fastest here)")
    group.add_argument("--batch-size", type=_positive, default=8, metavar="N",
                       help="frames per model call (default: 8)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument("--debug", action="store_true", help="tracebacks and FFmpeg's log")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="streamcolor",
                                     description="Colorize black-and-white video and images.")
    parser.add_argument("--version", action="version", version=f"streamcolor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    video = commands.add_parser("colorize", help="colorize a video file",
                                description="Colorize the video of INPUT into OUTPUT; audio, "
                                "subtitles, timestamps and metadata are copied unchanged.")
    video.add_argument("input", metavar="INPUT")
    video.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                       help="output file; its extension picks the container")
    _add_model_options(video)
    enc = video.add_argument_group("encoding")
    enc.add_argument("--codec", default="libx264", help="video encoder (default: libx264)")
    quality = enc.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=float, help="constant quality (default for x264: 18)")
    quality.add_argument("--bitrate", type=_bitrate, help="target bitrate, e.g. 5M")
    enc.add_argument("--preset", help="encoder preset, e.g. slow, medium, veryfast")
    enc.add_argument("--encoder-option", type=_key_value, action="append", default=[],
                     metavar="KEY=VALUE", help="any encoder option; repeatable")
    span = video.add_argument_group("input")
    span.add_argument("--start", type=_seconds, help="start at this time (seconds or HH:MM:SS)")
    span.add_argument("--duration", type=_seconds, help="colorize this long")
    span.add_argument("--on-decode-error", choices=("stop", "skip"), default="stop",
                      help="damaged input: stop and name the position (default), or skip "
                      "past it and count")
    _add_common(video)

    image = commands.add_parser("image", help="colorize an image, or a folder of them",
                                description="Colorize an image file, or every image under a "
                                "folder (recursively, keeping relative paths and names).")
    image.add_argument("input", metavar="INPUT")
    image.add_argument("-o", "--output", required=True, metavar="OUTPUT")
    image.add_argument("--format", metavar="EXT",
                       help="output format for folders, e.g. png (default: the input's)")
    _add_model_options(image)
    _add_common(image)
    _add_models_command(commands)
    return parser


def _add_models_command(commands) -> None:
    try:
        from .zoo.cli import add_models_parser
    except ImportError:  # the registry is not installed in this build
        return
    add_models_parser(commands)


class _ProgressBar:
    """Frames, fps and ETA on one line of stderr (a line every 10 s when not a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 10:
            return
        self.last = now
        total = progress.total
        done = f"{progress.frames}/{total}" if total else f"{progress.frames}"
        eta = ""
        if total and progress.fps > 0 and total >= progress.frames:
            eta = f"  ETA {_clock((total - progress.frames) / progress.fps)}"
        percent = f"{100 * progress.frames / total:5.1f}%  " if total else ""
        line = f"{percent}frames {done}  {progress.fps:6.1f} fps{eta}"
        self.stream.write(f"\r{line:<60}" if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 60 + "\r")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _summary_line(summary: Summary, output: str) -> str:
    errors = summary.decode_errors
    skipped = f", {errors} decode error{'s' * (errors != 1)} skipped" if errors else ""
    return (f"colorized {summary.frames} frames in {summary.seconds:.1f} s "
            f"({summary.fps:.1f} fps, {summary.provider}){skipped} -> {output}")


def _run_colorize(args) -> int:
    quiet = args.quiet
    bar = None if quiet else _ProgressBar()

    def announce(runner, sink) -> None:
        if not quiet:
            c = runner.contract
            print(f"model {runner.path.name} ({c.input_kind} -> {c.output_kind}, "
                  f"{runner.input_size} px) on {runner.provider}", file=sys.stderr)
            for note in sink.notes:
                print(f"note: {note}", file=sys.stderr)

    try:
        summary = colorize_file(
            args.input, args.output,
            model=ModelConfig(model=args.model, provider=args.provider,
                              batch_size=args.batch_size),
            encode=EncodeConfig(codec=args.codec, crf=args.crf, bitrate=args.bitrate,
                                preset=args.preset, options=tuple(args.encoder_option)),
            pipeline=PipelineConfig(start=args.start, duration=args.duration,
                                    on_decode_error=args.on_decode_error),
            on_progress=bar, on_start=announce)
    finally:
        if bar:
            bar.close()
    if not quiet:
        print(_summary_line(summary, args.output), file=sys.stderr)
    return 0


def _run_image(args) -> int:
    from .images import colorize_image, colorize_images
    from .runtime import ModelRunner

    source = pathlib.Path(args.input)
    runner = ModelRunner(args.model, provider=args.provider)
    started = time.perf_counter()
    if source.is_dir():
        suffix = "." + args.format.lstrip(".") if args.format else None
        report = None if args.quiet else (
            lambda done, total: print(f"\r{done}/{total} images", end="", file=sys.stderr))
        count = colorize_images(source, args.output, runner=runner, batch_size=args.batch_size,
                                suffix=suffix, on_progress=report)
        if not args.quiet:
            print(file=sys.stderr)
    else:
        target = pathlib.Path(args.output)
        if target.is_dir():
            target = target / source.name
        colorize_image(source, target, runner=runner)
        count = 1
    if not args.quiet:
        print(f"colorized {count} image{'s' * (count != 1)} in "
              f"{time.perf_counter() - started:.1f} s ({runner.provider}) -> {args.output}",
              file=sys.stderr)
    return 0


def _dispatch(args) -> int:
    if args.command == "colorize":
        return _run_colorize(args)
    if args.command == "image":
        return _run_image(args)
    from .zoo.cli import run_models_command

    return run_models_command(args)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the run unwinds and cleans up."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_unwinds():
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "debug", False):
        import av.logging

        av.logging.set_level(av.logging.VERBOSE)
    try:
        with _sigterm_unwinds():
            return _dispatch(args)
    except KeyboardInterrupt:
        print("\ninterrupted; no partial file was left behind", file=sys.stderr)
        return 130
    except _Terminated:
        print("\nterminated; no partial file was left behind", file=sys.stderr)
        return 143
    except (StreamcolorError, OSError) as error:
        if getattr(args, "debug", False):
            raise
        print(f"streamcolor: error: {describe(error)}", file=sys.stderr)
        return 1

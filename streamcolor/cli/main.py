"""The ``streamcolor`` command line: the parser, the commands, the exit status.

Exit status: 0 done, 1 error (one line on stderr; a traceback with --debug), 2 bad usage,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Either way no partial output is left.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from .. import __version__
from ..errors import StreamcolorError, describe
from ..redact import RedactingFilter, redact
from .args import bitrate, frame_rate, key_value, positive, seconds, strength
from .colorize import run_single_pass
from .image import add_image_parser, run_image
from .jobs import add_job_options, run_job_command, wants_job
from .options import add_common, add_model_options

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="streamcolor",
                                     description="Colorize black-and-white video and images.")
    parser.add_argument("--version", action="version", version=f"streamcolor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_colorize_parser(commands)
    add_image_parser(commands)
    _add_models_command(commands)
    from .bench import add_bench_parser
    from .eval import add_eval_parser

    add_bench_parser(commands)
    add_eval_parser(commands)
    from .serve import add_serve_parser

    add_serve_parser(commands)
    doctor = commands.add_parser("doctor", help="what this machine offers (GPU, libraries, "
                                 "codecs) and the one command that fixes each gap")
    doctor.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    return parser


def _add_colorize_parser(commands) -> None:
    video = commands.add_parser("colorize", help="colorize a video file or a live source",
                                description="Colorize the video of INPUT into OUTPUT; audio, "
                                "subtitles, timestamps and metadata are copied unchanged. "
                                "INPUT may also be a URL (rtsp, rtmp, srt, udp, http/HLS), a "
                                "camera (/dev/video0, avfoundation:0, dshow:video=NAME) or "
                                "lavfi:GRAPH; those run in live mode.")
    video.add_argument("input", metavar="INPUT", nargs="+",
                       help="a file (several files: -o names a folder), URL, camera or lavfi:")
    video.add_argument("-o", "--output", action="append", default=[], metavar="OUTPUT",
                       help="file (extension picks the container), .m3u8 (HLS), rtsp://, "
                       "rtmp://, udp://, srt://; repeatable")
    video.add_argument("--preview", action="store_true", help="show the result in a window")
    add_model_options(video)
    _add_encoding_options(video)
    span = video.add_argument_group("input")
    span.add_argument("--start", type=seconds, help="start at this time (seconds or HH:MM:SS)")
    span.add_argument("--duration", type=seconds, help="colorize this long")
    span.add_argument("--input-rate", type=frame_rate, metavar="FPS",
                      help="the rate an image sequence's pictures are shown at (INPUT like "
                      "scans/reel1_%%06d.dpx; default 24; silent films: 16-20)")
    span.add_argument("--on-decode-error", choices=("stop", "skip"), default="skip",
                      help="damaged input: colorize what can be read, one warning per "
                      "damaged place (skip, the default, as FFmpeg), or stop at the first "
                      "and name its position")
    span.add_argument("--strict", action="store_const", const="stop", dest="on_decode_error",
                      help="the same as --on-decode-error stop")
    span.add_argument("--hwaccel", choices=("auto", "cuda", "none"), default="auto",
                      help="decode files on the GPU (NVDEC): auto where it works (default), "
                      "cuda or fail, none")
    _add_temporal_options(video)
    _add_live_options(video)
    add_job_options(video)
    add_common(video)


def _add_temporal_options(video) -> None:
    group = video.add_argument_group("temporal stability")
    group.add_argument("--temporal", choices=("on", "off"), default="on",
                       help="carry colour along the motion so it does not flicker (default: "
                       "on); off colorizes every frame on its own")
    group.add_argument("--temporal-strength", type=strength, default=0.5, metavar="0..1",
                       help="how much carried colour is kept: more is steadier, less follows "
                       "the model sooner (default: 0.5)")
    guide = video.add_argument_group("colour guidance (a guided model)")
    guide.add_argument("--reference", metavar="PATH",
                       help="a colour picture of frame 0, or a folder of pictures named by "
                       "0-based frame index (000120.png): their colour is carried through "
                       "their shots")
    guide.add_argument("--keyframe-model", metavar="NAME_OR_PATH",
                       help="a model (e.g. a stronger one from `streamcolor models list`) that "
                       "colours the first frame of every shot, for the guided model to carry")
    guide.add_argument("--keyframe-seconds", type=seconds, default=10.0, metavar="S",
                       help="with --keyframe-model, also a keyframe every S seconds within a "
                       "shot (default: 10; 0: only at cuts)")


def _add_encoding_options(video) -> None:
    enc = video.add_argument_group("encoding")
    enc.add_argument("--codec", help="video encoder (default: per container: libvpx-vp9 for "
                     ".webm, libx264 for .mp4/.mov/.mkv and streams, else FFmpeg's default)")
    quality = enc.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=float, help="constant quality (default for x264: 18)")
    quality.add_argument("--bitrate", type=bitrate, help="target bitrate, e.g. 5M")
    enc.add_argument("--preset", help="encoder preset, e.g. slow, medium, veryfast")
    enc.add_argument("--encoder-option", type=key_value, action="append", default=[],
                     metavar="KEY=VALUE", help="any encoder option; repeatable")
    copies = enc.add_mutually_exclusive_group()
    copies.add_argument("--copy-strict", action="store_const", const="strict",
                        dest="incompatible", default="convert",
                        help="a stream the output container cannot hold is an error instead "
                        "of being converted (e.g. AAC -> Opus in .webm, SubRip -> mov_text "
                        "in .mp4)")
    copies.add_argument("--drop-incompatible", action="store_const", const="drop",
                        dest="incompatible", help="leave out streams the output container can "
                        "hold neither as they are nor converted (e.g. bitmap subtitles in .mp4)")


def _add_live_options(video) -> None:
    live = video.add_argument_group("live")
    live.add_argument("--live", action="store_true",
                      help="live mode for any input (automatic for URLs, cameras and lavfi)")
    live.add_argument("--max-latency", type=float, default=500, metavar="MS",
                      help="latency budget: batches close after half of it (default: 500)")
    live.add_argument("--frames", type=positive, metavar="N", help="stop after N frames")
    live.add_argument("--rtsp-transport", choices=("tcp", "udp"), default="tcp")
    live.add_argument("--metrics-json", metavar="PATH",
                      help="append live metrics to PATH as JSON lines")


def _add_models_command(commands) -> None:
    try:
        from .models import add_models_parser
    except ImportError:  # the registry is not installed in this build
        return
    add_models_parser(commands)


def _run_colorize(args) -> int:
    if wants_job(args):
        return run_job_command(args, args.usage_error)
    return run_single_pass(args)


def _run_doctor(args) -> int:
    import json

    from ..diagnostics.doctor import collect, cpu_path_works, render

    report = collect()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if cpu_path_works(report) else 1


def _dispatch(args) -> int:
    if args.command == "colorize":
        return _run_colorize(args)
    if args.command == "image":
        return run_image(args)
    if args.command == "doctor":
        return _run_doctor(args)
    if args.command == "bench":
        from .bench import run_bench_command

        return run_bench_command(args)
    if args.command == "eval":
        from .eval import run_eval_command

        return run_eval_command(args)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(args)
    from .models import run_models_command

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


class _Prefixed(logging.Formatter):
    """The library's log records as streamcolor's one-line notes and warnings."""

    def format(self, record: logging.LogRecord) -> str:
        kind = "note" if record.levelno < logging.WARNING else record.levelname.lower()
        return f"streamcolor: {kind}: {record.getMessage()}"


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (a second ``main()`` in one process, or a
    test that captures stderr, must not write to a closed stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _log_to_stderr(args) -> None:
    logger = logging.getLogger("streamcolor")
    if not any(isinstance(h.formatter, _Prefixed) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(_Prefixed())
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    debug, quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    logger.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.INFO)


def _debug_logging() -> None:
    """FFmpeg's log on stderr, with URL passwords redacted."""
    import av.logging

    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    av.logging.set_level(av.logging.VERBOSE)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv, args.usage_error = list(sys.argv[1:] if argv is None else argv), parser.error
    _log_to_stderr(args)
    if args.command == "colorize" and not args.output and not args.preview:
        parser.error("colorize needs -o OUTPUT (repeatable) or --preview")
    if getattr(args, "debug", False):
        _debug_logging()
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
        print(redact(f"streamcolor: error: {describe(error)}"), file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - a library's error no layer translated
        if getattr(args, "debug", False):
            raise
        print(redact(f"streamcolor: error: {describe(error)} ({type(error).__name__}; "
                     "--debug shows where)"), file=sys.stderr)
        return 1

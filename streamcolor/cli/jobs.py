"""The command line of film jobs: ``colorize`` of files, segmented and resumable.

Part of the command line (it prints). ``colorize IN -o OUT.mkv`` runs as a job when the input
is a file and the output a file; several inputs (or a folder of films) go to an output
folder. ``--no-segments`` runs the single pass instead.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shlex
import sys
import time

from ..config import EncodeConfig, ModelConfig, PipelineConfig, TemporalConfig
from ..live.outputs import output_format
from ..live.source import parse_source
from ..pipeline import Progress
from .args import positive
from .colorize import run_single_pass
from .report import ProgressBar

__all__ = ["add_job_options", "wants_job", "run_job_command"]


def add_job_options(video) -> None:
    """The ``jobs`` option group of ``colorize``."""

    jobs = video.add_argument_group("film jobs (file to file)")
    jobs.add_argument("--segment-seconds", type=float, default=60.0, metavar="S",
                      help="cut the film into segments of about S seconds, at shot changes "
                      "where there are some (default: 60)")
    jobs.add_argument("--no-resume", action="store_true",
                      help="discard a previous unfinished job for this output and start over")
    jobs.add_argument("--no-segments", action="store_true",
                      help="one pass, no job folder (no resume)")
    jobs.add_argument("--workers", type=positive, default=1, metavar="N",
                      help="segments in N local worker processes (one per GPU where there are "
                      "GPUs; on a CPU, N x inference threads stays within the cores)")
    jobs.add_argument("--ray", metavar="ADDRESS",
                      help="run segments as tasks on the Ray cluster at ADDRESS (auto, "
                      "HOST:PORT); needs `pip install 'streamcolor[ray]'`")


def _is_file_target(target: str) -> bool:
    """A video file (not a stream, and not numbered pictures: those are written in one pass)."""
    from ..media.sequences import is_pattern

    return output_format(target)[0] is None and not parse_source(target).live \
        and not is_pattern(target)


_FILM_SUFFIXES = {".mkv", ".mp4", ".mov", ".m4v", ".avi", ".webm", ".ts", ".mts", ".m2ts",
                  ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".mxf", ".vob", ".3gp"}


def _film_files(folder: pathlib.Path) -> list[str]:
    """The video files directly inside ``folder``, by name (none: an empty list)."""
    return sorted(str(p) for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in _FILM_SUFFIXES)


def _films_in(folder: pathlib.Path) -> list[str]:
    """The video files directly inside ``folder``, by name; an error if there are none."""
    from ..errors import InputError

    films = _film_files(folder)
    if not films:
        raise InputError(f"no video files in {folder} (looked for "
                         f"{', '.join(sorted(_FILM_SUFFIXES))}){_pictures_hint(folder)}")
    return films


def _pictures_hint(folder: pathlib.Path) -> str:
    """What to give instead of a folder of numbered pictures (a scanned film)."""
    from ..media.sequences import pattern_in

    pattern = pattern_in(folder)
    return (f"; it holds numbered pictures: to colorize them as one film, give the pattern "
            f"'{pattern}' (timed at 24 fps unless --input-rate says otherwise)"
            if pattern else "")


def wants_job(args) -> bool:
    """Whether this ``colorize`` runs as a segmented job."""
    inputs = args.input
    if len(inputs) > 1 or args.workers > 1 or args.ray:
        return True
    if len(args.output) == 1 and pathlib.Path(inputs[0]).is_dir():
        return True  # a folder of films into a folder (made if it does not exist yet)
    if args.no_segments or args.live or args.preview or len(args.output) != 1:
        return False
    if args.start is not None or args.duration is not None or args.on_decode_error == "stop":
        return False
    return (not parse_source(inputs[0]).live and pathlib.Path(inputs[0]).is_file()
            and _is_file_target(args.output[0]))


def _pairs(args, parser_error) -> list[tuple[str, str]]:
    from ..media.sequences import is_pattern, is_sequence

    if sequences := [i for i in args.input if is_sequence(i)]:
        parser_error(f"{sequences[0]} is an image sequence: it runs alone, in one pass (give "
                     "it as the only INPUT, without --workers or --ray)")
    if is_pattern(args.output[0]):
        parser_error(f"{args.output[0]} numbers the pictures of one video, in one pass: give "
                     "one INPUT file, without --workers or --ray")
    if args.live or args.preview or args.start is not None or args.duration is not None \
            or len(args.output) != 1 or args.on_decode_error == "stop" or args.no_segments:
        parser_error("several inputs, --workers and --ray run file-to-file jobs: give one -o "
                     "OUTPUT, without --live, --preview, --start, --duration, --no-segments "
                     "or --on-decode-error stop (--strict)")
    target = pathlib.Path(args.output[0])
    folders = [i for i in args.input if pathlib.Path(i).is_dir()]
    if len(args.input) == 1 and not folders and not target.is_dir() \
            and not args.output[0].endswith("/"):
        return [(args.input[0], args.output[0])]
    file_like = target.is_file() or (not target.exists()
                                     and target.suffix.lower() in _FILM_SUFFIXES)
    if file_like and folders:
        from ..errors import InputError

        folder = pathlib.Path(folders[0])
        if not _film_files(folder) and (hint := _pictures_hint(folder)):
            raise InputError(f"{folder} holds no films{hint}")
        raise InputError(f"{folder} is a directory: to colorize the films in it, give an "
                         f"output folder (-o FOLDER/), not the file {target}")
    if file_like:
        parser_error(f"with several inputs -o must be a folder; {target} is "
                     + ("a file" if target.exists() else "named like a film"))
    inputs = [f for i in args.input
              for f in (_films_in(pathlib.Path(i)) if pathlib.Path(i).is_dir() else [i])]
    if args.reference and len(inputs) > 1:
        parser_error("--reference pictures are frames of one film: give one input with it")
    return [(i, str(target / pathlib.Path(i).name)) for i in inputs]


def _make_folders(pairs: list[tuple[str, str]]) -> list[pathlib.Path]:
    """Make the outputs' folders that do not exist yet; return those made (parents first)."""
    made = []
    for folder in dict.fromkeys(pathlib.Path(o).parent for _, o in pairs):
        missing = [f for f in (folder, *folder.parents) if not f.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        made += reversed(missing)
    return made


def _remove_if_empty(folders: list[pathlib.Path]) -> None:
    """Take back the folders :func:`_make_folders` made, where the run left nothing in them."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty folder goes


def _announce_model(args, model: ModelConfig, codecs: list[str]) -> None:
    """The single pass's first line. With local workers the driver has loaded the model too
    (to report a bad model or provider early); on Ray only the nodes load it."""
    if args.quiet or args.ray:
        return
    from ..jobs.segment import load_runner

    runner = load_runner(model)  # already loaded by the job
    c = runner.contract
    print(f"model {runner.path.name} ({c.input_kind} -> {c.output_kind}, "
          f"{runner.input_size} px) on {runner.provider}"
          + (f"; video encoder {', '.join(codecs)}" if codecs else ""), file=sys.stderr)


def run_job_command(args, parser_error) -> int:
    """Run ``colorize`` as a job; on Ctrl-C say where the job is and how to resume it. A folder
    of films goes into an output folder that is made if it does not exist yet (and taken back
    if the run fails before writing anything into it)."""
    pairs = _pairs(args, parser_error)
    into_folder = pairs[0][1] != args.output[0]  # -o named a folder
    made = _make_folders(pairs) if into_folder else []
    try:
        return _run_job(args, pairs)
    except BaseException:
        _remove_if_empty(made)
        raise


def _run_job(args, pairs: list[tuple[str, str]]) -> int:
    from ..jobs import JobConfig, job_folder, run_films
    from ..jobs.job import NotSegmentable

    quiet = args.quiet
    bar = None if quiet else ProgressBar()
    started = time.perf_counter()

    def notify(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    def on_segment(done: int, total: int) -> None:
        if bar:
            bar(Progress(done, total, time.perf_counter() - started))

    model = ModelConfig(model=args.model, provider=args.provider, precision=args.precision,
                        frame_graphs=args.frame_graphs, batch_size=args.batch_size or 8)
    try:
        summary = run_films(
            pairs, model=model,
            encode=EncodeConfig(codec=args.codec, crf=args.crf, bitrate=args.bitrate,
                                preset=args.preset, options=tuple(args.encoder_option),
                                incompatible=args.incompatible),
            temporal=TemporalConfig(enabled=args.temporal == "on",
                                    strength=args.temporal_strength),
            job=JobConfig(segment_seconds=args.segment_seconds, resume=not args.no_resume,
                          workers=args.workers, ray=args.ray),
            pipeline=PipelineConfig(hwaccel=args.hwaccel),
            notify=notify, on_segment=on_segment,
            on_ready=lambda codecs: _announce_model(args, model, codecs),
            references=args.reference, keyframe_model=args.keyframe_model,
            keyframe_seconds=args.keyframe_seconds or None)
    except NotSegmentable:
        if bar:
            bar.close()
        if len(pairs) > 1 or args.workers > 1 or args.ray:
            raise
        args.no_segments = True
        return run_single_pass(args)  # as with --no-segments
    except BaseException as error:
        if bar:
            bar.close()
        if not isinstance(error, Exception):  # Ctrl-C, SIGTERM: the job stays resumable
            kept = [str(job_folder(pathlib.Path(o))) for _, o in pairs
                    if job_folder(pathlib.Path(o)).is_dir()]
            if kept:
                print(f"\nfinished segments are kept in {', '.join(kept)}; resume with:\n  "
                      + shlex.join(["streamcolor", *args.argv]), file=sys.stderr)
        raise
    if bar:
        bar.close()
    if args.metrics_json:
        _write_metrics(args.metrics_json, summary)
    if not quiet:
        print(job_summary_line(summary, [o for _, o in pairs]), file=sys.stderr)
    return 0


def job_summary_line(summary, outputs: list[str]) -> str:
    """How the work was spread, then the usual summary line."""
    nodes = len(summary.nodes)
    resumed = f", {summary.resumed} resumed" if summary.resumed else ""
    spread = (f"{summary.segments} segment{'s' * (summary.segments != 1)} on {nodes} "
              f"node{'s' * (nodes != 1)}{resumed}\n")
    errors = summary.decode_errors
    skipped = f", {errors} decode error{'s' * (errors != 1)} skipped" if errors else ""
    return (spread + f"colorized {summary.frames} frames in {summary.seconds:.1f} s "
            f"({summary.fps:.1f} fps, {summary.provider or 'none'}){skipped} -> "
            f"{', '.join(outputs)}")


def _write_metrics(path: str, summary) -> None:
    nodes = {name: {"segments": n["segments"], "frames": n["frames"],
                    "fps": round(n["frames"] / n["seconds"], 2) if n["seconds"] else 0.0}
             for name, n in summary.nodes.items()}
    record = {"segments": summary.segments, "resumed": summary.resumed,
              "frames": summary.frames, "seconds": round(summary.seconds, 3), "nodes": nodes,
              "decode_errors": summary.decode_errors}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")

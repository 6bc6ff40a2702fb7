"""A film job: plan or resume, hand the missing segments to a scheduler, join, clean up.

The job folder sits beside the output, hidden and named after it (``.OUT.mkv.streamcolor``).
Only the driver (this module) writes the manifest and the output; schedulers only produce
segment files. A job touches only the files it names (``manifest.json``, ``lock``, segment
files and their hidden temporary files): a folder in its place that holds anything else and
no manifest is refused, and cleaning up removes those files, then the folder if it is empty.
A job that ends before any segment is done leaves no job folder behind, nor does one
that fails in a way the same command would fail again (damaged input, a refused join); an
interrupt, a full disk or a lost worker keep it, for the same command to resume. Running
the same command again resumes: the manifest and every finished segment file are checked (frame
count, checksum), and only what is missing is redone. A changed input, model or setting
starts the job over, with a notice. With references or a keyframe model, each finished
segment's manifest entry notes the references that could reach it (see :mod:`.references`):
on resume, a segment whose references or keyframe model changed is redone, the rest kept.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import pathlib
import re
import shutil
import time
from collections.abc import Callable

import av

from ..config import EncodeConfig, ModelConfig, PipelineConfig, TemporalConfig
from ..errors import DecodeError, InputError, OutputError, StreamcolorError
from ..media.sinks import FileSink, check_output_path
from ..media.sources import FileSource
from ..runtime import resolve_model_path
from .join import join_segments
from .manifest import FORMAT, Manifest, file_sha256, input_identity
from .plan import FilmIndex, plan_segments, scan, warmup_frames
from .references import FilmGuidance, changed, known_cuts
from .segment import (
    SEGMENT_SUFFIX,
    SegmentResult,
    SegmentTask,
    cause_errno,
    load_runner,
    segment_name,
)

__all__ = ["JobConfig", "JobSummary", "Film", "NotSegmentable", "run_films", "job_folder"]

MANIFEST = "manifest.json"
_JOB_FOLDER = re.compile(r"\..+\.streamcolor")
_JOB_FILE = re.compile(rf"(?:{re.escape(MANIFEST)}|segment-\d+{re.escape(SEGMENT_SUFFIX)})")
# .manifest.json.*.tmp, .segment-N.packets.*.partial or .tmp, .segment-N.*.partial.mkv
_TEMPORARY = re.compile(r"\.(?:manifest\.json|segment-\d+)\..+\.(?:tmp|partial(?:\.\w+)?)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobConfig:
    """Segment length, resume or not, and where segments run (local workers or Ray)."""

    segment_seconds: float = 60.0
    resume: bool = True
    workers: int = 1
    ray: str | None = None

    def __post_init__(self) -> None:
        if self.segment_seconds <= 0:
            raise ValueError("--segment-seconds must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")


@dataclasses.dataclass
class JobSummary:
    """What a job run did: frames and segments in all, how many were already done, per node."""

    frames: int = 0
    segments: int = 0
    resumed: int = 0
    seconds: float = 0.0
    provider: str = ""
    codecs: list[str] = dataclasses.field(default_factory=list)
    nodes: dict[str, dict] = dataclasses.field(default_factory=dict)
    decode_errors: int = 0  # damaged places skipped in the segments run now

    @property
    def fps(self) -> float:
        done = sum(n["frames"] for n in self.nodes.values())
        busy = self.seconds
        return done / busy if busy > 0 else 0.0

    def add(self, result: SegmentResult) -> None:
        """Count a finished segment for the node that made it."""
        node = self.nodes.setdefault(result.node, {"segments": 0, "frames": 0, "seconds": 0.0})
        node["segments"] += 1
        node["frames"] += result.frames
        node["seconds"] += result.seconds
        self.decode_errors += result.damaged


def job_folder(output: pathlib.Path) -> pathlib.Path:
    """The hidden job folder of ``output``."""
    return output.parent / f".{output.name}.streamcolor"


def _made_by_a_job(name: str) -> bool:
    """Whether a file of this name is one a job writes in its folder."""
    return name == "lock" or bool(_JOB_FILE.fullmatch(name) or _TEMPORARY.fullmatch(name))


def _check_not_in_a_job_folder(output: pathlib.Path) -> None:
    """Refuse an output named like a job folder, or inside one: a job cleans its folder up."""
    path = output.resolve()
    if _JOB_FOLDER.fullmatch(path.name):
        raise OutputError(f"{output} is named like a streamcolor job folder "
                          "(.NAME.streamcolor); choose another output name")
    for folder in path.parents:
        if _JOB_FOLDER.fullmatch(folder.name):
            raise OutputError(f"{output} is inside {folder}, a streamcolor job folder; "
                              "choose an output outside it")


def settings_hash(model: ModelConfig, encode: EncodeConfig, temporal: TemporalConfig,
                  job: JobConfig) -> str:
    """What decides the output's bytes: model file, encoder and stabilizer settings, cut
    length, warm-up."""
    data = {"model": file_sha256(resolve_model_path(model.model)),
            "precision": model.precision, "frame_graphs": model.frame_graphs,
            "encode": dataclasses.asdict(encode), "temporal": dataclasses.asdict(temporal),
            "segment_seconds": job.segment_seconds, "warmup": warmup_frames(temporal),
            "format": FORMAT}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class NotSegmentable(InputError):
    """The input cannot be cut into segments (its frames carry no timestamps)."""


class Film:
    """One input and its output: the job folder, its lock, its manifest. ``hwaccel`` is how
    the input is decoded (see :mod:`streamcolor.media.hwaccel`); ``decode`` what segments use."""

    def __init__(self, input: str | os.PathLike, output: str | os.PathLike,
                 hwaccel: str = "none") -> None:
        self.input = pathlib.Path(input).resolve()
        self.output = pathlib.Path(output)
        check_output_path(self.output, [self.input])
        _check_not_in_a_job_folder(self.output)
        with FileSource(self.input, hwaccel=hwaccel) as probe:
            self.video_index = probe.video.index
            if probe.pts_step is not None:
                raise NotSegmentable(f"{self.input} has no timestamps to cut it by; use "
                                     "--no-segments")
            gpu = hwaccel != "none" and probe.video.codec_context.is_hwaccel
            self.decode = hwaccel if gpu else "none"  # a CPU fallback is noted once, here
            self.rate = probe.info.rate
        self.folder = job_folder(self.output)
        self.manifest: Manifest | None = None
        self.guidance: FilmGuidance | None = None
        self.cuts: set[int] = set()  # frames known to start a shot (seen by segments)
        self._index: FilmIndex | None = None
        self._lock = None

    def index(self) -> FilmIndex:
        """The film's frames (from its packets; listed once)."""
        if self._index is None:
            self._index = scan(self.input, self.video_index)
        return self._index

    def read_guidance(self, references, keyframe_model, keyframe_seconds: float | None
                      ) -> None:
        """Read the film's references and check them against its frames; note the keyframe
        model (see :class:`FilmGuidance`). Before the job folder is touched."""
        if references is None and keyframe_model is None:
            return
        self.guidance = FilmGuidance.read(references, self.index().pts, input=self.input,
                                          keyframe_model=keyframe_model,
                                          keyframe_seconds=keyframe_seconds, rate=self.rate)

    def check(self, encode: EncodeConfig) -> tuple[list[str], str]:
        """Open the output as the join will (and discard it), so that an encoder option or a
        stream the container cannot hold is reported before any work; return its notes and
        its video encoder."""
        with FileSource(self.input) as source:
            sink = FileSink(self.output, source, encode)
            sink.abort()
        return sink.notes, sink.codec

    @property
    def manifest_path(self) -> pathlib.Path:
        """Where the job's manifest lives."""
        return self.folder / MANIFEST

    def open(self, settings: str, job: JobConfig, warmup: int,
             notify: Callable[[str], None]) -> None:
        """Lock the job folder; resume its manifest or plan afresh."""
        self._claim_folder()
        lock = open(self.folder / "lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            lock.close()
            raise OutputError(f"another streamcolor run is working on {self.output} "
                              f"(its job folder {self.folder} is locked)") from error
        self._lock = lock
        for stale in self.folder.iterdir():  # temporary files of a run that was killed
            if _TEMPORARY.fullmatch(stale.name):
                stale.unlink(missing_ok=True)
        identity = input_identity(self.input)
        old = Manifest.load(self.manifest_path) if job.resume else None
        if old is None and job.resume and self.manifest_path.exists():
            notify(f"{self.input.name}: the job's manifest is unreadable; starting over")
        if old is not None and (old.identity != identity or old.settings != settings):
            what = "input" if old.identity != identity else "model or settings"
            notify(f"{self.input.name}: the {what} changed since the last run; starting over")
            old = None
        if old is None:
            self._clear()
            segments = plan_segments(self.index(), job.segment_seconds, path=self.input,
                                     video_index=self.video_index, warmup=warmup)
            old = Manifest(input=str(self.input), identity=identity, settings=settings,
                           segments=segments)
            old.save(self.manifest_path)
        else:
            self._verify(old, notify)
        self.manifest = old

    def _claim_folder(self) -> None:
        """Make the job folder, or check that the one there is a job folder: a file in its
        place, or a folder holding other files and no manifest, is refused."""
        try:
            self.folder.mkdir()
            return
        except FileExistsError:
            pass
        if not self.folder.is_dir():
            raise OutputError(f"{self.folder} is in the way: a job needs that path for its "
                              f"folder (to write {self.output}); move it away or choose "
                              "another output name")
        strangers = sorted(p.name for p in self.folder.iterdir() if not _made_by_a_job(p.name))
        if strangers and Manifest.load(self.manifest_path) is None:
            raise OutputError(f"{self.folder} is not a streamcolor job folder (it holds "
                              f"{strangers[0]!r} and no job manifest), yet a job for "
                              f"{self.output} needs that path; move it away or choose "
                              "another output name")

    def _clear(self) -> None:
        """Remove the job's files but the lock (to start over)."""
        for path in self.folder.iterdir():
            if path.name != "lock" and _made_by_a_job(path.name):
                path.unlink(missing_ok=True)

    def _remove_folder(self) -> None:
        """Remove the files a job made (the lock last), then the folder if that emptied it."""
        self._clear()
        (self.folder / "lock").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        try:
            self.folder.rmdir()
        except OSError:  # it holds something the job did not make: leave it
            pass

    def _verify(self, manifest: Manifest, notify: Callable[[str], None]) -> None:
        self.cuts = known_cuts(manifest.done)
        stale = [i for i, entry in sorted(manifest.done.items())
                 if changed(self.guidance, manifest.segments[i], entry, self.cuts)]
        if stale:
            which = ", ".join(str(i + 1) for i in stale)
            notify(f"{self.input.name}: the references or keyframe model of segment"
                   f"{'s' * (len(stale) > 1)} {which} changed since the last run; redoing "
                   + ("them" if len(stale) > 1 else "it"))
        for index in stale:
            (self.folder / manifest.done.pop(index)["file"]).unlink(missing_ok=True)
        for index, entry in list(manifest.done.items()):
            path = self.folder / entry["file"]
            planned = entry["frames"] if entry.get("damaged") else manifest.segments[index].count
            if not path.is_file() or entry["frames"] != planned \
                    or file_sha256(path) != entry["sha256"]:
                notify(f"{self.input.name}: segment {index + 1} is missing or damaged "
                       "(checksum); redoing it")
                del manifest.done[index]
                path.unlink(missing_ok=True)
        manifest.save(self.manifest_path)
        notify(f"resuming: {len(manifest.done)} of {len(manifest.segments)} segments done "
               f"({self.input.name})")

    def missing(self) -> list:
        """The planned segments not yet done."""
        return [s for s in self.manifest.segments if s.index not in self.manifest.done]

    def task(self, segment, model: ModelConfig, encode: EncodeConfig,
             temporal: TemporalConfig) -> SegmentTask:
        """What a worker needs to colorize ``segment`` of this film."""
        guidance = self.guidance.for_segment(segment, self.cuts) if self.guidance else None
        return SegmentTask(input=str(self.input), segment=segment, model=model, encode=encode,
                           temporal=temporal, hwaccel=self.decode,
                           container=self.output.suffix or ".mkv", guidance=guidance)

    def record(self, result: SegmentResult) -> None:
        """Check a finished segment file and add it to the manifest (atomically)."""
        segment = self.manifest.segments[result.index]
        path = self.folder / segment_name(result.index)
        if result.frames != segment.count and not result.damaged:
            raise StreamcolorError(f"segment {result.index + 1} of {self.input.name} has "
                                   f"{result.frames} frames, expected {segment.count}")
        if file_sha256(path) != result.sha256:
            raise StreamcolorError(f"segment file {path} does not match its checksum")
        entry = result.record(path.name)
        if self.guidance is not None:
            self.cuts |= set(result.cuts)
            entry["guidance"] = self.guidance.record(segment, self.cuts, result.cuts)
        self.manifest.done[result.index] = entry
        self.manifest.save(self.manifest_path)

    def join(self, encode: EncodeConfig) -> int:
        """Write the output from the segments, then remove the job's files and its folder
        (if nothing else is in it)."""
        segments = self.manifest.segments
        files = [self.folder / self.manifest.done[s.index]["file"] for s in segments]
        counts = [self.manifest.done[s.index]["frames"] for s in segments]
        if not any(counts):
            raise DecodeError(f"{self.input}: no video frame could be decoded")
        frames = join_segments(str(self.input), self.output, files, counts, encode)
        self._remove_folder()
        return frames

    def discard(self) -> None:
        """After a failure that a rerun cannot resume: remove the job's files and folder
        (only if this run holds its lock)."""
        if self._lock is not None:
            self._remove_folder()

    def close(self) -> None:
        """Release the job folder's lock. A job with no finished segment has nothing worth
        resuming: its files go, and the folder with them if that empties it."""
        if self._lock is None:
            return
        if self.manifest is None or not self.manifest.done:
            self._remove_folder()
        else:
            self._lock.close()
            self._lock = None


_NEARLY_FULL = 256 << 20  # bytes free: below this, ENOSPC is the disk's


def _from_ffmpeg(error: BaseException | None) -> bool:
    """Whether an FFmpeg error is along the error's causes (it may say ENOSPC of itself)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, av.FFmpegError):
            return True
        error = getattr(error, "error", None) or error.__cause__ or error.__context__
    return False


def _no_space(error: BaseException, films: list[Film]) -> bool:
    """A full disk, not an FFmpeg muxer that says ENOSPC of its own buffers (a damaged
    packet can make Matroska's do so)."""
    if cause_errno(error) != errno.ENOSPC:
        return False
    if not _from_ffmpeg(error):
        return True  # the OS said so
    for film in films:
        try:
            if shutil.disk_usage(film.output.parent).free < _NEARLY_FULL:
                return True
        except OSError:
            return True
    return not films


def run_films(pairs: list[tuple[str, str]], *, model: ModelConfig = ModelConfig(),
              encode: EncodeConfig = EncodeConfig(), temporal: TemporalConfig = TemporalConfig(),
              job: JobConfig = JobConfig(), pipeline: PipelineConfig = PipelineConfig(),
              notify: Callable[[str], None] = lambda text: None,
              on_segment: Callable[[int, int], None] | None = None,
              on_ready: Callable[[list[str]], None] | None = None,
              references: str | os.PathLike | dict | None = None,
              keyframe_model: str | os.PathLike | None = None,
              keyframe_seconds: float | None = 10.0) -> JobSummary:
    """Colorize every (input, output) pair as a segmented, resumable job; all films' segments
    share the same scheduler. Of ``pipeline`` only ``hwaccel`` applies (decoding).
    ``on_ready(video_encoders)`` is called once every input and output checked out;
    ``on_segment(frames_done, frames_total)`` reports progress. ``references`` (one film
    only) and ``keyframe_model``, ``keyframe_seconds``: as for
    :func:`streamcolor.api.colorize`, carried across segments as in a single pass."""
    started = time.perf_counter()
    outputs = [pathlib.Path(o).resolve() for _, o in pairs]
    if len(set(outputs)) < len(outputs) or len({pathlib.Path(i).resolve() for i, _ in pairs}) \
            < len(pairs):
        raise OutputError("the same input or output is named twice; give each film once")
    if references is not None and len(pairs) > 1:
        raise InputError("references are frames of one film: colorize the films that have "
                         "references one at a time")
    films = [Film(i, o, pipeline.hwaccel) for i, o in pairs]
    summary = JobSummary()
    scheduler = None
    try:
        checked = [film.check(encode) for film in films]
        notes = [note for film_notes, _ in checked for note in film_notes]
        summary.codecs = list(dict.fromkeys(codec for _, codec in checked))
        settings = settings_hash(model, encode, temporal, job)
        scheduler = _scheduler(job, model, notify)  # connected before a job folder is made
        if not job.ray:  # a bad model or provider is reported before any work
            runner = load_runner(model)
            if references is not None or keyframe_model is not None:
                runner.require_guidance()
        for film in films:
            film.read_guidance(references, keyframe_model, keyframe_seconds)
        for film in films:
            film.open(settings, job, warmup_frames(temporal), notify)
        if on_ready:
            on_ready(summary.codecs)
        for note in notes:
            notify(f"note: {note}")
        tasks = [(film.task(segment, model, encode, temporal),
                  film.folder / segment_name(segment.index))
                 for film in films for segment in film.missing()]
        finished, partial = _recorder(films, summary, on_segment)
        summary.provider = scheduler.run(tasks, finished, progress=partial) or ""
        for film in films:
            summary.frames += film.join(encode)
    except (OSError, StreamcolorError) as error:
        if _no_space(error, films):
            raise OutputError(_full_disk(films)) from error
        if not getattr(error, "resumable", False):
            for film in films:  # the same command would fail again: nothing to resume
                film.discard()
        raise
    except Exception:
        for film in films:
            film.discard()
        raise
    finally:
        for film in films:
            film.close()
        if scheduler is not None:
            scheduler.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _recorder(films: list[Film], summary: JobSummary,
              on_segment: Callable[[int, int], None] | None):
    """The schedulers' callbacks: record a finished segment in its film's manifest; report
    the frames of a segment in progress (where the scheduler can see them)."""
    by_input = {str(film.input): film for film in films}
    total = sum(s.count for f in films for s in f.manifest.segments)
    done = sum(f.manifest.segments[i].count for f in films for i in f.manifest.done)
    summary.resumed = sum(len(f.manifest.done) for f in films)
    summary.segments = sum(len(f.manifest.segments) for f in films)

    def finished(task: SegmentTask, result: SegmentResult) -> None:
        nonlocal done
        by_input[task.input].record(result)
        summary.add(result)
        done += result.frames
        if on_segment:
            on_segment(done, total)

    def partial(frames: int) -> None:  # frames written so far of a segment running here
        if on_segment:
            on_segment(done + frames, total)

    return finished, partial


def _full_disk(films: list[Film]) -> str:
    where = ", ".join(str(f.folder) for f in films if f.folder.exists()) or "the output folder"
    return (f"no space left on the device writing {where}: free some space and run the same "
            "command again to resume")


def _scheduler(job: JobConfig, model: ModelConfig, notify: Callable[[str], None]):
    if job.ray:
        from .ray_backend import RayScheduler

        return RayScheduler(job.ray, notify=notify)
    from .local import LocalScheduler

    return LocalScheduler(job.workers, provider=model.provider, notify=notify)

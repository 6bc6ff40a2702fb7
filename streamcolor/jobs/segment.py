"""Colorize one segment into one encoded video file: the task every scheduler runs.

The segment is decoded frame-exactly: seek to the keyframe at or before its first warm-up
frame, discard what comes before that, colorize the warm-up frames with the rest (so any
state in the pipeline settles) but drop them before the encoder, and stop at the next
segment's first frame. The encoded packets go into a segment file (see :mod:`.packets`),
written under a temporary name and renamed when complete. A fresh encoder per segment
starts with a keyframe and is flushed at the end: every segment is a closed group of pictures.
With references or a keyframe model, the pipeline's guide is prepared first, carrying
their colour into the segment as a single pass would (see :mod:`.references`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import socket
import time
from collections.abc import Callable

from ..color.temporal import Stabilizer
from ..config import EncodeConfig, ModelConfig, TemporalConfig
from ..errors import StreamcolorError
from ..media.sinks import FileSink
from ..pipeline import Pipeline
from ..runtime import ModelRunner, threads
from .manifest import file_sha256
from .packets import PacketWriter
from .plan import Segment
from .references import SegmentGuidance, prepare_guide
from .source import SegmentSource

__all__ = ["SegmentTask", "SegmentResult", "SegmentError", "colorize_segment", "SEGMENT_SUFFIX"]

SEGMENT_SUFFIX = ".packets"
_RUNNERS: dict[ModelConfig, ModelRunner] = {}  # one loaded model per process and setting


class SegmentError(StreamcolorError, RuntimeError):
    """A segment came out wrong (e.g. another frame count than planned), or failed in a
    worker; ``errno`` keeps the OS error number of the cause, if there was one."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


def cause_errno(error: BaseException | None) -> int | None:
    """The first OS error number along an error's causes (``StageError.error`` included)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(getattr(error, "errno", None), int):
            return error.errno
        error = getattr(error, "error", None) or error.__cause__ or error.__context__
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentTask:
    """Everything a worker needs to colorize one segment (picklable, for processes and Ray)."""

    input: str
    segment: Segment
    model: ModelConfig = ModelConfig()
    encode: EncodeConfig = EncodeConfig()
    temporal: TemporalConfig = TemporalConfig()
    container: str = ".mkv"  # the output's extension: the encoder is set up as for it
    hwaccel: str = "none"  # decoding on the GPU (NVDEC): see streamcolor.media.hwaccel
    guidance: SegmentGuidance | None = None  # references and keyframes: see .references


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentResult:
    """A finished segment file: frames written, their pts range, checksum, where and how fast;
    with references or keyframes, the cuts seen while carrying them and the keyframes made."""

    index: int
    frames: int
    first_pts: int
    last_pts: int
    sha256: str
    seconds: float
    node: str
    provider: str = ""
    cuts: tuple[int, ...] = ()
    keyframes: tuple[int, ...] = ()
    damaged: int = 0  # damaged places skipped: ``frames`` may then differ from the plan

    def record(self, name: str) -> dict:
        """The manifest entry of this segment stored as file ``name``."""
        entry = {"file": name, "frames": self.frames, "first_pts": self.first_pts,
                 "last_pts": self.last_pts, "sha256": self.sha256}
        if self.damaged:
            entry["damaged"] = self.damaged
        return entry


def node_name() -> str:
    """This machine's name, as summaries and metrics show it (Ray sets its own node id)."""
    return os.environ.get("STREAMCOLOR_NODE") or socket.gethostname()


def segment_name(index: int) -> str:
    """The file name of segment ``index`` in the job folder."""
    return f"segment-{index:05d}{SEGMENT_SUFFIX}"


class _SegmentSink:
    """The segment's sink: frames before the segment's first pts are colorized warm-up and
    are not encoded; the rest are encoded by a :class:`FileSink`'s encoder (so the settings
    are exactly those of a single-pass run and of the final join) into a packet file. The
    FileSink's own container (of the output's kind, so that headers are global or in-band
    as there) only holds the encoder and is thrown away."""

    def __init__(self, target: pathlib.Path, source: SegmentSource, task: SegmentTask) -> None:
        self.first_pts = source.segment.first_pts
        self.inner = FileSink(target.with_suffix(task.container), source, task.encode)
        self.plan, self.notes, self.seconds = self.inner.plan, self.inner.notes, {}
        ctx = self.inner.video.codec_context
        try:
            self.writer = PacketWriter(target, time_base=ctx.time_base,
                                       codec=ctx.name, extradata=ctx.extradata)
        except BaseException:
            self.inner.abort()
            raise
        self.frames, self.last_pts = 0, None

    def _encode(self, frame) -> None:
        with self.inner.grid.placed(frame):
            packets = self.inner.video.codec_context.encode(frame)
        for packet in packets:
            self.writer.write(packet)

    def write(self, frame) -> None:
        if frame.pts < self.first_pts:
            return
        self._encode(frame)
        self.frames += 1
        self.last_pts = frame.pts

    def copy(self, packet) -> None:
        raise SegmentError("a segment carries video only")

    def finish(self) -> None:
        self._encode(None)

    def commit(self) -> None:
        self.inner.abort()
        self.writer.commit()

    def abort(self) -> None:
        self.inner.abort()
        self.writer.abort()


def load_runner(config: ModelConfig) -> ModelRunner:
    """The model, loaded once per process and setting."""
    if config not in _RUNNERS:
        _RUNNERS[config] = ModelRunner.for_config(config)
    return _RUNNERS[config]


def colorize_segment(task: SegmentTask, target: str | os.PathLike,
                     on_frames: Callable[[int], None] | None = None) -> SegmentResult:
    """Colorize ``task``'s segment into the file ``target`` (temporary name, then renamed);
    raise :class:`SegmentError` if it does not hold exactly the planned frames.
    ``on_frames(n)`` is called about twice a second with the frames written so far."""
    started = time.perf_counter()
    target = pathlib.Path(target)
    seg = task.segment
    runner = load_runner(task.model)
    with SegmentSource(task.input, seg, task.hwaccel) as source:
        budget, encode = threads.for_run(runner, task.encode, source.video)
        task = dataclasses.replace(task, encode=encode)
        sink = _SegmentSink(target, source, task)
        threads.log_run(budget, encode, sink.inner.codec)
        try:
            prepared = None if task.guidance is None else prepare_guide(
                task.guidance, seg, runner, sink.plan, task.input, task.hwaccel)
        except BaseException:
            sink.abort()
            raise
        stabilizer = Stabilizer(task.temporal) if task.temporal.enabled else None
        report = (lambda _: on_frames(sink.frames)) if on_frames else None
        Pipeline(source, runner, sink, batch_size=task.model.batch_size, stabilizer=stabilizer,
                 on_progress=report, guide=prepared.guide if prepared else None).run()
    if sink.frames < seg.count:  # a decoder drops frames whose references are damaged
        source.missing(seg.count - sink.frames)
    damaged = source.decode_errors  # frames of damaged data may be missing: not a fault
    if not damaged and (sink.frames != seg.count or sink.frames == 0):
        target.unlink(missing_ok=True)
        raise SegmentError(f"segment {seg.index + 1} of {task.input} gave {sink.frames} frames, "
                           f"expected {seg.count}; the input may be damaged (--no-segments "
                           "colorizes it in one pass)")
    return SegmentResult(index=seg.index, frames=sink.frames, first_pts=seg.first_pts,
                         last_pts=sink.last_pts, sha256=file_sha256(target),
                         seconds=time.perf_counter() - started, node=node_name(),
                         provider=runner.provider,
                         cuts=tuple(sorted(prepared.cuts)) if prepared else (),
                         keyframes=prepared.keyframes(seg.first, seg.first + seg.count)
                         if prepared else (), damaged=damaged)

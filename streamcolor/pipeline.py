"""The pipeline: stages as threads joined by bounded queues.

    decode -> preprocess (batch, L*) -> inference -> postprocess (stabilize, chroma) -> encode/mux

Packets of copied streams ride the same queues, so every item reaches the sink in order.
In live mode (a :class:`~streamcolor.config.LiveConfig`) the decode stage never waits: when
the queue after it is full the oldest frame is dropped and counted; a batch is closed when
half the latency budget has passed since its first frame arrived; the first Ctrl-C stops the
source and lets the run finish, so recordings are finalized.
Bounded queues give backpressure: memory holds a fixed number of batches whatever the
input's length. A shared stop event ends every stage; every blocking put or get waits with
a timeout and checks it, so no stage hangs when a neighbour dies. The first exception is
kept, the threads are joined, and :meth:`Pipeline.run` raises it as a :class:`StageError`
naming the stage. On any failure or interruption the sink deletes its partial file.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable

import av
import numpy as np

from .color.guidance import honour
from .color.lab import model_input
from .color.temporal import Stabilizer
from .config import LiveConfig
from .errors import StageError
from .live.backlog import drop_frames, live_depth
from .live.metrics import LiveMetrics
from .media.frames import chroma_inputs, colorize_frame, plane_array, plane_spec
from .runtime.binding import InFlight

__all__ = ["Pipeline", "Progress", "Summary", "STAGES"]

STAGES = ("decode", "preprocess", "inference", "postprocess", "encode")
_END = object()
_TIMEOUT = object()
_POLL = 0.1


class _Stopped(Exception):
    """Raised inside a stage when another stage has failed or the run was interrupted."""


@dataclasses.dataclass
class _Batch:
    frames: list
    lightness: np.ndarray
    ab: np.ndarray | None = None
    hints: tuple[np.ndarray, ...] | None = None  # a*b*, mask[, the reference's own part]


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a run stands: frames written so far, the expected total if known, seconds.
    In live mode ``snapshot()`` gives the live metrics since its previous call."""

    frames: int
    total: int | None
    elapsed: float
    snapshot: Callable[[], dict] | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a finished run did. ``stage_seconds`` is the busy time of each stage."""

    frames: int
    seconds: float
    provider: str
    decode_errors: int
    stage_seconds: dict[str, float]
    live: dict | None = None
    interrupted: bool = False
    queue_occupancy: tuple[float, ...] = ()

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Pipeline:
    """One run of source -> model -> sink. Build it, call :meth:`run` once."""

    def __init__(self, source, runner, sink, *, batch_size: int = 8, queue_batches: int = 2,
                 on_progress: Callable[[Progress], None] | None = None,
                 progress_interval: float = 0.5, live: LiveConfig | None = None,
                 stabilizer: Stabilizer | None = None,
                 guide: Callable[[np.ndarray, list], tuple | None] | None = None) -> None:
        self.source, self.runner, self.sink = source, runner, sink
        self.stabilizer = stabilizer
        self.guide = guide  # (model input, frames) of a batch -> its hints, in frame order
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.live = live
        self.metrics = LiveMetrics() if live else None
        self._graceful = False
        frames_depth = max(2, batch_size * queue_batches)
        self._live_depth = 0
        if live:  # shallow queues: in live mode waiting frames are latency
            queue_batches = 1
            self._live_depth = live_depth(batch_size, live, getattr(source, "info", None))
            frames_depth = 0  # _offer bounds the frames; audio packets are small and never wait
        self._queues = [queue.Queue(frames_depth)] + [queue.Queue(queue_batches) for _ in range(3)]
        self._stop = threading.Event()
        self._error: tuple[str, BaseException] | None = None
        self._lock = threading.Lock()
        self._busy = dict.fromkeys(STAGES, 0.0)
        self._fill = [0.0] * len(self._queues)
        self._samples = 0
        self.frames_written = 0

    # -- queue helpers -------------------------------------------------------------------
    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _offer(self, q: queue.Queue, item) -> None:
        """Live mode: put without waiting. Frames that have waited longer than a quarter of the
        latency budget are dropped (and counted), and so are the oldest beyond a hard cap; a
        burst of fresh frames (what the source buffered while it was being opened) is kept.
        Audio packets are never dropped: a gap in sound is heard."""
        if self._stop.is_set():
            raise _Stopped
        if isinstance(item, av.VideoFrame):
            stale = time.perf_counter() - self.live.max_latency / 4
            for _ in range(drop_frames(q, arrived_before=stale, keep=self._live_depth - 1)):
                self.metrics.frame_dropped()
        q.put_nowait(item)

    def _items(self, q: queue.Queue, deadline: Callable[[], float | None] | None = None):
        """Items until the end marker; ``_TIMEOUT`` whenever ``deadline()`` has passed."""
        while True:
            if self._stop.is_set():
                raise _Stopped
            wait = _POLL
            due = deadline() if deadline else None
            if due is not None:
                wait = min(_POLL, due - time.perf_counter())
                if wait <= 0:
                    yield _TIMEOUT
                    continue
            try:
                item = q.get(timeout=wait)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item

    # -- stages --------------------------------------------------------------------------
    def _decode(self) -> None:
        out = self._queues[0]
        items = self.source.items()
        while True:
            started = time.perf_counter()
            item = next(items, _END)
            self._busy["decode"] += time.perf_counter() - started
            if self.live and item is not _END:
                self._offer(out, item)
            else:
                self._put(out, item)
            if item is _END:
                return

    def _preprocess(self) -> None:
        inbox, out = self._queues[0], self._queues[1]
        size = self.runner.input_size
        plan = self.sink.plan
        graphs = getattr(self.runner, "frame_graphs", None)
        frames, pictures = [], []
        for item in self._items(inbox, self._batch_deadline(frames)):
            if item is _TIMEOUT or not isinstance(item, av.VideoFrame):
                if item is not _TIMEOUT:
                    self._put(out, item)
                elif frames:
                    self._put(out, self._batch(frames[:], pictures))
                    frames.clear()
                    pictures.clear()
                continue
            started = time.perf_counter()
            spec = plane_spec(item, plan)
            luma = plane_array(item.planes[0], spec.dtype)  # graphs: L* per batch, in _batch
            pictures.append((luma, spec) if graphs else model_input(luma, size, spec))
            frames.append(item)
            self._busy["preprocess"] += time.perf_counter() - started
            if len(frames) == self.batch_size:
                self._put(out, self._batch(frames[:], pictures))
                frames.clear()
                pictures.clear()
        if frames:
            self._put(out, self._batch(frames, pictures))
        self._put(out, _END)

    def _batch(self, frames: list, pictures: list[np.ndarray]) -> _Batch:
        """A batch of model input, with its hints where a guide gives them (in frame order:
        this stage is one thread)."""
        started = time.perf_counter()
        graphs = getattr(self.runner, "frame_graphs", None)
        if graphs is not None:  # one session call for the batch
            pictures = graphs.model_input_frames(pictures, self.runner.input_size)
        batch = _Batch(frames, np.stack(pictures)[:, None])
        if self.guide is not None:
            batch.hints = self.guide(batch.lightness, frames)
        self._busy["preprocess"] += time.perf_counter() - started
        return batch

    def _batch_deadline(self, frames: list) -> Callable[[], float | None] | None:
        """Live mode: a batch waits at most half the latency budget after its first frame."""
        if not self.live:
            return None
        window = self.live.max_latency / 2

        def due() -> float | None:
            arrival = frames[0].opaque if frames else None
            return arrival + window if isinstance(arrival, float) else None

        return due

    def _inference(self) -> None:
        inbox, out = self._queues[1], self._queues[2]
        depth = 1 if self.live else getattr(self.runner, "in_flight", 1)
        warm = getattr(self.runner, "warm_thread", None)  # where inference runs
        with InFlight(depth, warm) as flight:  # GPU: two batches in flight, order kept
            for item in flight.ordered(self._items(inbox), self._infer,
                                       lambda item: isinstance(item, _Batch)):
                self._put(out, item)
        self._put(out, _END)

    def _infer(self, item: _Batch) -> None:
        started = time.perf_counter()
        item.ab = (self.runner.run(item.lightness) if item.hints is None
                   else self.runner.run(item.lightness, item.hints[:2]))
        with self._lock:
            self._busy["inference"] += time.perf_counter() - started

    def _postprocess(self) -> None:
        inbox, out = self._queues[2], self._queues[3]
        plan = self.sink.plan
        graphs = getattr(self.runner, "frame_graphs", None)
        for item in self._items(inbox):
            if isinstance(item, _Batch):
                started = time.perf_counter()
                if item.hints is not None:
                    item.ab = honour(item.ab, item.hints, dense=True)
                if self.stabilizer is not None:  # in frame order: one thread, batches in order
                    item.ab = self.stabilizer(item.lightness, item.ab, item.hints)
                planes = ([None] * len(item.frames) if graphs is None  # one call a batch:
                          else graphs.chroma_groups(chroma_inputs(item.frames, plan), item.ab))
                item.frames = [colorize_frame(f, ab, plan, made) for f, ab, made
                               in zip(item.frames, item.ab, planes, strict=True)]
                item.lightness = item.ab = item.hints = None
                self._busy["postprocess"] += time.perf_counter() - started
            self._put(out, item)
        self._put(out, _END)

    def _encode(self) -> None:
        limit = self.live.frames if self.live else None
        for item in self._items(self._queues[3]):
            started = time.perf_counter()
            if isinstance(item, _Batch):
                for frame in item.frames:
                    if limit is not None and self.frames_written >= limit:
                        break
                    self.sink.write(frame)
                    self.frames_written += 1
                    if self.metrics:
                        arrival = frame.opaque
                        self.metrics.frame_encoded(arrival if isinstance(arrival, float) else None)
                if limit is not None and self.frames_written >= limit:
                    self.source.stop()
            else:
                self.sink.copy(item)
            self._busy["encode"] += time.perf_counter() - started
        started = time.perf_counter()
        self.sink.finish()
        self._busy["encode"] += time.perf_counter() - started

    # -- running -------------------------------------------------------------------------
    def _guard(self, name: str, work: Callable[[], None], done: threading.Event) -> None:
        try:
            work()
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller by run()
            with self._lock:
                if self._error is None:
                    self._error = (name, error)
            self._stop.set()
        finally:
            done.set()

    def run(self) -> Summary:
        """Run to the end; raise :class:`StageError` for the first failure of any stage."""
        started = time.perf_counter()
        works = dict(zip(STAGES, (self._decode, self._preprocess, self._inference,
                                  self._postprocess, self._encode), strict=True))
        # Completion is waited for on events, not Thread.join: in CPython 3.11 a join that a
        # signal interrupts can mark a still-running thread as stopped.
        done = {name: threading.Event() for name in works}
        threads = [threading.Thread(target=self._guard, args=(name, work, done[name]),
                                    daemon=True, name=f"streamcolor-{name}")
                   for name, work in works.items()]
        interrupt: BaseException | None = None
        try:
            for thread in threads:
                thread.start()
            self._wait_live_aware(list(done.values()), started)
        except BaseException as error:  # Ctrl-C or SIGTERM in the caller's thread
            interrupt = error
            self._stop.set()
        interrupt = self._settle(lambda: self._unstarted_are_done(threads, done)) or interrupt
        interrupt = self._join(threads, list(done.values())) or interrupt
        failed = interrupt is not None or self._error is not None or self._stop.is_set()
        if failed:
            interrupt = self._settle(self.sink.abort) or interrupt
        else:
            self.sink.commit()
        if interrupt is not None:
            raise interrupt
        if self._error is not None:
            stage, error = self._error
            raise StageError(stage, error) from error
        return Summary(frames=self.frames_written, seconds=time.perf_counter() - started,
                       provider=self.runner.provider,
                       decode_errors=getattr(self.source, "decode_errors", 0),
                       stage_seconds=self._stage_seconds(),
                       queue_occupancy=tuple(round(f / max(1, self._samples), 3)
                                             for f in self._fill),
                       live=self.snapshot(final=True) if self.metrics else None,
                       interrupted=self._graceful)

    def _stage_seconds(self) -> dict[str, float]:
        """Busy seconds per stage; the encode stage split into encode and mux if the sink can."""
        seconds = dict(self._busy)
        split = getattr(self.sink, "seconds", None)
        if isinstance(split, dict) and {"encode", "mux"} <= set(split):
            seconds["encode"], seconds["mux"] = split["encode"], split["mux"]
        return seconds

    def snapshot(self, final: bool = False) -> dict:
        """Live metrics since the previous snapshot, and for the whole run."""
        return self.metrics.snapshot(reconnects=getattr(self.source, "reconnects", 0),
                                     final=final)

    def _wait_live_aware(self, done: list[threading.Event], started: float) -> None:
        """In live mode the first interrupt stops the source and lets the run finish."""
        while True:
            try:
                self._wait(done, started)
                return
            except BaseException:
                if not self.live or self._graceful:
                    raise
                self._graceful = True
                self.source.stop()

    @staticmethod
    def _unstarted_are_done(threads: list[threading.Thread],
                            done: dict[str, threading.Event]) -> None:
        """An interrupt while the stages were being started leaves some never started: they
        will never say they are done, so they count as done. Threads start in order, so only
        the first without an id may be starting this instant: it gets a moment to run."""
        first = True
        for thread, event in zip(threads, done.values(), strict=True):
            if thread.ident is not None:
                continue
            deadline = time.monotonic() + 1.0
            while first and thread.ident is None and time.monotonic() < deadline:
                time.sleep(0.01)
            first = False
            if thread.ident is None:
                event.set()

    def _join(self, threads: list[threading.Thread],
              done: list[threading.Event]) -> BaseException | None:
        """Wait for every stage even if another Ctrl-C arrives meanwhile; return that interrupt."""
        interrupt = None
        for event in done:
            while not event.is_set():
                interrupt = self._settle(lambda e=event: e.wait(_POLL)) or interrupt
                if interrupt is not None:
                    self._stop.set()
        for thread in threads:  # each has finished its work; this only reaps it
            if thread.ident is not None:  # (one never started cannot be joined)
                interrupt = self._settle(thread.join) or interrupt
        return interrupt

    @staticmethod
    def _settle(step: Callable[[], None]) -> BaseException | None:
        """Run ``step`` to completion, retrying if an interrupt cuts it short; return it."""
        interrupt = None
        while True:
            try:
                step()
                return interrupt
            except BaseException as error:  # noqa: BLE001 - cleanup must finish first
                interrupt = interrupt or error

    def _wait(self, done: list[threading.Event], started: float) -> None:
        total = getattr(getattr(self.source, "info", None), "frames", None)
        last = 0.0
        for event in done:
            while not event.wait(_POLL):
                self._samples += 1
                for i, q in enumerate(self._queues):
                    self._fill[i] += q.qsize() / (q.maxsize or self._live_depth or 1)
                now = time.perf_counter()
                if self.on_progress and now - last >= self.progress_interval:
                    last = now
                    self.on_progress(self._progress(total, now - started))
        if self.on_progress:  # the final figures, before the output is committed
            self.on_progress(self._progress(total, time.perf_counter() - started))

    def _progress(self, total: int | None, elapsed: float) -> Progress:
        return Progress(self.frames_written, total, elapsed,
                        self.snapshot if self.metrics else None)

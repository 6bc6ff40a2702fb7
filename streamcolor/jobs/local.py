"""Local scheduling: segments in this process, or in N worker processes.

With one worker the segments run here, one after another (no process to start, nothing to
ship). With N, each worker is a spawned process that loads the model once and takes one
segment at a time over a pipe; a worker that dies (killed, out of memory) has its segment
given to a fresh worker, up to :data:`ATTEMPTS` times. With GPUs, each worker sees one GPU
(``CUDA_VISIBLE_DEVICES``); on CPUs, workers x inference threads never exceed the cores.
Workers ignore Ctrl-C: the driver stops them and keeps what is finished.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import subprocess
from collections.abc import Callable

from ..errors import StreamcolorError, describe
from .segment import SegmentError, SegmentResult, SegmentTask, cause_errno, colorize_segment

__all__ = ["LocalScheduler", "ATTEMPTS", "visible_gpus"]

ATTEMPTS = 3


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU")]


def _worker_main(connection, environment: dict[str, str]) -> None:
    """A worker process: take (task, target) pairs until None; answer each."""
    os.environ.update(environment)  # before onnxruntime is imported
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = connection.recv()
        except EOFError:  # the driver is gone
            return
        if job is None:
            return
        task, target = job
        try:
            connection.send(("done", colorize_segment(task, target)))
        except Exception as error:  # noqa: BLE001 - the driver raises it
            connection.send(("error", (describe(error), cause_errno(error))))


@dataclasses.dataclass
class _Worker:
    process: multiprocessing.Process
    connection: multiprocessing.connection.Connection
    job: tuple | None = None


class LocalScheduler:
    """Runs segment tasks here (one worker) or in ``workers`` processes."""

    def __init__(self, workers: int = 1, *, provider: str = "auto",
                 notify: Callable[[str], None] = lambda text: None) -> None:
        self.notify = notify
        gpus = visible_gpus() if provider in ("auto", "cuda", "tensorrt") else []
        cores = os.cpu_count() or 1
        if not gpus and workers > cores:
            notify(f"{workers} workers on {cores} cores: using {cores}")
            workers = cores
        self.workers = workers
        self.gpus = gpus
        self.threads = 0 if gpus else max(1, cores // workers)
        self.attempts: dict[int, int] = {}

    def run(self, tasks: list[tuple[SegmentTask, object]],
            finished: Callable[[SegmentTask, SegmentResult], None],
            progress: Callable[[int], None] | None = None) -> str:
        """Run every (task, target file); call ``finished`` for each; return the provider.
        With one worker, ``progress`` gets the frames written of the segment in progress."""
        if not tasks:
            return ""
        if self.workers == 1:
            provider = ""
            for task, target in tasks:
                result = colorize_segment(task, target, on_frames=progress)
                provider = result.provider
                finished(task, result)
            return provider
        return self._run_processes(tasks, finished)

    def close(self) -> None:
        """Nothing to release: workers live only as long as :meth:`run`."""

    def _environment(self, slot: int) -> dict[str, str]:
        if self.gpus:
            return {"CUDA_VISIBLE_DEVICES": self.gpus[slot % len(self.gpus)]}
        return {"OMP_NUM_THREADS": str(self.threads)}

    def _start(self, context, slot: int) -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, self._environment(slot)),
                                  daemon=True, name=f"streamcolor-worker-{slot}")
        process.start()
        child.close()
        return _Worker(process, parent)

    def _run_processes(self, tasks, finished) -> str:
        context = multiprocessing.get_context("spawn")
        queue = [(dataclasses.replace(t, model=dataclasses.replace(
                      t.model, threads=t.model.threads or self.threads)), target)
                 for t, target in tasks]
        originals = {id(new[0]): old[0] for new, old in zip(queue, tasks, strict=True)}
        workers = [self._start(context, slot) for slot in range(min(self.workers, len(queue)))]
        provider, pending = "", len(queue)
        try:
            while pending:
                for worker in workers:
                    if worker.job is None and queue:
                        worker.job = queue.pop(0)
                        worker.connection.send(worker.job)
                provider, pending = self._collect(context, workers, queue, finished, originals,
                                                  provider, pending)
        except BaseException:
            self._stop(workers, wait=0)  # interrupted or failed: stop at once
            raise
        self._stop(workers, wait=2)
        return provider

    def _collect(self, context, workers, queue, finished, originals, provider, pending):
        waits = [w.connection for w in workers] + [w.process.sentinel for w in workers]
        ready = multiprocessing.connection.wait(waits, timeout=1.0)
        for slot, worker in enumerate(workers):
            if worker.connection in ready:
                try:
                    kind, value = (worker.connection.recv() if worker.connection.poll()
                                   else (None, None))
                except (EOFError, ConnectionResetError):  # it died (a socket pipe may say
                    kind, value = None, None              # reset): redone below
                if kind == "done":
                    task, worker.job = worker.job[0], None
                    finished(originals[id(task)], value)
                    return value.provider or provider, pending - 1
                if kind == "error":
                    message, number = value
                    raise SegmentError(f"segment {worker.job[0].segment.index + 1}: {message}",
                                       number)
            if worker.process.sentinel in ready or not worker.process.is_alive():
                workers[slot] = self._replace(context, slot, worker, queue)
        return provider, pending

    def _replace(self, context, slot: int, worker: _Worker, queue: list) -> _Worker:
        """A worker died: its segment goes back in the queue (a few times), a new one starts."""
        worker.process.join(timeout=1)
        if worker.job is not None:
            index = worker.job[0].segment.index
            tries = self.attempts[index] = self.attempts.get(index, 0) + 1
            if tries >= ATTEMPTS:
                lost = StreamcolorError(f"segment {index + 1}: its worker died {tries} times "
                                        f"(exit status {worker.process.exitcode}); finished "
                                        "segments are kept: the same command resumes")
                lost.resumable = True  # the job folder stays (see jobs.job)
                raise lost
            self.notify(f"worker {slot + 1} died (exit status {worker.process.exitcode}); "
                        f"redoing segment {index + 1}")
            queue.insert(0, worker.job)
        return self._start(context, slot)

    @staticmethod
    def _stop(workers: list[_Worker], wait: float) -> None:
        for worker in workers:
            try:
                worker.connection.send(None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            worker.process.join(timeout=wait)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()

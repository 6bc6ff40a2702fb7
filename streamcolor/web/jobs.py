"""Film jobs from the web: a queue kept in ``ROOT/.streamcolor-serve/jobs.json``, run by
``--jobs`` worker threads, each job in a child process.

A job is the CLI's film job (:func:`streamcolor.jobs.run_films`, segmented and resumable);
its child process reports progress over a pipe. Cancelling sends the child SIGTERM, which
unwinds the job as Ctrl-C does in the CLI: finished segments stay in the job folder and
starting the job again resumes from its manifest. The queue file is replaced atomically at
every change (progress at most once a second). A server that stops with jobs running lists
them as ``interrupted`` when it starts again; they resume when started.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pathlib
import secrets
import signal
import threading
import time

from ..errors import InputError, describe
from .safety import Conflict, NotFound, relative, resolve
from .settings import ServeSettings

__all__ = ["CONTAINERS", "JobQueue"]

CONTAINERS = ("mkv", "mp4", "mov")
ACTIVE = ("queued", "running")
RESTARTABLE = ("cancelled", "failed", "interrupted")
PUBLIC = ("id", "input", "output", "state", "frames_done", "frames_total", "fps",
          "eta_seconds", "error", "created")
STOP_WAIT = 15.0  # seconds a cancelled child has to unwind before it is killed


class _Stopped(BaseException):
    """SIGTERM in a job's child process: unwind the job, keep its finished segments."""


def _stop(signum, frame) -> None:
    raise _Stopped


def _child(connection, job: dict) -> None:
    """A job's child process: run the film job, report progress and the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops it with SIGTERM
    signal.signal(signal.SIGTERM, _stop)
    from ..api import colorize_file
    from ..config import ModelConfig, TemporalConfig
    from ..jobs import run_films
    from ..jobs.job import NotSegmentable

    def progress(done: int, total: int | None) -> None:
        connection.send(("progress", done, total or 0))

    model = ModelConfig(model=job["model"])
    temporal = (TemporalConfig() if job.get("temporal_strength") is None
                else TemporalConfig(strength=float(job["temporal_strength"])))
    references = {int(k): v for k, v in (job.get("references_paths") or {}).items()} or None
    try:
        try:
            summary = run_films([(job["input_path"], job["output_path"])], model=model,
                                temporal=temporal, on_segment=progress, references=references)
            frames = summary.frames
        except NotSegmentable:  # no timestamps to cut by: one pass, as the CLI does
            frames = colorize_file(job["input_path"], job["output_path"], model=model,
                                   temporal=temporal, references=references,
                                   on_progress=lambda p: progress(p.frames, p.total)).frames
        connection.send(("done", frames))
    except _Stopped:
        connection.send(("stopped",))
    except Exception as error:  # noqa: BLE001 - reported as the job's error
        connection.send(("error", describe(error)))


class _Run:
    """One job running: its child process and whether it was asked to stop."""

    def __init__(self, process, connection) -> None:
        self.process, self.connection = process, connection
        self.stop_as: str | None = None  # "cancelled" or "interrupted"
        self.base: tuple[int, float] | None = None  # first report: frames, time


class JobQueue:
    """The server's film jobs: submitted, listed, cancelled, restarted, persisted."""

    def __init__(self, settings: ServeSettings, default_model: str | None = None) -> None:
        self.settings, self.default_model = settings, default_model
        self.path = settings.state_dir / "jobs.json"
        self._cond = threading.Condition()
        self._jobs: dict[str, dict] = self._load()
        self._runs: dict[str, _Run] = {}
        self._pending: dict[str, str] = {}  # stops asked for before the child started
        self._closing = False
        self._saved = 0.0
        self._threads = [threading.Thread(target=self._work, name=f"streamcolor-job-{i}",
                                          daemon=True) for i in range(settings.jobs)]
        for thread in self._threads:
            thread.start()

    def _load(self) -> dict[str, dict]:
        try:
            jobs = json.loads(self.path.read_text(encoding="utf-8"))["jobs"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{self.path} is unreadable ({describe(error)}); move it away "
                             "to start with no jobs") from None
        for job in jobs:
            if job["state"] == "running":
                job.update(state="interrupted", fps=0.0, eta_seconds=None)
        return {job["id"]: job for job in jobs}

    def _save(self, force: bool = True) -> None:
        """Write the queue file atomically (under the lock); progress at most once a second."""
        now = time.monotonic()
        if not force and now - self._saved < 1.0:
            return
        self._saved = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".jobs.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"jobs": list(self._jobs.values())}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def public(job: dict) -> dict:
        """What the API shows of a job."""
        return {key: job.get(key) for key in PUBLIC}

    def list(self) -> list[dict]:
        """Every job, oldest first."""
        with self._cond:
            return [self.public(j) for j in sorted(self._jobs.values(),
                                                   key=lambda j: j["created"])]

    def get(self, job_id: str) -> dict:
        """One job, or :class:`NotFound`."""
        with self._cond:
            return self.public(self._job(job_id))

    def _job(self, job_id: str) -> dict:
        if job_id not in self._jobs:
            raise NotFound(f"no job {job_id!r}")
        return self._jobs[job_id]

    def submit(self, request: dict) -> dict:
        """Queue the job a ``POST /api/jobs`` body describes (paths checked under the root)."""
        if not isinstance(request, dict) or not isinstance(request.get("input"), str):
            raise InputError("a job needs \"input\": the path of a video under the root")
        source = resolve(self.settings, request["input"])
        if not source.is_file():
            raise NotFound(f"input {request['input']!r} is not a file under the root")
        container = request.get("container")
        if container is not None and container not in CONTAINERS:
            raise InputError(f"container must be one of {', '.join(CONTAINERS)}")
        target = self._output(source, request.get("output"), container)
        strength = request.get("temporal_strength")
        if strength is not None and (not isinstance(strength, int | float)
                                     or not 0.0 <= strength <= 1.0):
            raise InputError("temporal_strength must be a number from 0 to 1")
        references = self._references(request.get("references"))
        job = {"id": secrets.token_hex(6), "input": relative(self.settings, source),
               "output": relative(self.settings, target), "state": "queued",
               "frames_done": 0, "frames_total": 0, "fps": 0.0, "eta_seconds": None,
               "error": None, "created": time.time(),
               "model": request.get("model") or self.default_model,
               "temporal_strength": strength, "references": references[0],
               "references_paths": references[1],
               "input_path": str(source), "output_path": str(target)}
        with self._cond:
            self._jobs[job["id"]] = job
            self._save()
            self._cond.notify_all()
            return self.public(job)

    def _output(self, source: pathlib.Path, given, container: str | None) -> pathlib.Path:
        if given:
            if not isinstance(given, str):
                raise InputError("output must be a path relative to the root")
            target = resolve(self.settings, given)
            if container and target.suffix.lower() != "." + container:
                raise InputError(f"output {given!r} does not end in .{container}")
        else:
            suffix = "." + (container or (source.suffix.lower().lstrip(".")
                                          if source.suffix.lower().lstrip(".") in CONTAINERS
                                          else "mkv"))
            target = source.with_name(f"{source.stem}_color{suffix}")
            number = 2
            while target.exists() or any(j["output_path"] == str(target)
                                         for j in self._jobs.values()):
                target = source.with_name(f"{source.stem}_color-{number}{suffix}")
                number += 1
        if target == source:
            raise InputError("the output must not be the input")
        if not target.parent.is_dir():
            raise NotFound(f"folder {relative(self.settings, target.parent)!r} does not exist")
        return target

    def _references(self, given) -> tuple[dict | None, dict | None]:
        if not given:
            return None, None
        if not isinstance(given, dict):
            raise InputError("references must be an object of frame index -> picture path")
        paths = {}
        for index, rel in given.items():
            if not str(index).isdigit() or not isinstance(rel, str):
                raise InputError(f"reference {index!r}: give a 0-based frame index and a path")
            path = resolve(self.settings, rel)
            if not path.is_file():
                raise NotFound(f"reference {rel!r} is not a file under the root")
            paths[str(int(index))] = str(path)
        return dict(given), paths

    def cancel(self, job_id: str) -> dict:
        """Cancel a job: a queued one is not run, a running one is stopped (waits for it);
        a finished one is removed from the list. Returns the job."""
        with self._cond:
            job = self._job(job_id)
            if job["state"] == "queued":
                job.update(state="cancelled")
                self._save()
            elif job["state"] == "running":
                self._stop(job_id, "cancelled")
                while job["state"] == "running":
                    self._cond.wait(1.0)
            else:
                del self._jobs[job_id]
                self._save()
            return self.public(job)

    def _stop(self, job_id: str, state: str) -> None:
        run = self._runs.get(job_id)
        if run is None:
            self._pending[job_id] = state
        elif run.stop_as is None:
            run.stop_as = state
            if run.process.pid is None:
                return
            with contextlib.suppress(OSError):
                run.process.terminate()

    def start(self, job_id: str) -> dict:
        """Queue a cancelled, failed or interrupted job again: it resumes from its manifest."""
        with self._cond:
            job = self._job(job_id)
            if job["state"] not in RESTARTABLE:
                raise Conflict(f"job {job_id} is {job['state']}; only a cancelled, failed or "
                               "interrupted job can be started again")
            job.update(state="queued", error=None, fps=0.0, eta_seconds=None)
            self._save()
            self._cond.notify_all()
            return self.public(job)

    def close(self) -> None:
        """Stop: running jobs are stopped and listed as interrupted; the threads end."""
        with self._cond:
            self._closing = True
            for job_id in list(self._runs):
                self._stop(job_id, "interrupted")
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _next(self) -> dict | None:
        with self._cond:
            while not self._closing:
                queued = [j for j in self._jobs.values() if j["state"] == "queued"]
                if queued:
                    job = min(queued, key=lambda j: j["created"])
                    job.update(state="running", error=None)
                    self._save()
                    return job
                self._cond.wait()
            return None

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            except Exception as error:  # noqa: BLE001 - the job fails, the worker goes on
                with self._cond:
                    job.update(state="failed", error=describe(error))
                    self._save()
                    self._cond.notify_all()

    def _run(self, job: dict) -> None:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(sender, dict(job)), daemon=True,
                                  name=f"streamcolor-job-{job['id']}")
        with self._cond:
            run = self._runs[job["id"]] = _Run(process, receiver)
            run.stop_as = self._pending.pop(job["id"], None)
            if run.stop_as is None:
                process.start()
        sender.close()
        outcome = None
        try:
            while outcome is None and process.pid is not None:
                if receiver.poll(0.25):
                    try:
                        message = receiver.recv()
                    except EOFError:
                        break
                    if message[0] == "progress":
                        self._progress(job, run, message[1], message[2])
                    else:
                        outcome = message
                elif not process.is_alive():
                    break
        finally:
            if process.pid is not None:
                self._reap(process)
            receiver.close()
            self._finish(job, run, outcome)

    @staticmethod
    def _reap(process) -> None:
        """Wait for a child to end; one that does not unwind in time is killed."""
        process.join(STOP_WAIT)
        if process.is_alive():
            process.kill()
            process.join()

    def _progress(self, job: dict, run: _Run, done: int, total: int) -> None:
        now = time.monotonic()
        with self._cond:
            if run.base is None:
                run.base = (done, now)
            frames, since = done - run.base[0], now - run.base[1]
            fps = frames / since if since > 0.5 and frames > 0 else job["fps"]
            job.update(frames_done=done, frames_total=total, fps=round(fps, 2),
                       eta_seconds=round((total - done) / fps, 1) if fps else None)
            self._save(force=False)

    def _finish(self, job: dict, run: _Run, outcome) -> None:
        with self._cond:
            del self._runs[job["id"]]
            if outcome is not None and outcome[0] == "done":
                total = job["frames_total"] or outcome[1]
                job.update(state="done", frames_done=total, frames_total=total,
                           eta_seconds=0.0)
            elif run.stop_as is not None:
                job.update(state=run.stop_as, eta_seconds=None, fps=0.0)
            elif outcome is not None and outcome[0] == "error":
                job.update(state="failed", error=outcome[1], eta_seconds=None)
            else:
                job.update(state="failed", eta_seconds=None,
                           error=f"the job's process ended (exit status "
                                 f"{run.process.exitcode}) before it finished")
            self._save()
            self._cond.notify_all()

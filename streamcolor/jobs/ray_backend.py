"""Ray scheduling: segments as tasks on an existing Ray cluster (``--ray ADDRESS``).

Each task colorizes one segment on a node Ray picks (``num_gpus=1`` where the cluster has
GPUs, :data:`TASK_CPUS` CPU otherwise) and returns the segment file's bytes through Ray's
object store; the driver alone writes segment files, the manifest and the output. Segments
are spread over the nodes (Ray's ``SPREAD`` strategy; by default Ray fills the driver's own
node first). On CPUs a task's threads fit the CPUs it holds (:func:`fit_threads`: one for
the model, one for the encoder): Ray runs as many tasks on a node as it has CPUs, and tasks
that each planned threads for all the node's cores would crowd each other out.

The input (and a model given as a path) must be readable at the same path on every node. A
task lost with its node is retried by Ray (``max_retries``); an error inside a task, such as
a wrong frame count, is not retried and stops the job. Needs ``pip install 'streamcolor[ray]'``.

Before Ray is asked to connect, a plain TCP connect (:data:`CONNECT_TIMEOUT`) checks that
something answers at the cluster's address: Ray itself retries a dead address for minutes.
What Ray's C++ core writes to stderr while connecting is kept off the user's terminal and
logged (``streamcolor`` logger, debug level).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator

from ..errors import StreamcolorError, describe
from ..runtime import threads
from .manifest import write_atomic
from .segment import SegmentError, SegmentResult, SegmentTask, cause_errno, colorize_segment

__all__ = ["RayScheduler", "MAX_RETRIES", "CONNECT_TIMEOUT", "TASK_CPUS"]

MAX_RETRIES = 3
CONNECT_TIMEOUT = 5.0  # seconds for the head's port to accept a TCP connection
TASK_CPUS = 1  # CPUs a segment task holds on a cluster without GPUs

_log = logging.getLogger("streamcolor")


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise StreamcolorError("--ray needs Ray: pip install 'streamcolor[ray]'") from error
    return ray


def _head_address(address: str) -> tuple[str, int] | None:
    """(host, port) of the head that ``address`` leads to, as Ray resolves it (``RAY_ADDRESS``,
    then ``auto`` as the latest local cluster); None where only Ray can tell."""
    try:
        from ray._private.services import get_ray_address_from_environment

        address = get_ray_address_from_environment(address, None) or address
    except Exception:  # noqa: BLE001 - a private helper: without it, check what was given
        pass
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise a one-line :class:`StreamcolorError` unless the head at ``address`` accepts a TCP
    connection within ``timeout`` seconds."""
    head = _head_address(address)
    if head is None:
        return
    try:
        socket.create_connection(head, timeout=timeout).close()
    except OSError as error:
        why = (f"no answer in {timeout:g} s" if isinstance(error, TimeoutError)
               else error.strerror or str(error))
        where = address if address == f"{head[0]}:{head[1]}" else f"{address} ({head[0]}:{head[1]})"
        raise StreamcolorError(f"no Ray cluster answers at {where}: {why}; check the address "
                               "and port (the head's GCS port, 6379 by default) and that "
                               "`ray start --head` runs there") from error


@contextlib.contextmanager
def _stderr_to_log() -> Iterator[None]:
    """Send what is written to file descriptor 2 (Ray's C++ log lines) to the debug log."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr: nothing to keep off it
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines():
                _log.debug("ray: %s", line)


def _attempt() -> int:
    """Which try of the running Ray task this is: 0 for the first, 1 for Ray's first retry."""
    try:
        import ray

        return int(ray._private.worker.global_worker.core_worker
                   .get_current_task_attempt_number())
    except Exception:  # noqa: BLE001 - a private API: without it, retries go unnamed
        return 0


def run_remote(task: SegmentTask) -> tuple[SegmentResult, bytes, int]:
    """The Ray task: colorize one segment into a scratch file; return its result, its bytes
    and which attempt this was (a node lost mid-task makes Ray run it again elsewhere)."""
    import ray

    node = ray.get_runtime_context().get_node_id()[:12]
    attempt = _attempt()
    with tempfile.TemporaryDirectory(prefix="streamcolor-segment-") as scratch:
        path = pathlib.Path(scratch) / f"segment-{task.segment.index:05d}.packets"
        result = colorize_segment(task, path)
        return dataclasses.replace(result, node=node), path.read_bytes(), attempt


def fit_threads(task: SegmentTask, cores: int) -> SegmentTask:
    """``task`` with the model's and the encoder's threads planned for ``cores`` CPUs (the
    node's count would be the plan otherwise), unless the user set them."""
    plan = threads.plan(cores=cores)
    model = dataclasses.replace(task.model, threads=task.model.threads or plan.inference)
    encode = (task.encode if task.encode.threads is not None
              else dataclasses.replace(task.encode, threads=plan.encoder))
    return dataclasses.replace(task, model=model, encode=encode)


class RayScheduler:
    """Runs segment tasks on the Ray cluster at ``address`` (``auto`` or ``HOST:PORT``)."""

    def __init__(self, address: str, *, notify: Callable[[str], None] = lambda text: None
                 ) -> None:
        self.ray = _import_ray()
        self.notify = notify
        check_reachable(address)
        try:
            with _stderr_to_log():
                self.ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                              logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise StreamcolorError(f"cannot connect to the Ray cluster at {address}: "
                                   f"{describe(error)}; start one with `ray start --head`"
                                   ) from error
        self.gpus = self.ray.cluster_resources().get("GPU", 0)

    def close(self) -> None:
        """Disconnect from the cluster (again: :meth:`run` disconnects when it ends)."""
        if self.ray.is_initialized():
            self.ray.shutdown()

    def run(self, tasks: list[tuple[SegmentTask, pathlib.Path]],
            finished: Callable[[SegmentTask, SegmentResult], None],
            progress: Callable[[int], None] | None = None) -> str:
        """Submit every task, store each segment file as it comes back; return the provider.
        (Progress is per segment: ``progress`` is not called.)"""
        ray = self.ray
        options = ({"num_gpus": 1, "num_cpus": 0} if self.gpus else {"num_cpus": TASK_CPUS})
        remote = ray.remote(run_remote).options(max_retries=MAX_RETRIES, retry_exceptions=False,
                                                scheduling_strategy="SPREAD", **options)
        pending = {remote.remote(task if self.gpus else fit_threads(task, TASK_CPUS)):
                   (task, target) for task, target in tasks}
        provider = ""
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task, target = pending.pop(ref)
                    result, data, attempt = self._get(ref, task)
                    if attempt:
                        self.notify(f"segment {task.segment.index + 1} was lost with its node "
                                    f"and redone on node {result.node} (try {attempt + 1})")
                    write_atomic(target, data)
                    provider = result.provider or provider
                    finished(task, result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.shutdown()
        return provider

    def _get(self, ref, task: SegmentTask) -> tuple[SegmentResult, bytes, int]:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            cause = error.cause if getattr(error, "cause", None) else error
            raise SegmentError(f"segment {task.segment.index + 1} failed on the cluster: "
                               f"{describe(cause)}", cause_errno(cause)) from error
        except self.ray.exceptions.RayError as error:
            raise SegmentError(f"segment {task.segment.index + 1} was lost "
                               f"{MAX_RETRIES + 1} times on the cluster: {error}") from error

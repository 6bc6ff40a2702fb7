"""Ray scheduling: segments as tasks on an existing Ray cluster (``--ray ADDRESS``).

Each task colorizes one segment on whichever node Ray picks (``num_gpus=1`` where the
cluster has GPUs, one CPU otherwise) and returns the segment file's bytes through Ray's
object store; the driver alone writes segment files, the manifest and the output. The input
(and a model given as a path) must be readable at the same path on every node. A task lost
with its node is retried by Ray (``max_retries``); an error inside a task, such as a wrong
frame count, is not retried and stops the job. Needs ``pip install 'streamcolor[ray]'``.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import tempfile
from collections.abc import Callable

from ..errors import StreamcolorError, describe
from .manifest import write_atomic
from .segment import SegmentError, SegmentResult, SegmentTask, cause_errno, colorize_segment

__all__ = ["RayScheduler", "MAX_RETRIES"]

MAX_RETRIES = 3


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise StreamcolorError("--ray needs Ray: pip install 'streamcolor[ray]'") from error
    return ray


def run_remote(task: SegmentTask) -> tuple[SegmentResult, bytes]:
    """The Ray task: colorize one segment into a scratch file; return its result and bytes."""
    import ray

    node = ray.get_runtime_context().get_node_id()[:12]
    with tempfile.TemporaryDirectory(prefix="streamcolor-segment-") as scratch:
        path = pathlib.Path(scratch) / f"segment-{task.segment.index:05d}.packets"
        result = colorize_segment(task, path)
        return dataclasses.replace(result, node=node), path.read_bytes()


class RayScheduler:
    """Runs segment tasks on the Ray cluster at ``address`` (``auto`` or ``HOST:PORT``)."""

    def __init__(self, address: str, *, notify: Callable[[str], None] = lambda text: None
                 ) -> None:
        self.ray = _import_ray()
        self.notify = notify
        try:
            self.ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                          logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise StreamcolorError(f"cannot connect to the Ray cluster at {address}: {error}; "
                                   "start one with `ray start --head`") from error
        self.gpus = self.ray.cluster_resources().get("GPU", 0)

    def run(self, tasks: list[tuple[SegmentTask, pathlib.Path]],
            finished: Callable[[SegmentTask, SegmentResult], None],
            progress: Callable[[int], None] | None = None) -> str:
        """Submit every task, store each segment file as it comes back; return the provider.
        (Progress is per segment: ``progress`` is not called.)"""
        ray = self.ray
        options = ({"num_gpus": 1, "num_cpus": 0} if self.gpus else {"num_cpus": 1})
        remote = ray.remote(run_remote).options(max_retries=MAX_RETRIES,
                                                retry_exceptions=False, **options)
        pending = {remote.remote(task): (task, target) for task, target in tasks}
        provider = ""
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task, target = pending.pop(ref)
                    result, data = self._get(ref, task)
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

    def _get(self, ref, task: SegmentTask) -> tuple[SegmentResult, bytes]:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            cause = error.cause if getattr(error, "cause", None) else error
            raise SegmentError(f"segment {task.segment.index + 1} failed on the cluster: "
                               f"{describe(cause)}", cause_errno(cause)) from error
        except self.ray.exceptions.RayError as error:
            raise SegmentError(f"segment {task.segment.index + 1} was lost "
                               f"{MAX_RETRIES + 1} times on the cluster: {error}") from error

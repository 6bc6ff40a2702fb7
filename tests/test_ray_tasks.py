"""What the Ray scheduler asks of a cluster for each segment, without a cluster: the task's
options and the threads planned for the CPUs the task holds. (The real cluster's behaviour is
in ``test_jobs_ray.py``.)"""

from __future__ import annotations

import dataclasses
import types

from streamcolor.config import EncodeConfig, ModelConfig
from streamcolor.jobs.plan import Segment
from streamcolor.jobs.ray_backend import TASK_CPUS, RayScheduler, fit_threads
from streamcolor.jobs.segment import SegmentResult, SegmentTask
from streamcolor.runtime import threads


def _task(index: int, **fields) -> SegmentTask:
    segment = Segment(index=index, first=25 * index, count=25, first_pts=512 * 25 * index,
                      end_pts=None, warm_pts=512 * 25 * index)
    return SegmentTask(input="film.mkv", segment=segment, **fields)


class _Cluster:
    """Stands in for the ``ray`` module: records what is submitted, runs nothing."""

    def __init__(self) -> None:
        self.options: dict = {}
        self.submitted: list[SegmentTask] = []
        self.exceptions = types.SimpleNamespace(RayTaskError=RuntimeError, RayError=RuntimeError)

    def remote(self, function):
        cluster = self

        class Remote:
            def options(self, **options):
                cluster.options = options
                return self

            def remote(self, task):
                cluster.submitted.append(task)
                return len(cluster.submitted) - 1

        return Remote()

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        task = self.submitted[ref]
        return (SegmentResult(index=task.segment.index, frames=25, first_pts=0, last_pts=0,
                              sha256="", seconds=1.0, node="n"), b"packets", 0)

    def cancel(self, ref, force):
        pass

    def shutdown(self):
        pass


def _scheduler(gpus: int) -> tuple[RayScheduler, _Cluster]:
    scheduler = RayScheduler.__new__(RayScheduler)  # without connecting anywhere
    cluster = _Cluster()
    scheduler.ray, scheduler.gpus, scheduler.notify = cluster, gpus, lambda text: None
    return scheduler, cluster


def test_segments_are_spread_and_their_threads_fit_the_cpus_they_hold(tmp_path):
    scheduler, cluster = _scheduler(gpus=0)
    tasks = [(_task(i), tmp_path / f"s{i}") for i in range(3)]
    done = []
    scheduler.run(tasks, lambda task, result: done.append(task))
    assert cluster.options["scheduling_strategy"] == "SPREAD"
    assert cluster.options["num_cpus"] == TASK_CPUS
    plan = threads.plan(cores=TASK_CPUS)
    assert plan.inference + plan.encoder <= 2 * TASK_CPUS  # not the node's cores
    for task in cluster.submitted:
        assert (task.model.threads, task.encode.threads) == (plan.inference, plan.encoder)
    assert done == [task for task, _ in tasks]  # the caller gets its own tasks back
    assert all(target.read_bytes() == b"packets" for _, target in tasks)


def test_threads_the_user_set_are_kept():
    task = _task(0, model=ModelConfig(threads=3), encode=EncodeConfig(threads=5))
    assert fit_threads(task, 1) == task
    both = fit_threads(_task(0), 4)
    assert (both.model.threads, both.encode.threads) == (2, 2)


def test_on_gpus_a_task_holds_a_gpu_and_plans_its_own_threads(tmp_path):
    scheduler, cluster = _scheduler(gpus=2)
    task = _task(0)
    scheduler.run([(task, tmp_path / "s0")], lambda task, result: None)
    assert cluster.options["num_gpus"] == 1 and cluster.options["num_cpus"] == 0
    assert cluster.options["scheduling_strategy"] == "SPREAD"
    assert cluster.submitted == [dataclasses.replace(task)]

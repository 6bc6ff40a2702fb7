"""Throughput benchmark: what a machine does with a model, and where the time goes.

For each (resolution, batch size): end-to-end fps of :func:`colorize_file` (decode to mux,
x264 CRF 18 as a user would run it), model-only fps (the session alone, same batch), the share
of busy time of each stage, queue occupancy, CPU %, peak RSS, and on an NVIDIA GPU its memory
and utilization. No printing here: :mod:`streamcolor.cli.bench` shows the results.
"""

from __future__ import annotations

import dataclasses
import pathlib
import resource
import shutil
import statistics
import subprocess
import threading
import time

import numpy as np

from ..api import colorize_file
from ..config import EncodeConfig, ModelConfig
from ..runtime import ModelRunner

__all__ = ["RESOLUTIONS", "Cell", "model_only_fps", "run_bench"]

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080),
               "2160p": (3840, 2160)}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One measured configuration."""

    resolution: str
    batch_size: int
    frames: int
    e2e_fps: float
    model_fps: float
    stage_share: dict[str, float]
    queue_occupancy: tuple[float, ...]
    cpu_percent: float
    peak_rss_mib: float
    gpu_memory_mib: float | None
    gpu_utilization: float | None

    @property
    def e2e_vs_model(self) -> float:
        return self.e2e_fps / self.model_fps if self.model_fps else 0.0


def model_only_fps(runner: ModelRunner, batch: int, *, seconds: float = 2.0,
                   repeats: int = 3) -> float:
    """Median fps of the model alone on random L* batches (after one warm-up run)."""
    size = runner.input_size
    batch_input = np.random.default_rng(0).uniform(0, 100, (batch, 1, size, size))
    batch_input = batch_input.astype(np.float32)
    runner.run(batch_input)
    rates = []
    for _ in range(repeats):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / repeats or done == 0:
            runner.run(batch_input)
            done += batch
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates)


class _Sampler:
    """Samples this process's RSS and the GPU (nvidia-smi, if present) in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_rss = 0
        self.gpu_memory: list[float] = []
        self.gpu_util: list[float] = []
        self._smi = shutil.which("nvidia-smi")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamcolor-bench-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * resource.getpagesize()
        self.peak_rss = max(self.peak_rss, rss)
        if self._smi:
            self._sample_gpu()

    def _sample_gpu(self) -> None:
        query = [self._smi, "--query-gpu=memory.used,utilization.gpu",
                 "--format=csv,noheader,nounits"]
        try:
            line = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
            memory, util = (float(v) for v in line.splitlines()[0].split(","))
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return
        self.gpu_memory.append(memory)
        self.gpu_util.append(util)

    def __enter__(self) -> _Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # a run shorter than the interval still gets a figure


def _clip(tmp: pathlib.Path, resolution: str, frames: int) -> pathlib.Path:
    from ..testing import ClipSpec, make_clip

    path = tmp / f"bench_{resolution}.mkv"
    if not path.exists():
        width, height = RESOLUTIONS[resolution]
        make_clip(path, ClipSpec(width=width, height=height, frames=frames,
                                 codec_options=(("preset", "veryfast"),)))
    return path


def _cell(source, resolution: str, batch: int, model: ModelConfig, model_fps: float,
          encode: EncodeConfig, tmp: pathlib.Path) -> Cell:
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with _Sampler() as sampler:
        summary = colorize_file(source, tmp / "bench_out.mkv",
                                model=dataclasses.replace(model, batch_size=batch),
                                encode=encode)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    busy = summary.stage_seconds
    total = sum(busy.values()) or 1.0
    return Cell(
        resolution=resolution, batch_size=batch, frames=summary.frames,
        e2e_fps=summary.fps, model_fps=model_fps,
        stage_share={k: v / total for k, v in busy.items()},
        queue_occupancy=summary.queue_occupancy,
        cpu_percent=100 * cpu / summary.seconds if summary.seconds else 0.0,
        peak_rss_mib=sampler.peak_rss / 2**20,
        gpu_memory_mib=max(sampler.gpu_memory) if sampler.gpu_memory else None,
        gpu_utilization=statistics.mean(sampler.gpu_util) if sampler.gpu_util else None)


def run_bench(*, input: str | None, model: ModelConfig, batch_sizes: list[int],
              resolutions: list[str], frames: int, tmp: pathlib.Path,
              encode: EncodeConfig = EncodeConfig(),
              on_cell=None) -> list[Cell]:
    """Measure every (resolution, batch size); with ``input`` its own resolution only."""
    unknown = [r for r in resolutions if r not in RESOLUTIONS]
    if unknown:
        raise ValueError(f"unknown resolution {unknown[0]!r}: choose from "
                         f"{', '.join(RESOLUTIONS)}")
    runner = ModelRunner.for_config(model)
    model_fps = {b: model_only_fps(runner, b) for b in batch_sizes}
    del runner
    cells = []
    for resolution in ([pathlib.Path(input).name] if input else resolutions):
        source = input or _clip(tmp, resolution, frames)
        for batch in batch_sizes:
            cell = _cell(source, resolution, batch, model, model_fps[batch], encode, tmp)
            cells.append(cell)
            if on_cell:
                on_cell(cell)
    return cells

"""Throughput benchmark: what a machine does with a model, and where the time goes.

For each (resolution, batch size): end-to-end fps of :func:`colorize_file` (decode to mux,
x264 CRF 18 as a user would run it), model-only fps (the session alone, same batch),
encode-only fps (the run's own colorized frames encoded again with the same encoder, settings
and pixel format), the limit those two allow done back to back, 1 / (t_encode + t_model), and
how close the run came to it; the share of busy time of each stage, queue occupancy, CPU %,
peak RSS, and on an NVIDIA GPU its memory and utilization. No printing here:
:mod:`streamcolor.cli.bench` shows the results.
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

import av
import numpy as np

from ..api import colorize_file
from ..config import EncodeConfig, ModelConfig
from ..media.encoders import choose_encoder, encoder_options
from ..runtime import ModelRunner, threads

__all__ = ["RESOLUTIONS", "Cell", "encode_frames_fps", "encode_only_fps",
           "limit_fps", "model_alone", "model_only_fps", "run_bench"]

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
    encode_fps: float = 0.0  # the same encoder on the run's colorized frames, alone

    @property
    def e2e_vs_model(self) -> float:
        return self.e2e_fps / self.model_fps if self.model_fps else 0.0

    @property
    def limit_fps(self) -> float:
        """1 / (t_encode + t_model): the work that cannot be avoided, done back to back."""
        return limit_fps(self.encode_fps, self.model_fps)

    @property
    def e2e_vs_limit(self) -> float:
        """End-to-end fps as a share of :attr:`limit_fps`."""
        return self.e2e_fps / self.limit_fps if self.limit_fps else 0.0


def limit_fps(encode_fps: float, model_fps: float) -> float:
    """The fps of encoding and inference done one after the other: 1 / (1/enc + 1/model)
    (0 where either is unknown)."""
    if encode_fps <= 0 or model_fps <= 0:
        return 0.0
    return 1.0 / (1.0 / encode_fps + 1.0 / model_fps)


def model_alone(model: ModelConfig) -> ModelRunner:
    """The runner that "model alone" is measured with: ``model`` as a run loads it, but on the
    CPU with every usable core as onnxruntime's threads (its fastest alone), unless the user
    set ``threads``. A run's plan gives the model fewer (:mod:`streamcolor.runtime.threads`:
    one on two cores, beside the encoder's); measuring the model with those would lower the
    limit 1 / (t_encode + t_model) and flatter the run."""
    runner = ModelRunner.for_config(model)
    plan = threads.of(runner)
    if runner.provider == "cpu" and not model.threads and plan.inference < plan.cores:
        runner = ModelRunner.for_config(dataclasses.replace(model, threads=plan.cores))
    return runner


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


def encode_only_fps(path: str | pathlib.Path, encode: EncodeConfig, tmp: pathlib.Path, *,
                    max_bytes: int = 512 * 2**20) -> float:
    """fps of the encoder alone on the video frames of ``path`` (a colorized output): the
    encoder an ``.mkv`` output gets from ``encode``, its options and the frames' own pixel
    format. Frames are decoded first (up to ``max_bytes`` of pictures) so only encoding and
    muxing are timed, flush included."""
    frames: list[av.VideoFrame] = []
    with av.open(str(path)) as source:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or 25
        held = 0
        for frame in source.decode(stream):
            frames.append(frame)
            held += sum(plane.buffer_size for plane in frame.planes)
            if held >= max_bytes:
                break
    out_path = tmp / "bench_encode_only.mkv"
    try:
        return encode_frames_fps(frames, encode, out_path, rate)
    finally:
        out_path.unlink(missing_ok=True)


def encode_frames_fps(frames: list[av.VideoFrame], encode: EncodeConfig,
                      out_path: str | pathlib.Path, rate=25) -> float:
    """fps of encoding and muxing ``frames`` (flush included) into ``out_path`` with the
    encoder, options and pixel format (the frames') a colorize run's sink would use there."""
    if not frames:
        return 0.0
    with av.open(str(out_path), "w") as out:
        codec = choose_encoder(encode, out.format.name, out.default_video_codec)
        video = out.add_stream(codec, rate=rate)
        supported = video.codec_context.supported_options
        names = {option.name for option in (*supported.generic, *supported.private)}
        video.codec_context.options = {k: v for k, v in
                                       encoder_options(codec, encode, rate).items() if k in names}
        video.width, video.height = frames[0].width, frames[0].height
        video.pix_fmt = frames[0].format.name
        if encode.bitrate:
            video.bit_rate = encode.bitrate
        started = time.perf_counter()
        for frame in frames:
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = time.perf_counter() - started
    return len(frames) / seconds if seconds > 0 else 0.0


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
    encode_fps = encode_only_fps(tmp / "bench_out.mkv", encode, tmp)
    return Cell(
        resolution=resolution, batch_size=batch, frames=summary.frames,
        e2e_fps=summary.fps, model_fps=model_fps,
        stage_share={k: v / total for k, v in busy.items()},
        queue_occupancy=summary.queue_occupancy,
        cpu_percent=100 * cpu / summary.seconds if summary.seconds else 0.0,
        peak_rss_mib=sampler.peak_rss / 2**20,
        gpu_memory_mib=max(sampler.gpu_memory) if sampler.gpu_memory else None,
        gpu_utilization=statistics.mean(sampler.gpu_util) if sampler.gpu_util else None,
        encode_fps=encode_fps)


def run_bench(*, input: str | None, model: ModelConfig, batch_sizes: list[int],
              resolutions: list[str], frames: int, tmp: pathlib.Path,
              encode: EncodeConfig = EncodeConfig(),
              on_cell=None, on_plan=None) -> list[Cell]:
    """Measure every (resolution, batch size); with ``input`` its own resolution only.
    ``on_cell`` gets each Cell as it is measured, ``on_plan`` the thread plan's line."""
    unknown = [r for r in resolutions if r not in RESOLUTIONS]
    if unknown:
        raise ValueError(f"unknown resolution {unknown[0]!r}: choose from "
                         f"{', '.join(RESOLUTIONS)}")
    runner = model_alone(model)
    if on_plan is not None:
        plan = threads.plan(provider=runner.provider, threads=model.threads)
        alone = threads.of(runner).inference
        note = f"; the model alone: onnxruntime {alone}" if alone != plan.inference else ""
        on_plan(plan.describe() + note)
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

"""One thread budget for a run: onnxruntime's intra-op threads, the video encoder's threads,
OpenCV's and the decoder's, planned together from the cores this process may use
(``os.sched_getaffinity``: a container's or ``taskset``'s limit, not the machine's). Printed
as one line (:meth:`ThreadPlan.describe`) by ``--debug``.

Left alone, each library takes every core: onnxruntime's pool (whose threads spin between
calls), x264's frame threads (1.5 per core), OpenCV's pool and FFmpeg's frame-threaded decoder,
beside the pipeline's five stage threads (decode, preprocess, inference, postprocess, encode).

The rule, on ``c`` usable cores:

- the CPU provider, one or two cores: onnxruntime 1 intra-op thread and the encoder
  ``c + c // 2`` (x264's own count, 1.5 a core: 3 on two cores); above two, onnxruntime
  ``c // 2`` and the encoder ``c - c // 2``. Onnxruntime's threads sleep between calls (no
  spinning); OpenCV 1; the decoder 1 (2 above two cores). On two cores the stages keep both
  cores busy, so a second intra-op thread adds synchronisation, not throughput, while x264's
  third frame thread lets it use a core the moment a stage waits. The model's and the
  encoder's threads together stay within ``2 c`` on two cores and fewer (they take turns),
  within ``c`` above two.
- a GPU provider (cuda, tensorrt): onnxruntime 1 CPU thread (the model runs on the device),
  the encoder ``max(min(2, c), c - 2)``, leaving two cores to decoding and the colour math.

The model measured alone (``bench``'s "model alone", the limit 1 / (t_encode + t_model)) gets
every core instead: that is its fastest alone, and a lower figure would flatter the run.

Measured (``benchmarks/_machine.py``: Intel(R) Xeon(R) Processor, 2 cores, AVX2),
:func:`streamcolor.colorize_file` of the grey 1280x720 (240 frames) and 1920x1080 (150 frames)
clips of ``benchmarks/efficiency.py``, bundled int8 model, stabilizer on, libx264 veryfast CRF
18, onnxruntime:x264 threads, 6 rounds interleaved, median fps (CPU ms a frame):

    onnxruntime:x264      720p          1080p         faster than 2:2 (rounds)
    2:2 (the last rule)   55.2 (35.7)   24.5 (76.2)   -
    1:2                   57.3 (34.5)   24.1 (77.1)   5 of 6 / 2 of 6
    1:3 (this rule)       56.7 (35.4)   26.2 (73.5)   5 of 6 / 6 of 6

The plan before that (2:2) against the libraries' own defaults, on a 1280x720 grey clip (150
frames of ``sam2_04_coffee.mp4``), median wall seconds over 9 runs (5 for the two marked *),
and CPU seconds:

    onnxruntime          x264   OpenCV  decoder   wall     fps   CPU s
    0 (all, spinning)    auto   auto    auto      6.57    22.8   11.8   (the defaults)
    1, spinning *        auto   auto    auto      6.53    23.0   10.9
    1, no spinning       auto   1       auto      6.15    24.4   10.8
    1, no spinning       2      1       1         6.58    22.8   11.4
    1, no spinning *     1      1       1         6.79    22.1   10.3
    2, no spinning       2      1       1         6.09    24.6   10.9

The defaults' pool of spinning threads is the cost that shows: it takes 11.8 CPU s, every
other plan 10.3-11.4. x264 held to one thread is the slowest of them. Decoded frames were
identical (the same MD5 of every frame) for every plan with x264 at two threads or auto
(three here); with x264 at one thread they differ.

So the plan does not change results: onnxruntime's and OpenCV's work is the same arithmetic
on any number of threads, and x264 gave the same frames for two and three frame threads
(frame threads bound how far down a motion search may look into a frame still being
encoded, so a different count could in principle change a frame of very fast motion; one
thread against several does change them). libx265 takes the count as its frame threads (its
worker pool stays its own: ``--encoder-option x265-params=pools=N``); libvpx as
``g_threads``. A user's ``ModelConfig.threads`` wins for onnxruntime; a user's encoder
option ``threads`` (``--encoder-option threads=N``) wins for the encoder.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from . import memory

__all__ = ["ThreadPlan", "plan", "usable_cores", "of", "apply", "for_run", "log_run", "log_plan",
           "STAGE_THREADS"]

log = logging.getLogger("streamcolor")

STAGE_THREADS = 5  # decode, preprocess, inference, postprocess, encode: mostly waiting


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this OS
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class ThreadPlan:
    """The threads of one run. 0 for ``encoder`` or ``decoder`` means the codec's own choice."""

    cores: int
    provider: str
    codec: str | None
    live: bool
    inference: int  # onnxruntime intra-op threads
    inference_from_user: bool
    spin: bool  # onnxruntime's pool threads spin between calls
    encoder: int
    opencv: int
    decoder: int
    stages: int = STAGE_THREADS

    @property
    def busy(self) -> int:
        """Threads that compute most of the time: the model's (on the CPU; on a GPU they wait
        on the device) and the encoder's: within the cores above two, twice them up to two."""
        return (self.inference if self.provider == "cpu" else 0) + self.encoder

    @property
    def total(self) -> int:
        """Every thread of the run: the busy ones, OpenCV's, the decoder's and the stages'."""
        return self.inference + self.encoder + self.opencv + self.decoder + self.stages

    def describe(self) -> str:
        """One line, e.g. for ``--debug`` and ``streamcolor bench``."""
        user = " (user)" if self.inference_from_user else ""
        spin = "" if self.spin else ", no spinning"
        encoder = self.encoder or "auto"
        decoder = self.decoder or "auto"
        return (f"threads on {self.cores} core{'s' if self.cores != 1 else ''}: onnxruntime "
                f"{self.inference}{user} ({self.provider}{spin}), {self.codec or 'encoder'} "
                f"{encoder}, OpenCV {self.opencv}, decoder {decoder}, "
                f"{self.stages} stage threads")


def plan(*, provider: str = "cpu", codec: str | None = None, live: bool = False,
         threads: int = 0, cores: int | None = None) -> ThreadPlan:
    """The plan for a run on ``provider`` (cpu, cuda, tensorrt) encoding with ``codec``;
    ``threads`` > 0 is the user's onnxruntime thread count; ``cores`` defaults to
    :func:`usable_cores`."""
    cores = max(1, cores if cores is not None else usable_cores())
    on_cpu = provider == "cpu"
    if on_cpu:
        if cores <= 2:  # one thread each for the model, the stages take the other core
            inference, encoder = 1, cores + cores // 2
        else:
            inference, encoder = cores // 2, cores - cores // 2
    else:  # the model runs on the device; its CPU threads are glue
        inference = 1
        encoder = max(min(2, cores), cores - 2)
    return ThreadPlan(cores=cores, provider=provider, codec=codec, live=live,
                      inference=threads if threads > 0 else inference,
                      inference_from_user=threads > 0, spin=False, encoder=encoder,
                      opencv=1, decoder=1 if cores <= 2 else 2)


def of(runner) -> ThreadPlan:
    """The plan a :class:`~streamcolor.runtime.ModelRunner` made (``runner.threads``), or,
    for a stand-in without one, the plan for its provider."""
    made = getattr(runner, "threads", None)
    return made if isinstance(made, ThreadPlan) else plan(
        provider=getattr(runner, "provider", "cpu"))


def apply(plan: ThreadPlan, video_stream=None) -> ThreadPlan:
    """Apply the parts of ``plan`` that live outside the runner and the encoder: OpenCV's
    threads (process-wide) and, given a PyAV input stream not yet decoded, its decoder's.
    (The runner sets onnxruntime's; ``EncodeConfig.threads`` carries the encoder's.)"""
    import cv2

    cv2.setNumThreads(plan.opencv)
    if video_stream is not None:
        video_stream.codec_context.thread_count = plan.decoder  # opened at the first packet
    return plan


def log_plan(plan: ThreadPlan) -> None:
    """The plan as one debug line on streamcolor's logger (printed by ``--debug``), once per
    process and plan (a film job's segments share one)."""
    if plan not in _LOGGED:
        _LOGGED.add(plan)
        log.debug("%s", plan.describe())


_LOGGED: set[ThreadPlan] = set()


def for_run(runner, encode, video_stream=None):
    """A run's start: ``runner``'s plan applied (OpenCV, and the decoder of ``video_stream``
    where given) and ``encode`` (an :class:`~streamcolor.config.EncodeConfig`) with the plan's
    encoder threads unless it has its own -> (plan, encode). The allocator keeps freed
    picture buffers from here on (:func:`.memory.keep_freed_buffers`)."""
    memory.keep_freed_buffers()
    budget = apply(of(runner), video_stream)
    if encode.threads is None:
        encode = dataclasses.replace(encode, threads=budget.encoder)
    return budget, encode


def log_run(budget: ThreadPlan, encode, codec: str | None, live: bool = False) -> None:
    """:func:`log_plan` of the run as it is encoded: ``codec``, and the encoder's threads as
    ``encode`` sets them (a user's encoder option ``threads`` first)."""
    own = dict(encode.options).get("threads", "")
    log_plan(dataclasses.replace(budget, codec=codec, live=live,
                                 encoder=int(own) if own.isdigit() else encode.threads))

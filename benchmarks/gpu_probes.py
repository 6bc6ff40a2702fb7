"""The device checks of issue 21, as steps of ``benchmarks/gpu_check.py``: what a CPU cannot tell.

* frame graphs on CUDA: chroma within one code of the CPU's for 10-bit 1080p with TF32 off (and
  how far TF32 on would move it); one call per batch against one call per frame (item 3, 7)
* copy overlap: IO binding's copies and compute, one batch in flight against two (item 8)
* partial batches: first-call latency of new batch sizes, padded and not (item 9)
* warm-up per thread: a new inference thread's first batch with and without its warm-up (10)
* TensorRT on a fixed-batch model: the engine builds and TensorRT runs (item 1)
* NVDEC: GPU memory of FFmpeg's own CUDA context against the primary one (``primary_ctx``),
  and NV12's luma plane against a CPU NV12 -> yuv420p conversion per frame (item 12)

Each step is short, skipped when the budget is nearly spent, and reports what it measured;
only a parity or a provider that does not run marks it failed.
"""

from __future__ import annotations

import pathlib
import statistics
import threading
import time

RUNTIME = ("numpy", "cv2", "onnxruntime")
RESERVE = 60  # seconds kept for the steps after these
NAMES = ("frame graphs on CUDA", "copy overlap", "partial batches", "warm-up per thread",
         "TensorRT fixed batch", "NVDEC context and NV12")


def _timed(work, repeat: int = 5) -> float:
    """Median seconds of ``work()`` after one untimed call."""
    work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cuda_runner(**options):
    from streamcolor.runtime import DEFAULT_MODEL, ModelRunner

    runner = ModelRunner(DEFAULT_MODEL, provider="cuda", precision="fp16", **options)
    if runner.provider != "cuda":
        raise RuntimeError(f"the CUDA provider did not start: {runner.warning}")
    return runner


def frame_graphs(entry: dict) -> None:
    """Parity of the graphs on CUDA (TF32 off, as built) with the CPU's; per batch vs per frame."""
    import numpy as np

    from streamcolor.color.lab import PlaneSpec
    from streamcolor.runtime.graphs import FrameGraphs, graph_providers

    spec, rng = PlaneSpec(bits=10), np.random.default_rng(7)
    luma = rng.integers(0, 1024, (8, 1080, 1920)).astype(np.uint16)
    ab = rng.uniform(-80, 80, (8, 2, 256, 256)).astype(np.float32)
    chroma = (540, 960)
    reference = FrameGraphs(["CPUExecutionProvider"]).chroma_planes(luma, ab, chroma, spec)
    for label, providers in (("tf32_off", graph_providers("cuda")),
                             ("tf32_on", [("CUDAExecutionProvider", {"use_tf32": "1"})])):
        planes = FrameGraphs(providers).chroma_planes(luma, ab, chroma, spec)
        entry[f"max_code_difference_{label}"] = int(max(
            np.abs(mine.astype(np.int64) - ref).max()
            for mine, ref in zip(planes, reference, strict=True)))
    graphs = FrameGraphs(graph_providers("cuda"))
    entry["ms_per_frame_batched"] = round(1000 * _timed(
        lambda: graphs.chroma_planes(luma, ab, chroma, spec)) / len(luma), 2)
    entry["ms_per_frame_one_by_one"] = round(1000 * _timed(
        lambda: [graphs.chroma_planes_one(luma[i], ab[i], chroma, spec)
                 for i in range(len(luma))]) / len(luma), 2)
    if entry["max_code_difference_tf32_off"] > 1:
        entry.update(status="failed", detail="frame graphs on CUDA differ from the CPU's by "
                     f"{entry['max_code_difference_tf32_off']} codes (10-bit)")


def copy_overlap(entry: dict) -> None:
    """What two batches in flight overlap: copies in and out against the compute alone."""
    import numpy as np
    from onnxruntime import OrtValue

    from streamcolor.runtime.binding import InFlight

    runner = _cuda_runner(max_batch=32)
    size = runner.input_size
    feed = np.random.default_rng(0).uniform(0, 100, (32, 1, size, size)).astype(np.float32)
    batches = [feed] * 24
    for depth in (1, 2):
        with InFlight(depth, runner.warm_thread) as flight:
            started = time.perf_counter()
            list(flight.ordered(iter(batches), runner.run, lambda item: True))
            entry[f"fps_in_flight_{depth}"] = round(
                len(batches) * 32 / (time.perf_counter() - started), 1)
    device = OrtValue.ortvalue_from_shape_and_type(feed.shape, feed.dtype, "cuda", 0)
    entry["ms_copy_in"] = round(1000 * _timed(lambda: device.update_inplace(feed)), 2)
    entry["ms_copy_out"] = round(1000 * _timed(device.numpy), 2)
    entry["ms_batch"] = round(1000 * _timed(lambda: runner.run(feed)), 2)
    gain = entry["fps_in_flight_2"] / entry["fps_in_flight_1"]
    entry["detail"] = (f"two batches in flight: x{gain:.2f}" + (
        "" if gain > 1.05 else " (does not pay: set in_flight to 1 on this GPU)"))


def partial_batches(entry: dict) -> None:
    """First-call latency of new batch sizes (cuDNN's search per shape), padded or not."""
    import numpy as np

    from streamcolor.runtime import batch_sizes

    for label, pad in (("unpadded", None), ("padded", batch_sizes(32))):
        runner = _cuda_runner(max_batch=32)
        runner.pad_to = pad
        firsts = []
        for n in (3, 5, 6, 7, 9, 11, 13):
            feed = np.zeros((n, 1, runner.input_size, runner.input_size), np.float32)
            started = time.perf_counter()
            runner.run(feed)
            firsts.append(time.perf_counter() - started)
        entry[f"ms_first_call_{label}"] = round(1000 * sum(firsts), 1)


def warm_up_per_thread(entry: dict) -> None:
    """A new thread's first batch after a main-thread warm-up, and after its own."""
    import numpy as np

    runner = _cuda_runner(max_batch=8)
    feed = np.zeros((8, 1, runner.input_size, runner.input_size), np.float32)
    for label, prepare in (("main_thread_only", lambda: None), ("own", runner.warm_thread)):
        seconds = []

        def first_batch(prepare=prepare, seconds=seconds):
            prepare()
            started = time.perf_counter()
            runner.run(feed)
            seconds.append(time.perf_counter() - started)

        thread = threading.Thread(target=first_batch, name="inference-probe")
        thread.start()
        thread.join()
        entry[f"ms_first_batch_{label}"] = round(1000 * seconds[0], 2)


def tensorrt_fixed_batch(entry: dict, folder: pathlib.Path) -> None:
    """A fixed-batch model on TensorRT: the exact profile builds and TensorRT runs it."""
    import numpy as np

    from streamcolor.runtime import ModelRunner
    from streamcolor.testing import make_model

    model = make_model(folder / "fixed4.onnx", fixed_batch=4)
    runner = ModelRunner(model, provider="tensorrt", cache_dir=folder / "trt", max_batch=32)
    out = runner.run(np.zeros((6, 1, 32, 32), np.float32))
    entry.update(ran_on=runner.provider, frames=len(out))
    if runner.provider != "tensorrt" or len(out) != 6:
        entry.update(status="failed", detail=f"ran on {runner.provider}: {runner.warning}")


def nvdec(entry: dict, folder: pathlib.Path) -> None:
    """FFmpeg's CUDA context beside onnxruntime's, and what NV12 -> yuv420p costs per frame."""
    import av
    from av.codec.hwaccel import HWAccel

    from streamcolor.runtime import libraries
    from streamcolor.testing import ClipSpec, make_clip

    runner = _cuda_runner(max_batch=8)  # onnxruntime's context is alive, as in a run
    clip = make_clip(folder / "nvdec.mkv", ClipSpec(width=1920, height=1080, frames=48,
                                                     codec="libx264"))
    for label, options in (("own_context", None), ("primary_ctx", {"primary_ctx": "1"})):
        before = (libraries.utilization() or [(0, 0)])[0][1]
        started, frames, reformat, plane = time.perf_counter(), 0, 0.0, 0.0
        with av.open(str(clip), hwaccel=HWAccel(device_type="cuda", options=options,
                                                 allow_software_fallback=False)) as container:
            entry[f"is_hwaccel_{label}"] = container.streams.video[0].codec_context.is_hwaccel
            for frame in container.decode(video=0):
                frames += 1
                begin = time.perf_counter()
                frame.reformat(format="yuv420p")
                reformat += time.perf_counter() - begin
                begin = time.perf_counter()
                bytes(frame.planes[0])  # NV12's luma: what the model's input needs
                plane += time.perf_counter() - begin
            entry[f"frame_format_{label}"] = frame.format.name
            entry[f"gpu_mib_added_{label}"] = (libraries.utilization() or [(0, 0)])[0][1] - before
        entry[f"decode_fps_{label}"] = round(frames / (time.perf_counter() - started), 1)
        entry[f"ms_reformat_per_frame_{label}"] = round(1000 * reformat / frames, 2)
        entry[f"ms_luma_plane_per_frame_{label}"] = round(1000 * plane / frames, 2)
    del runner


def _have_driver() -> bool:
    try:
        from streamcolor.runtime import libraries
    except ImportError:  # numpy missing: the steps say so themselves
        return False
    return libraries.probe("libcuda.so.1").loaded


def run_all(report, folder: pathlib.Path) -> None:
    """Every probe as its own step of ``report``, while the budget lasts."""
    steps = [("frame graphs on CUDA", (*RUNTIME, "onnx"), frame_graphs),
             ("copy overlap", RUNTIME, copy_overlap),
             ("partial batches", RUNTIME, partial_batches),
             ("warm-up per thread", RUNTIME, warm_up_per_thread),
             ("TensorRT fixed batch", (*RUNTIME, "onnx"),
              lambda entry: tensorrt_fixed_batch(entry, folder)),
             ("NVDEC context and NV12", ("av", *RUNTIME), lambda entry: nvdec(entry, folder))]
    driver = _have_driver()
    for name, needs, probe in steps:
        with report.step(name, needs) as entry:
            if entry is None:
                continue
            if not driver:
                entry.update(status="skipped", detail="no NVIDIA driver: needs a GPU machine")
            elif report.left() < RESERVE:
                entry.update(status="skipped", detail="time budget")
            else:
                probe(entry)

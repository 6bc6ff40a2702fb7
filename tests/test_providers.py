"""No silent CPU fallback: a stub NVIDIA driver on LD_LIBRARY_PATH and the real onnxruntime-gpu.

The stub ``libcuda.so.1`` (built here with the C compiler) answers cuDriverGetVersion, so
streamcolor sees "a driver"; the CUDA provider then fails to start for the real reason (here:
the CUDA pip libraries are not installed). Each run is a subprocess, as a user would see it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from streamcolor import ModelRunner, ProviderUnavailableError
from streamcolor.runtime import libraries, providers
from stub_driver import stub_driver

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _onnxruntime_gpu() -> pathlib.Path:
    import onnxruntime

    plugin = pathlib.Path(onnxruntime.__file__).parent / "capi" / \
        "libonnxruntime_providers_cuda.so"
    if not plugin.is_file():
        pytest.skip("needs the onnxruntime-gpu wheel (its CUDA provider plugin)")
    return plugin


def _image(folder: pathlib.Path) -> pathlib.Path:
    path = folder / "grey.png"
    ramp = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (32, 1))
    cv2.imwrite(str(path), ramp)
    return path


def _streamcolor(stub: pathlib.Path, model: pathlib.Path, *args: str):
    env = dict(os.environ, LD_LIBRARY_PATH=str(stub), PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "streamcolor", "image", str(_image(stub)),
               "-o", str(stub / "out.png"), "--model", str(model), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_auto_with_a_driver_that_ends_on_cpu_warns_once(tmp_path, model_path):
    _onnxruntime_gpu()
    result = _streamcolor(stub_driver(tmp_path, 13000), model_path, "--provider", "auto")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 0, result.stderr
    warnings = [line for line in lines if line.startswith("streamcolor: warning:")]
    assert len(warnings) == 1 and "runs on the CPU" in warnings[0] and "fix:" in warnings[0]
    assert not [line for line in lines if "onnxruntime:" in line or "[E:" in line], lines
    assert "(cpu)" in lines[-1]  # the summary names the provider that really ran
    if not libraries.probe(*libraries.cuda_libraries()["cuBLAS"]).loaded:
        assert "libcublas" in warnings[0] and "streamcolor[cuda]" in warnings[0]


def test_cuda_by_name_that_cannot_start_is_one_line_error(tmp_path, model_path):
    _onnxruntime_gpu()
    result = _streamcolor(stub_driver(tmp_path, 13000), model_path, "--provider", "cuda")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("streamcolor: error: provider 'cuda' failed to start:")
    assert "fix:" in lines[0] and not (tmp_path / "out.png").exists()


def test_old_driver_is_named_as_the_reason(tmp_path, model_path):
    _onnxruntime_gpu()
    build = libraries.onnxruntime_cuda()
    if build is None or int(build.split(".")[0]) < 13:
        pytest.skip("needs an onnxruntime-gpu built for CUDA 13 (to have a driver too old)")
    result = _streamcolor(stub_driver(tmp_path, 12020), model_path, "--provider", "cuda")
    assert result.returncode == 1
    assert "supports CUDA 12.2" in result.stderr and "built for CUDA 13" in result.stderr


def test_a_library_that_is_not_a_driver_is_named(tmp_path, model_path):
    _onnxruntime_gpu()
    result = _streamcolor(stub_driver(tmp_path, None), model_path, "--provider", "cuda")
    assert result.returncode == 1 and "no cuDriverGetVersion" in result.stderr


def test_provider_lists_in_order():
    available = list(providers.PROVIDERS.values())
    assert providers.choose("cpu", available) == ["cpu"]
    if providers.missing_gpu_part("tensorrt") is None:
        assert providers.choose("tensorrt", available) == ["tensorrt", "cuda", "cpu"]
    else:
        with pytest.raises(ProviderUnavailableError, match="'tensorrt'"):
            providers.choose("tensorrt", available)
    with pytest.raises(ProviderUnavailableError, match="unknown provider"):
        providers.choose("rocm", available)


def test_runtime_fallback_is_disabled_and_mid_run_failure_names_provider(model_path):
    runner = ModelRunner(model_path, provider="cpu")
    assert runner._session._enable_fallback is False

    class Failing:
        def run(self, *args, **kwargs):
            raise RuntimeError("CUDA failure 700: an illegal memory access")

    runner._session, runner.provider = Failing(), "cuda"
    with pytest.raises(ProviderUnavailableError, match="cuda provider failed during inference"):
        runner.run(np.zeros((1, 1, 32, 32), np.float32))


def test_tensorrt_options_cover_every_batch_and_key_the_cache(tmp_path, model_path):
    options = providers.tensorrt_options(
        cache_root=tmp_path, model=model_path, input_name="L", channels=1, size=256,
        max_batch=32, fp16=True, gpu="NVIDIA H200", version="10.13.3")
    assert options["trt_fp16_enable"] == "True"
    assert options["trt_profile_min_shapes"] == "L:1x1x256x256"
    assert options["trt_profile_max_shapes"] == options["trt_profile_opt_shapes"] == \
        "L:32x1x256x256"
    engines = pathlib.Path(options["trt_engine_cache_path"])
    assert engines.parent == tmp_path and providers.model_digest(model_path) in engines.name
    assert "NVIDIA-H200-trt10.13.3" in engines.name and engines.name.endswith("fp16")
    other = providers.tensorrt_options(
        cache_root=tmp_path, model=model_path, input_name="L", channels=1, size=256,
        max_batch=32, fp16=False, gpu="NVIDIA H100", version="10.13.3")
    assert other["trt_engine_cache_path"] != options["trt_engine_cache_path"]
    assert other["trt_timing_cache_path"] != options["trt_timing_cache_path"]


def test_io_binding_on_cpu_gives_identical_results(model_path):
    """The IO-binding path (the GPU path's code) on the CPU provider: same numbers, buffers
    reused across batches of every size, two batches in flight from two threads."""
    import concurrent.futures

    plain = ModelRunner(model_path, provider="cpu", io_binding=False)
    bound = ModelRunner(model_path, provider="cpu", io_binding=True)
    assert plain._bound is None and bound._bound is not None
    rng = np.random.default_rng(7)
    batches = [rng.uniform(0, 100, (n, 1, 32, 32)).astype(np.float32) for n in (4, 4, 1, 3, 4)]
    for batch in batches:
        np.testing.assert_array_equal(bound.run(batch), plain.run(batch))
    first = bound.run(batches[0])
    bound.run(batches[1])  # reuses the buffers of the same size
    np.testing.assert_array_equal(first, plain.run(batches[0]))  # not overwritten
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(bound.run, batches * 4))
    for batch, result in zip(batches * 4, results, strict=True):
        np.testing.assert_array_equal(result, plain.run(batch))


def test_in_flight_keeps_order_and_overlaps():
    import random
    import threading
    import time

    from streamcolor.runtime.binding import InFlight

    items = [i if i % 3 else f"packet{i}" for i in range(40)]
    active, peak, lock, done = [0], [0], threading.Lock(), []

    def work(item):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(random.uniform(0, 0.004))
        done.append(item)
        with lock:
            active[0] -= 1

    with InFlight(2) as flight:
        out = list(flight.ordered(iter(items), work, lambda i: isinstance(i, int)))
    assert out == items and sorted(done) == [i for i in items if isinstance(i, int)]
    assert peak[0] == 2  # two at once, never more
    with InFlight(1) as flight:  # inline
        assert list(flight.ordered(iter(items), lambda i: None, lambda i: True)) == items


def test_pipeline_with_two_batches_in_flight_is_identical(clip, model_path, tmp_path,
                                                         monkeypatch):
    import av

    from streamcolor import EncodeConfig, ModelConfig, colorize_file
    from streamcolor.media.frames import plane_array
    from streamcolor.testing import AudioTrack, ClipSpec

    source = clip(ClipSpec(frames=13, codec="ffv1", codec_options=(), audio=(AudioTrack(),)))
    results, depths, original = {}, [], ModelRunner.for_config
    for depth in (1, 2):
        def with_depth(config, depth=depth):
            runner = original(config)
            runner.in_flight = depth
            depths.append(depth)
            return runner

        monkeypatch.setattr(ModelRunner, "for_config", with_depth)
        target = tmp_path / f"out{depth}.mkv"
        colorize_file(source, target, encode=EncodeConfig(codec="ffv1"),
                      model=ModelConfig(model=str(model_path), provider="cpu", batch_size=4))
        with av.open(str(target)) as container:
            results[depth] = ([[plane_array(p, np.uint8).copy() for p in f.planes]
                               for f in container.decode(video=0)],
                              sum(1 for _ in container.demux(audio=0)))
    assert depths == [1, 2]
    assert len(results[2][0]) == 13 and results[1][1] == results[2][1] > 0
    for a, b in zip(results[1][0], results[2][0], strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)

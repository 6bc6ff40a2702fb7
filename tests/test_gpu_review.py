"""What a review against onnxruntime's and PyAV's sources found would break on an H100/H200
(issue 21), checked on the CPU: the options and provider lists built, the sessions' settings,
the messages. What only a device can tell is a step of ``make gpu-check``."""

from __future__ import annotations

import fcntl
import pathlib
import re
import threading
import tomllib

import numpy as np
import onnxruntime as ort
import pytest
from onnxruntime.capi import onnxruntime_inference_collection as collection

from streamcolor import ModelRunner, ProviderUnavailableError
from streamcolor.runtime import batch_sizes, libraries, providers
from streamcolor.runtime.binding import KEEP_SHAPES, InFlight
from streamcolor.testing import make_model

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _trt(tmp_path, model, **changes):
    options = dict(cache_root=tmp_path, model=model, input_name="L", channels=1, size=256,
                   max_batch=32, fp16=True, gpu="NVIDIA H200", version="10.13.3")
    return providers.tensorrt_options(**{**options, **changes})


# 1. -----------------------------------------------------------------------------------------
def test_fixed_batch_model_gets_an_exact_tensorrt_profile(tmp_path, monkeypatch):
    """A range 1..B on a fixed batch axis fails the engine build: min = opt = max there."""
    fixed = _trt(tmp_path, make_model(tmp_path / "m.onnx"), fixed_batch=4)
    assert fixed["trt_profile_min_shapes"] == fixed["trt_profile_opt_shapes"] == \
        fixed["trt_profile_max_shapes"] == "L:4x1x256x256"
    seen, real = {}, providers.tensorrt_options
    monkeypatch.setattr(providers, "tensorrt_options",
                        lambda **kw: seen.update(kw) or real(**kw))
    for batch in (4, None):
        runner = ModelRunner(make_model(tmp_path / f"b{batch}.onnx", fixed_batch=batch),
                             provider="cpu")
        runner._tensorrt_options(ort, tmp_path / "engines", 32)
        assert seen["fixed_batch"] == batch  # the runner reads the model's batch axis


# 2. -----------------------------------------------------------------------------------------
@pytest.fixture
def cuda_fails_at_creation(monkeypatch):
    """onnxruntime as on a GPU machine whose CUDA provider raises while the session is built."""
    original = collection.InferenceSession._create_inference_session

    def create(self, names, *args, **kwargs):
        first = names[0][0] if isinstance(names[0], tuple) else names[0]
        if first != "CPUExecutionProvider":
            raise RuntimeError("CUDA failure 2: out of memory (cudaMalloc)")
        return original(self, names, *args, **kwargs)

    monkeypatch.setattr(collection.InferenceSession, "_create_inference_session", create)
    monkeypatch.setattr(providers, "choose", lambda requested, available: ["cuda", "cpu"])


def test_creation_failure_by_name_is_an_error_with_the_reason(cuda_fails_at_creation,
                                                              model_path, capsys):
    with pytest.raises(ProviderUnavailableError,
                       match="provider 'cuda' failed to start: .*CUDA failure 2: out of memory"):
        ModelRunner(model_path, provider="cuda")
    assert capsys.readouterr().out == ""  # no "EP Error ... Falling back" banner


def test_creation_failure_in_auto_moves_on_and_keeps_the_reason(cuda_fails_at_creation,
                                                                model_path, capsys):
    runner = ModelRunner(model_path, provider="auto")
    assert runner.provider == "cpu" and "CUDA failure 2: out of memory" in runner.warning
    assert runner._session.get_providers() == ["CPUExecutionProvider"]
    assert runner._session._enable_fallback is False
    assert capsys.readouterr().out == ""


def test_sessions_are_built_with_onnxruntime_fallback_off(monkeypatch, model_path):
    seen = []
    original = collection.InferenceSession.__init__

    def init(self, *args, **kwargs):
        seen.append(kwargs.get("enable_fallback"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(collection.InferenceSession, "__init__", init)
    ModelRunner(model_path, provider="cpu")
    assert seen and seen[-1] == 0


# 5. -----------------------------------------------------------------------------------------
def test_tensorrt_soname_is_read_from_onnxruntimes_plugin(tmp_path, monkeypatch):
    import onnxruntime

    capi = tmp_path / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime_providers_tensorrt.so").write_bytes(
        b"\x7fELF junk\x00libcudart.so.13\x00libnvinfer.so.11\x00libnvonnxparser.so.11\x00")
    monkeypatch.setattr(onnxruntime, "__file__", str(tmp_path / "onnxruntime" / "__init__.py"))
    libraries.tensorrt_soname.cache_clear()
    try:
        assert libraries.tensorrt_soname() == "libnvinfer.so.11"
        assert libraries.cuda_libraries("13")["TensorRT"] == ("libnvinfer.so.11",
                                                             "libnvonnxparser.so.11")
    finally:
        libraries.tensorrt_soname.cache_clear()


def test_tensorrt_extra_pins_the_major_the_plugin_links():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    pin = next(r for r in extras["tensorrt"] if r.startswith("tensorrt-cu"))
    low, high = (int(v) for v in re.search(r">=(\d+)[.\d]*,<(\d+)", pin).groups())
    major = int(libraries.tensorrt_soname().rsplit(".", 1)[1])
    assert low == major and high == major + 1, pin


@pytest.fixture
def fake_tensorrt_libs(tmp_path, monkeypatch):
    """A ``tensorrt_libs`` package whose loader fails on the engine builder's library."""
    package = tmp_path / "site" / "tensorrt_libs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import sys\nsys.modules[__name__].LOADED = True\n"
        "print('Failed to load libnvinfer_builder_resource.so.10.13: cannot open shared "
        "object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(__import__("sys").modules, "tensorrt_libs", raising=False)
    libraries.preload.cache_clear()
    yield
    libraries.preload.cache_clear()


def test_tensorrt_is_loaded_by_its_own_package_and_failures_are_kept(fake_tensorrt_libs,
                                                                    capsys):
    import sys

    problems = libraries.preload()
    assert getattr(sys.modules.get("tensorrt_libs"), "LOADED", False)  # its own loader ran
    assert any("libnvinfer_builder_resource" in line for line in problems), problems
    assert capsys.readouterr().out == ""


# 6. -----------------------------------------------------------------------------------------
def test_cuda_extras_need_an_onnxruntime_that_knows_cuda13s_layout():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra in ("cuda", "tensorrt"):
        pin = next(r for r in extras[extra] if r.startswith("onnxruntime-gpu"))
        floor = tuple(int(v) for v in re.search(r">=([\d.]+)", pin).group(1).split("."))
        assert floor[:2] >= libraries.CUDA13_LAYOUT_SINCE, pin


def test_an_old_onnxruntime_beside_cuda13_libraries_is_named(tmp_path, monkeypatch):
    import types

    (tmp_path / "nvidia" / "cu13" / "lib").mkdir(parents=True)
    monkeypatch.setattr(libraries, "onnxruntime_cuda", lambda: "13.0")
    old = types.SimpleNamespace(__version__="1.24.4",
                                __file__=str(tmp_path / "onnxruntime" / "__init__.py"))
    problems = libraries._layout_problem(old)
    assert len(problems) == 1 and "nvidia/cu13/lib" in problems[0]
    assert "pip install -U 'onnxruntime-gpu>=1.28'" in problems[0]
    new = types.SimpleNamespace(**{**vars(old), "__version__": "1.31.1"})
    assert libraries._layout_problem(new) == []


def test_loader_failures_are_collected_not_swallowed(monkeypatch):
    import onnxruntime

    def preload_dlls():
        print("Failed to load /venv/nvidia/cu13/lib/libcublasLt.so.13: cannot open shared "
              "object file: No such file or directory")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install.")

    monkeypatch.setattr(onnxruntime, "preload_dlls", preload_dlls, raising=False)
    monkeypatch.setattr(libraries, "onnxruntime_cuda", lambda: "13.0")
    monkeypatch.setattr(libraries, "_tensorrt_dir", lambda: None)
    libraries.preload.cache_clear()
    try:
        assert libraries.preload() == (
            "Failed to load /venv/nvidia/cu13/lib/libcublasLt.so.13: cannot open shared object "
            "file: No such file or directory",)
    finally:
        libraries.preload.cache_clear()


# 9. -----------------------------------------------------------------------------------------
def test_gpu_batches_are_padded_to_a_few_sizes(model_path, monkeypatch):
    assert batch_sizes(32) == (1, 2, 4, 8, 16, 32) and batch_sizes(12) == (1, 2, 4, 8, 12)
    assert batch_sizes(1) == (1,)
    runner = ModelRunner(model_path, provider="cpu")
    assert runner.pad_to is None  # the CPU runs every size as it comes
    reference = np.random.default_rng(4).uniform(0, 100, (5, 1, 32, 32)).astype(np.float32)
    expected = runner.run(reference)
    runner.pad_to = batch_sizes(8)  # as a GPU runner has it
    shapes, real = [], runner._run_one
    monkeypatch.setattr(runner, "_run_one",
                        lambda feed, extra: shapes.append(len(feed)) or real(feed, extra))
    for n in (5, 3, 1, 7):
        out = runner.run(reference[:n] if n <= 5 else np.concatenate([reference] * 2)[:n])
        assert len(out) == n
    assert shapes == [8, 4, 1, 8]
    np.testing.assert_allclose(runner.run(reference), expected, atol=1e-5)


def test_bound_buffers_keep_only_recent_shapes(model_path):
    runner = ModelRunner(model_path, provider="cpu", io_binding=True)
    for n in range(1, 2 * KEEP_SHAPES + 6):
        runner.run(np.zeros((n, 1, 32, 32), np.float32))
    slots = []
    while not runner._bound._free.empty():
        slots.append(runner._bound._free.get())
    for slot in slots:
        assert len(slot._inputs) <= KEEP_SHAPES and len(slot._outputs) <= KEEP_SHAPES
        runner._bound._free.put(slot)


# 10. ----------------------------------------------------------------------------------------
def test_warm_up_runs_once_on_each_inference_thread(model_path, monkeypatch):
    runner = ModelRunner(model_path, provider="cpu")
    runner.provider = "cuda"  # warm_thread does nothing on the CPU provider
    warmed = []
    monkeypatch.setattr(runner, "warmup", lambda n: warmed.append(threading.current_thread()))
    runner.warm_thread()
    runner.warm_thread()
    assert warmed == [threading.current_thread()]
    worked = []
    with InFlight(2, runner.warm_thread) as flight:
        list(flight.ordered(range(8), lambda i: worked.append(threading.current_thread()),
                            lambda i: True))
    assert set(worked) <= set(warmed[1:]) and len(warmed) == 1 + len(set(warmed[1:]))
    assert all(t.name.startswith("inference") for t in warmed[1:])


def test_pipeline_warms_up_on_its_inference_threads(clip, model_path, tmp_path, monkeypatch):
    from streamcolor import EncodeConfig, ModelConfig, colorize_file
    from streamcolor.testing import ClipSpec

    names, original = [], ModelRunner.for_config

    def two_in_flight(config):
        runner = original(config)
        runner.in_flight = 2
        return runner

    monkeypatch.setattr(ModelRunner, "for_config", two_in_flight)
    monkeypatch.setattr(ModelRunner, "warm_thread",
                        lambda self: names.append(threading.current_thread().name))
    colorize_file(clip(ClipSpec(frames=6, codec="ffv1", codec_options=())),
                  tmp_path / "out.mkv", encode=EncodeConfig(codec="ffv1"),
                  model=ModelConfig(model=str(model_path), provider="cpu", batch_size=2))
    assert names and all(name.startswith("inference") for name in names)


# 11. ----------------------------------------------------------------------------------------
def test_engine_cache_is_keyed_by_the_profile(tmp_path):
    model = make_model(tmp_path / "m.onnx")
    paths = {_trt(tmp_path, model, max_batch=b)["trt_engine_cache_path"] for b in (8, 32)}
    paths.add(_trt(tmp_path, model, max_batch=32, fixed_batch=4)["trt_engine_cache_path"])
    assert len(paths) == 3


def test_tensorrt_sessions_are_built_under_a_file_lock(tmp_path, monkeypatch, model_path):
    runner = ModelRunner(model_path, provider="cpu")
    held = []

    def open_session(ort, model, options, entries):
        lock = pathlib.Path(entries[0][1]["trt_engine_cache_path"]) / "build.lock"
        with open(lock, "a+b") as other:  # another worker's attempt
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
            except BlockingIOError:
                held.append(True)
        return "session"

    monkeypatch.setattr(providers, "open_session", open_session)
    assert runner._open(ort, ["tensorrt", "cuda", "cpu"], 0, tmp_path, 8) == "session"
    assert held == [True]

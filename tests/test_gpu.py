"""CUDA and TensorRT providers, for real. They skip, with the reason, where no GPU can run them."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import require_module
from streamcolor import ModelConfig, ModelRunner, ProviderUnavailableError, colorize_file
from streamcolor.runtime import _missing_gpu_part
from streamcolor.testing import ClipSpec


def _require(provider: str) -> None:
    import onnxruntime as ort

    name = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    if name not in ort.get_available_providers():
        pytest.skip(f"{provider}: this onnxruntime build has no {name} (install onnxruntime-gpu)")
    missing = _missing_gpu_part(provider)
    if missing:
        pytest.skip(f"{provider}: {missing}")


@pytest.mark.gpu
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_gpu_provider_matches_cpu(provider, model_path, tmp_path):
    _require(provider)
    gpu = ModelRunner(model_path, provider=provider, cache_dir=tmp_path, precision="fp32")
    cpu = ModelRunner(model_path, provider="cpu")
    assert gpu.provider == provider
    lightness = np.random.default_rng(1).uniform(0, 100, (4, 1, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(gpu.run(lightness), cpu.run(lightness), atol=1e-2)


@pytest.mark.gpu
def test_auto_picks_a_gpu_and_colorizes_a_file(model_path, clip, tmp_path):
    _require("cuda")
    summary = colorize_file(clip(ClipSpec(frames=9)), tmp_path / "out.mkv",
                            model=ModelConfig(model=str(model_path), provider="auto"))
    assert summary.frames == 9 and summary.provider in ("cuda", "tensorrt")


def test_gpu_request_without_gpu_is_a_clear_error(model_path):
    """Where no GPU can run, asking for one by name fails with the reason (no silent CPU)."""
    missing = _missing_gpu_part("cuda")
    if missing is None:
        pytest.skip("a CUDA-capable GPU is present: the no-GPU error cannot happen here")
    with pytest.raises(ProviderUnavailableError, match="cuda"):
        ModelRunner(model_path, provider="cuda")
    assert ModelRunner(model_path, provider="auto").provider == "cpu"


@pytest.mark.gpu
def test_cuda_io_binding_and_frame_graphs_match_cpu(model_path):
    """The device path: IO binding on CUDA and the frame graphs on CUDA, against the CPU."""
    _require("cuda")
    require_module("onnx", "needs onnx to build the frame graphs")
    from streamcolor.color.lab import PlaneSpec

    gpu = ModelRunner(model_path, provider="cuda")
    cpu = ModelRunner(model_path, provider="cpu", io_binding=False)
    assert gpu._bound is not None and gpu.frame_graphs is not None
    rng = np.random.default_rng(2)
    for n in (8, 3, 8):
        lightness = rng.uniform(0, 100, (n, 1, 32, 32)).astype(np.float32)
        np.testing.assert_allclose(gpu.run(lightness), cpu.run(lightness), atol=1e-2)
    spec = PlaneSpec(bits=10)
    luma = rng.integers(0, 1024, (2, 72, 128)).astype(np.uint16)
    ab = rng.uniform(-50, 50, (2, 2, 32, 32)).astype(np.float32)
    from streamcolor.runtime.graphs import FrameGraphs

    host = FrameGraphs(["CPUExecutionProvider"])
    for mine, ref in zip(gpu.frame_graphs.chroma_planes(luma, ab, (36, 64), spec),
                         host.chroma_planes(luma, ab, (36, 64), spec), strict=True):
        assert np.abs(mine.astype(int) - ref).max() <= 1


@pytest.mark.gpu
def test_tensorrt_profile_covers_every_batch_size(model_path, tmp_path):
    """One fp16 engine serves batches 1..B: no rebuild for the last partial batch."""
    _require("tensorrt")
    runner = ModelRunner(model_path, provider="tensorrt", cache_dir=tmp_path, max_batch=8)
    assert runner.provider == "tensorrt" and runner.precision == "fp16"
    engines = sorted(tmp_path.rglob("*.engine"))
    assert engines, "the warm-up built no engine"
    for n in (1, 5, 8, 2):
        assert runner.run(np.zeros((n, 1, 32, 32), np.float32)).shape[0] == n
    assert sorted(tmp_path.rglob("*.engine")) == engines


@pytest.mark.gpu
def test_nvdec_luma_is_the_software_decoders(clip):
    """--hwaccel cuda: frames decoded on the GPU carry the same luma as software decoding."""
    from streamcolor.media import hwaccel
    from streamcolor.media.frames import plane_array
    from streamcolor.media.sources import FileSource

    problem = hwaccel.cuda_decode_problem()
    if problem:
        pytest.skip(f"GPU decode: {problem}")
    path = clip(ClipSpec(width=256, height=144, frames=6))
    lumas = {}
    for mode in ("cuda", "none"):
        with FileSource(path, hwaccel=mode) as source:
            assert source.video.codec_context.is_hwaccel == (mode == "cuda")
            frames = [f for f in source.items() if hasattr(f, "planes")]
            lumas[mode] = [plane_array(f.planes[0], np.uint8).copy() for f in frames]
    assert len(lumas["cuda"]) == 6
    for gpu, cpu in zip(lumas["cuda"], lumas["none"], strict=True):
        np.testing.assert_array_equal(gpu, cpu)

"""The per-frame colour math as ONNX graphs: parity with the numpy path within one code value,
on the CPU provider (the GPU runs the same graphs)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from helpers import require_module
from streamcolor import EncodeConfig, ModelConfig, colorize_file
from streamcolor.color.lab import PlaneSpec, chroma_planes, lightness_lut, model_input
from streamcolor.media.frames import plane_array
from streamcolor.testing import ClipSpec

require_module("onnx", "needs onnx to build the frame graphs")
from streamcolor.runtime.graphs import FrameGraphs  # noqa: E402

SUBSAMPLING = {"420": (2, 2), "422": (1, 2), "444": (1, 1)}


@pytest.fixture(scope="module")
def graphs():
    return FrameGraphs(["CPUExecutionProvider"])


def _luma(spec: PlaneSpec, shape, seed: int) -> np.ndarray:
    """Two frames of film-like luma: smooth shapes, noise, the full code range."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, spec.max_code + 1, (2, *shape)).astype(np.float32)
    smooth = np.stack([cv2.GaussianBlur(n, (0, 0), 4) for n in noise])
    smooth = (smooth - smooth.min()) / np.ptp(smooth) * spec.max_code
    return np.clip(smooth + rng.normal(0, spec.max_code / 100, smooth.shape), 0,
                   spec.max_code).astype(spec.dtype)


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("subsampling", sorted(SUBSAMPLING))
@pytest.mark.parametrize("full_range", [False, True])
def test_chroma_graph_matches_numpy_within_one_code(graphs, bits, subsampling, full_range):
    spec = PlaneSpec(bits=bits, full_range=full_range, kr_kb=(0.2126, 0.0722))
    shape = (90, 162)
    down = SUBSAMPLING[subsampling]
    chroma = (-(-shape[0] // down[0]), -(-shape[1] // down[1]))
    luma = _luma(spec, shape, bits)
    ab = np.random.default_rng(3).uniform(-70, 70, (2, 2, 32, 32)).astype(np.float32)
    cb, cr = graphs.chroma_planes(luma, ab, chroma, spec)
    assert cb.dtype == spec.dtype and cb.shape == (2, *chroma)
    for i in range(2):
        ref_cb, ref_cr = chroma_planes(luma[i], ab[i], chroma, spec)
        for mine, ref in ((cb[i], ref_cb), (cr[i], ref_cr)):
            difference = np.abs(mine.astype(np.int64) - ref)
            assert difference.max() <= 1 and difference.mean() < 0.01


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("shape", [(512, 512), (270, 480), (75, 101)])
def test_model_input_graph_matches_numpy(graphs, bits, shape):
    spec = PlaneSpec(bits=bits)
    luma = _luma(spec, shape, 5)
    lightness = graphs.model_input(luma, 64, spec)
    assert lightness.shape == (2, 1, 64, 64) and lightness.dtype == np.float32
    lut_step = float(np.diff(lightness_lut(spec)).max())  # one luma code (upscaling rounds)
    for i in range(2):
        reference = model_input(luma[i], 64, spec)
        assert np.abs(lightness[i, 0] - reference).max() <= lut_step + 1e-4


def _planes(path):
    with av.open(str(path)) as container:
        return [[plane_array(p, np.uint8).copy() for p in frame.planes]
                for frame in container.decode(video=0)]


def test_pipeline_with_frame_graphs_on_cpu(clip, model_path, tmp_path):
    source = clip(ClipSpec(width=96, height=64, frames=5, codec="ffv1", codec_options=()))
    runners, outputs = [], {}
    for graphs_on in (False, True):
        target = tmp_path / f"out_{graphs_on}.mkv"
        colorize_file(source, target, encode=EncodeConfig(codec="ffv1"),
                      model=ModelConfig(model=str(model_path), provider="cpu",
                                        frame_graphs=graphs_on),
                      on_start=lambda runner, sink: runners.append(runner))
        outputs[graphs_on] = _planes(target)
    assert runners[0].frame_graphs is None and runners[1].frame_graphs is not None
    assert len(outputs[True]) == len(outputs[False]) == 5
    for mine, ref in zip(outputs[True], outputs[False], strict=True):
        np.testing.assert_array_equal(mine[0], ref[0])  # luma passes through untouched
        for plane, reference in zip(mine[1:], ref[1:], strict=True):
            assert np.abs(plane.astype(int) - reference).max() <= 1


def test_graphs_on_cuda_run_without_tf32():
    """TF32 rounds the resize products to ~11 bits on Hopper: 10-bit luma would move codes."""
    from streamcolor.runtime.graphs import graph_providers

    assert graph_providers("cpu") == ["CPUExecutionProvider"]
    for provider in ("cuda", "tensorrt"):
        first, *rest = graph_providers(provider)
        assert first == ("CUDAExecutionProvider", {"use_tf32": "0"})
        assert rest == ["CPUExecutionProvider"]


def test_graph_sessions_never_fall_back_silently(monkeypatch, capsys):
    """A graph session that cannot start on its provider is an error with the reason; no
    onnxruntime "EP Error ... Falling back" banner on stdout."""
    from onnxruntime.capi import onnxruntime_inference_collection as collection

    from streamcolor import ProviderUnavailableError

    def refuse(self, providers, *args, **kwargs):
        raise RuntimeError("CUDA failure 999: the device is lost")

    monkeypatch.setattr(collection.InferenceSession, "_create_inference_session", refuse)
    graphs = FrameGraphs(["CPUExecutionProvider"])
    with pytest.raises(ProviderUnavailableError, match="CUDA failure 999.*--provider cpu"):
        graphs.model_input(np.zeros((1, 16, 16), np.uint8), 8, PlaneSpec(bits=8))
    assert "EP Error" not in capsys.readouterr().out


def test_graphs_run_once_per_batch(clip, model_path, tmp_path, monkeypatch):
    """The pipeline calls each graph once per batch (one upload, sync and download), not once
    per frame, with the per-frame path's results."""
    calls = {"pre": [], "post": []}
    model_input_batch, chroma_batch = FrameGraphs.model_input, FrameGraphs.chroma_planes

    def pre(self, luma, *args):
        calls["pre"].append(len(luma))
        return model_input_batch(self, luma, *args)

    def post(self, luma, *args):
        calls["post"].append(len(luma))
        return chroma_batch(self, luma, *args)

    monkeypatch.setattr(FrameGraphs, "model_input", pre)
    monkeypatch.setattr(FrameGraphs, "chroma_planes", post)
    source = clip(ClipSpec(width=96, height=64, frames=10, codec="ffv1", codec_options=()))
    colorize_file(source, tmp_path / "out.mkv", encode=EncodeConfig(codec="ffv1"),
                  model=ModelConfig(model=str(model_path), provider="cpu", frame_graphs=True,
                                    batch_size=4))
    assert calls["pre"] == calls["post"] == [4, 4, 2]

"""Models whose batch axis is fixed (e.g. 4): partial batches are padded, the padding dropped."""

from __future__ import annotations

import numpy as np

from helpers import luma_planes, video_pts
from streamcolor import EncodeConfig, ModelConfig, ModelRunner, colorize_file
from streamcolor.testing import ClipSpec, make_model


def test_partial_batches_match_a_dynamic_model(tmp_path):
    fixed = ModelRunner(make_model(tmp_path / "fixed.onnx", fixed_batch=4), provider="cpu")
    dynamic = ModelRunner(make_model(tmp_path / "dynamic.onnx"), provider="cpu")
    assert fixed.fixed_batch == 4 and dynamic.fixed_batch is None
    rng = np.random.default_rng(5)
    for count in (1, 3, 4, 5, 9):
        lightness = rng.uniform(0, 100, (count, 1, 32, 32)).astype(np.float32)
        ab = fixed.run(lightness)
        assert ab.shape == (count, 2, 32, 32)
        np.testing.assert_allclose(ab, dynamic.run(lightness), rtol=1e-5, atol=1e-4)


def test_fixed_batch_model_colorizes_every_frame(clip, tmp_path):
    model = make_model(tmp_path / "fixed4.onnx", fixed_batch=4)
    source = clip(ClipSpec(frames=11, codec="ffv1", codec_options=()))
    output = tmp_path / "out.mkv"
    summary = colorize_file(source, output,
                            model=ModelConfig(model=str(model), provider="cpu", batch_size=3),
                            encode=EncodeConfig(codec="ffv1"))
    assert summary.frames == 11 and video_pts(output) == video_pts(source)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)

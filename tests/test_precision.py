"""--precision: which file runs where (fp16 on GPUs, int8 on the CPU where its error is small)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import require_module
from streamcolor import ModelError, ModelRunner
from streamcolor.runtime import DEFAULT_MODEL
from streamcolor.runtime.precision import ERROR_KEY, INT8_AUTO_LIMIT, choose, variant_path

onnx = require_module("onnx", "needs onnx to write variant metadata")


def _with_error(source, target, error: float):
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props} | {ERROR_KEY: str(error)}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(target))
    return target


@pytest.fixture
def model(tmp_path, model_path):
    return shutil.copy(model_path, tmp_path / "m.onnx")


def test_auto_on_cpu_takes_int8_only_when_its_error_is_small(model):
    assert choose(model, "auto", "cpu").path == model  # no variant beside it
    _with_error(model, variant_path(model, "int8"), INT8_AUTO_LIMIT / 2)
    picked = choose(model, "auto", "cpu")
    assert picked.precision == "int8" and picked.path.name == "m-int8.onnx"
    _with_error(model, variant_path(model, "int8"), INT8_AUTO_LIMIT * 3)
    assert choose(model, "auto", "cpu").precision == "fp32"
    assert choose(model, "fp32", "cpu").path == model


def test_gpu_choices(model):
    trt = choose(model, "auto", "tensorrt")
    assert trt.path == model and trt.tensorrt_fp16 and trt.precision == "fp16"
    assert not choose(model, "fp32", "tensorrt").tensorrt_fp16
    assert choose(model, "auto", "cuda").precision == "fp32"  # no fp16 file: fp32
    shutil.copy(model, variant_path(model, "fp16"))
    assert choose(model, "auto", "cuda").path.name == "m-fp16.onnx"
    with pytest.raises(ModelError, match="int8 is the CPU variant"):
        choose(model, "int8", "tensorrt")
    with pytest.raises(ModelError, match="no int8 variant"):
        choose(model, "int8", "cpu")


def test_runner_reports_the_precision_it_runs(model):
    _with_error(model, variant_path(model, "int8"), 0.1)
    runner = ModelRunner(model, provider="cpu")
    assert runner.precision == "int8" and runner.path.name == "m-int8.onnx"
    assert ModelRunner(model, provider="cpu", precision="fp32").path == model


def test_bundled_variants_are_close_to_fp32():
    if not variant_path(DEFAULT_MODEL, "int8").is_file():
        pytest.skip("needs the bundled int8 variant (benchmarks/precision.py --build)")
    lightness = np.linspace(0, 100, 2 * 256 * 256, dtype=np.float32).reshape(2, 1, 256, 256)
    reference = ModelRunner(None, provider="cpu", precision="fp32").run(lightness)
    for precision, limit in (("int8", INT8_AUTO_LIMIT), ("fp16", 0.05)):
        runner = ModelRunner(None, provider="cpu", precision=precision)
        assert runner.precision == precision
        assert np.abs(runner.run(lightness) - reference).mean() < limit


def test_cli_precision_and_frame_graphs(clip, model, tmp_path, capsys):
    from streamcolor.cli.main import main
    from streamcolor.testing import ClipSpec

    source = clip(ClipSpec(frames=3))
    _with_error(model, variant_path(model, "int8"), 0.2)
    for args, expected in ((["--precision", "fp32", "--frame-graphs"], "model m.onnx "),
                           ([], "model m-int8.onnx ")):
        target = tmp_path / f"out{len(args)}.mkv"
        assert main(["colorize", str(source), "-o", str(target), "--model", str(model),
                     "--provider", "cpu", "--hwaccel", "none", *args]) == 0
        assert expected in capsys.readouterr().err and target.is_file()
    assert main(["colorize", str(source), "-o", str(tmp_path / "x.mkv"), "--model", str(model),
                 "--provider", "cpu", "--precision", "fp16"]) == 1
    assert "no fp16 variant of m.onnx" in capsys.readouterr().err


def test_imported_onnx_gets_an_fp16_variant_with_its_error(tmp_path, monkeypatch, model_path):
    """An imported ONNX file (no weights to rebuild from) gets fp16 by conversion, measured
    against fp32; ``--precision fp16`` then finds it."""
    from streamcolor.zoo import import_model
    from streamcolor.zoo.registry import read_info

    monkeypatch.setenv("STREAMCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STREAMCOLOR_MANIFESTS", raising=False)
    path = import_model("tiny-import", model_path, family="generic")
    half = variant_path(path, "fp16")
    assert half.is_file()
    figures = read_info("tiny-import")["variants"]["fp16"]
    assert 0 <= figures["ab_mean_abs_error"] < 0.5
    assert ModelRunner(path, provider="cpu", precision="fp16").path == half

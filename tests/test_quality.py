"""Quality metrics, the folder evaluation, the contact sheet, and the shipped compact model."""

from __future__ import annotations

import argparse
import json
import math
import pathlib

import cv2
import numpy as np
import pytest

from streamcolor.cli import eval as eval_cli
from streamcolor.diagnostics import quality
from streamcolor.testing import make_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "streamcolor" / "weights" / "streamcolor-compact.onnx"


def test_colorfulness_of_grey_is_zero():
    grey = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    assert quality.colorfulness(grey) == 0.0


def test_colorfulness_known_values():
    flat = np.zeros((4, 4, 3), np.uint8)
    flat[..., 0] = 200  # constant red: no spread, mean rg = 200, yb = 100
    assert quality.colorfulness(flat) == pytest.approx(0.3 * math.hypot(200, 100))
    half = np.zeros((2, 2, 3), np.uint8)
    half[0, :, 0] = 255  # half red, half black
    expected = 0.5 * math.hypot(255, 127.5) + 0.3 * math.hypot(127.5, 63.75)
    assert quality.colorfulness(half) == pytest.approx(expected)


def test_psnr_identical_offset_and_shapes():
    a = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert quality.psnr_rgb(a, a) == quality.PSNR_CAP
    assert quality.psnr_rgb(a + 1, a) == pytest.approx(20 * math.log10(255))
    with pytest.raises(ValueError, match="shapes differ"):
        quality.psnr_rgb(a, a[:4])


def test_compose_with_zero_ab_is_the_grey_picture():
    luma = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    bgr = quality.compose(luma, np.zeros((2, 4, 4), np.float32))
    assert np.abs(bgr.astype(int) - luma[..., None]).max() <= 1
    assert quality.colorfulness(bgr) < 1.0


def _photos(folder: pathlib.Path, count: int = 5) -> pathlib.Path:
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(count):
        picture = np.zeros((40, 56, 3), np.uint8)
        picture[:, :28] = rng.integers(0, 256, 3)
        picture[:, 28:] = rng.integers(0, 256, 3)
        cv2.imwrite(str(folder / f"p{i}.png"), picture)
    return folder


def test_evaluate_folder_with_tiny_model(tmp_path):
    from streamcolor.runtime import ModelRunner

    folder = _photos(tmp_path / "photos")
    runner = ModelRunner(make_model(tmp_path / "tiny.onnx", input_size=None), provider="cpu")
    result = quality.evaluate_folder(folder, runner, limit=4, batch_size=3,
                                     sheet=tmp_path / "sheet.png", sheet_count=3)
    assert result["images"] == 4
    rows = result["rows"]
    assert rows["gray"]["colorfulness"] < 1.0
    assert rows["original"]["psnr"] is None
    assert rows["original"]["colorfulness"] > 10
    assert rows["ours"]["colorfulness"] > 1.0
    assert math.isfinite(rows["ours"]["psnr"]) and math.isfinite(rows["mean_color"]["psnr"])
    assert result["psnr_minus_gray"] == pytest.approx(rows["ours"]["psnr"] - rows["gray"]["psnr"])
    sheet = cv2.imread(result["sheet"])
    assert sheet.shape[0] == 3 * (160 + 4) and sheet.shape[1] == 3 * 224 + 8
    assert "constant mean color" in quality.format_table(result)


def test_eval_command(tmp_path, capsys):
    folder = _photos(tmp_path / "photos", count=2)
    model = make_model(tmp_path / "tiny.onnx", input_size=None)
    parser = argparse.ArgumentParser()
    eval_cli.add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", str(folder), "--model", str(model), "--provider", "cpu",
                              "--json", str(tmp_path / "r.json")])
    assert eval_cli.run_eval_command(args) == 0
    assert "PSNR" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 2


@pytest.mark.skipif(not SHIPPED.exists(), reason="the compact model is not built yet")
def test_shipped_compact_model_obeys_the_contract():
    from streamcolor.runtime import ModelRunner

    assert SHIPPED.stat().st_size < 10 * 1024 * 1024
    runner = ModelRunner(SHIPPED, provider="cpu")
    assert runner.contract.input_kind == "L" and runner.contract.output_kind == "ab"
    assert runner.contract.family == "compact" and runner.input_size == 224
    lightness = np.linspace(0, 100, 2 * 224 * 224, dtype=np.float32).reshape(2, 1, 224, 224)
    ab = runner.run(lightness)
    assert ab.shape == (2, 2, 56, 56)
    assert np.isfinite(ab).all() and np.abs(ab).max() < 120

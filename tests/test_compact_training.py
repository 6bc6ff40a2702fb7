"""Training the compact colorizer: a few steps, checkpoint, exact resume, ONNX export."""

from __future__ import annotations

import json
import pathlib

import cv2
import numpy as np
import pytest

from helpers import require_module

torch = require_module("torch", "PyTorch is not installed (pip install torch==2.13.0)")
require_module("onnx", "onnx is not installed")

from models.compact import export as compact_export  # noqa: E402
from models.compact import train as compact_train  # noqa: E402
from models.compact.model import CompactNet, count_macs, gamut_bins  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture()
def config(tmp_path) -> dict:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(8):
        picture = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (48, 40),
                             interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(photos / f"p{i}.png"), picture)
    base = json.loads((ROOT / "models/compact/config.json").read_text())
    base.update(train_dir=str(photos), cache=str(tmp_path / "cache.npz"), cache_size=48,
                holdout=2, width=8, crop=32, batch=4, warmup_steps=2, total_steps=6,
                prior_images=6, checkpoint_dir=str(tmp_path / "run"), log_every=1,
                checkpoint_every_s=1e9, input_size=32)
    return base


def _quiet(*_args, **_kwargs) -> None:
    pass


def test_resume_continues_exactly(config):
    straight = compact_train.Trainer(config, device="cpu")
    straight.run(max_steps=6, log=_quiet)
    assert straight.step == 6

    config = dict(config, checkpoint_dir=config["checkpoint_dir"] + "2")
    first = compact_train.Trainer(config, device="cpu")
    first.run(max_steps=3, log=_quiet)
    assert first.checkpoint_path.exists() and first.step == 3
    resumed = compact_train.Trainer(config, device="cpu")
    assert resumed.load() and resumed.step == 3
    resumed.run(log=_quiet)
    assert resumed.step == 6
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert (pathlib.Path(config["checkpoint_dir"]) / "step000006.pt").exists()


def test_export_obeys_the_contract(config, tmp_path):
    from streamcolor.runtime import ModelRunner

    trainer = compact_train.Trainer(config, device="cpu")
    trainer.run(max_steps=2, log=_quiet)
    path = compact_export.export(trainer.checkpoint_path, tmp_path / "m.onnx")
    runner = ModelRunner(path, provider="cpu")
    contract = runner.contract
    assert (contract.input_kind, contract.output_kind, contract.family) == ("L", "ab", "compact")
    assert contract.name == "streamcolor-compact" and runner.input_size == 32
    for batch, size in ((3, 32), (1, 64)):
        lightness = np.random.default_rng(0).uniform(0, 100, (batch, 1, size, size))
        ab = runner.run(lightness.astype(np.float32))
        assert ab.shape == (batch, 2, size // 4, size // 4)
        assert np.isfinite(ab).all() and np.abs(ab).max() < 120
    model, _ = compact_export.load_colorizer(trainer.checkpoint_path)
    with torch.no_grad():
        expected = model(torch.from_numpy(lightness.astype(np.float32))).numpy()
    np.testing.assert_allclose(ab, expected, atol=1e-3)


def test_shipped_architecture_is_within_budget():
    net = CompactNet(len(gamut_bins()), 32)
    assert 2 * count_macs(net, 224) <= 2e9

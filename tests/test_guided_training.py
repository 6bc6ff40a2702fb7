"""The guided compact model (v2): it starts as exactly v1, hints are drawn from the truth,
a few training steps run and resume, and the export is a guided ONNX model."""

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
from models.compact import hints as compact_hints  # noqa: E402
from models.compact.guided import GuidedColorizer, from_onnx  # noqa: E402
from models.compact.train_guided import GuidedTrainer  # noqa: E402
from streamcolor.runtime import ModelRunner  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
V1 = ROOT / "models/compact/streamcolor-compact-v1.onnx"  # what v2 is fine-tuned from


def test_v2_starts_as_exactly_v1():
    import onnxruntime as ort

    net, centers = from_onnx(V1)
    model = GuidedColorizer(net, centers, temperature=0.8).eval()
    lightness = np.random.default_rng(0).uniform(0, 100, (2, 1, 64, 64)).astype(np.float32)
    expected = ort.InferenceSession(str(V1), providers=["CPUExecutionProvider"]).run(
        None, {"lightness": lightness})[0]
    rng = np.random.default_rng(1)
    mask = (rng.random((2, 1, 64, 64)) < 0.2).astype(np.float32)
    with torch.no_grad():
        for hint_ab in (np.zeros((2, 2, 64, 64), np.float32),
                        rng.uniform(-80, 80, (2, 2, 64, 64)).astype(np.float32)):
            got = model(*(torch.from_numpy(a) for a in (lightness, hint_ab, mask))).numpy()
            assert np.abs(got - expected).max() < 1e-4  # guidance weights start at zero


def test_hints_come_from_the_truth():
    rng = np.random.default_rng(4)
    ab = rng.uniform(-50, 50, (12, 2, 32, 32)).astype(np.float32)
    hints, mask = compact_hints.sample_hints(ab, rng)
    assert hints.shape == ab.shape and mask.shape == (12, 1, 32, 32)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert not (hints * (1 - mask)).any()  # no colour where there is no hint
    kinds = {"none": 0, "some": 0}
    for m in mask:
        kinds["none" if not m.any() else "some"] += 1
    assert kinds["none"] and kinds["some"]
    patch, where = compact_hints.patch_hints(ab[0], np.array([[10, 12]]), 3)
    np.testing.assert_allclose(patch[:, 10, 12], ab[0][:, 9:12, 11:14].mean((1, 2)), rtol=1e-5)
    assert where.sum() == 9


@pytest.fixture()
def config(tmp_path) -> dict:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        picture = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (48, 40),
                             interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(photos / f"p{i}.png"), picture)
    base = json.loads((ROOT / "models/compact/guided.json").read_text())
    base.update(train_dir=str(photos), cache=str(tmp_path / "cache.npz"), cache_size=48,
                holdout=1, crop=32, batch=3, warmup_steps=1, total_steps=4, prior_images=4,
                checkpoint_dir=str(tmp_path / "run"), log_every=1, checkpoint_every_s=1e9,
                input_size=32, start_from=str(V1), hint_kinds=[0.0, 0.5, 0.5])
    return base


def test_a_few_steps_resume_exactly_and_export_a_guided_model(config, tmp_path):
    straight = GuidedTrainer(config, device="cpu")
    straight.run(max_steps=4, log=lambda *a, **k: None)
    config = dict(config, checkpoint_dir=config["checkpoint_dir"] + "2")
    first = GuidedTrainer(config, device="cpu")
    first.run(max_steps=2, log=lambda *a, **k: None)
    resumed = GuidedTrainer(config, device="cpu")
    assert resumed.load() and resumed.step == 2
    resumed.run(log=lambda *a, **k: None)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key

    path = compact_export.export_guided(resumed.checkpoint_path, tmp_path / "v2.onnx")
    runner = ModelRunner(path, provider="cpu")
    assert runner.guided and runner.contract.guidance == ("hint_ab", "hint_mask")
    lightness = np.full((1, 1, 32, 32), 60, np.float32)
    mask = np.zeros((1, 1, 32, 32), np.float32)
    mask[..., :16, :] = 1
    hint_ab = np.zeros((1, 2, 32, 32), np.float32)
    hint_ab[:, 0] = 60
    plain, hinted = runner.run(lightness), runner.run(lightness, (hint_ab, mask))
    assert plain.shape == hinted.shape == (1, 2, 8, 8)
    assert np.abs(hinted - plain).max() > 1e-4  # trained guidance weights act


def test_a_frozen_backbone_keeps_v1_exactly_without_hints(config):
    """``freeze_backbone``: only the guidance weights learn, so after training the network
    without hints is still v1, bit for bit, while with hints it has changed."""
    config = dict(config, freeze_backbone=True, total_steps=3)
    trainer = GuidedTrainer(config, device="cpu")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run(log=lambda *a, **k: None)
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith("guide.weight") for k in changed), changed
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (2, 1, 32, 32)).astype(
        np.float32))
    with torch.no_grad():
        zero = torch.zeros(2, 3, 32, 32)
        assert torch.equal(trainer.model(x, zero), trainer.teacher(x, zero))
        guide = zero.clone()
        guide[:, 0], guide[:, 2] = 0.5, 1.0
        assert not torch.equal(trainer.model(x, guide), trainer.teacher(x, guide))


def test_distillation_pulls_unhinted_pictures_towards_v1(config):
    """With ``distill``, a batch without hints adds the KL divergence to v1 (zero while the
    network is v1, positive once it has moved)."""
    trainer = GuidedTrainer(dict(config, distill=1.0), device="cpu")
    lightness, ab, _, _ = trainer.sample(np.random.default_rng([config["seed"], 0]))
    arrays = [torch.from_numpy(a) for a in (lightness, ab)]
    none = [torch.zeros(len(ab), 2, *ab.shape[2:]), torch.zeros(len(ab), 1, *ab.shape[2:])]
    plain = trainer.rebalanced_ce(trainer.model((arrays[0] - 50) / 50, torch.zeros(
        len(ab), 3, *ab.shape[2:])), arrays[1])
    with torch.no_grad():
        assert float(trainer.loss(*arrays, *none)) == pytest.approx(float(plain), abs=1e-5)
        trainer.model.head.bias.add_(torch.linspace(-2, 2, trainer.model.head.bias.numel()))
        moved = trainer.model((arrays[0] - 50) / 50, torch.zeros(len(ab), 3, *ab.shape[2:]))
        assert float(trainer.loss(*arrays, *none)) > float(
            trainer.rebalanced_ce(moved, arrays[1])) + 1e-3

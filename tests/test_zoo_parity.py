"""Parity of the converted ONNX graphs with an independent PyTorch forward, and the safe
checkpoint reader on both PyTorch serializations.

The reference below is written from the papers' layer tables as plain ``nn.Sequential``
stacks so that its ``state_dict()`` keys are the official ones (``model1.0.weight``...);
it shares nothing with ``streamcolor.zoo.export``. Random weights are saved with
``torch.save`` (zip and legacy formats), read back by the zoo without PyTorch, converted
and run in onnxruntime; the two forwards must agree to max |delta ab| < 1e-3 in fp32.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from helpers import require_module

torch = require_module("torch", "parity tests need PyTorch for the reference forward: "
    "pip install torch==2.13.0 (CPU build)")
nn = torch.nn
require_module("onnx", "conversion needs the onnx package: pip install onnx")

from streamcolor.zoo.checkpoint import load_state_dict  # noqa: E402
from streamcolor.zoo.errors import CheckpointError  # noqa: E402
from streamcolor.zoo.export import build_model  # noqa: E402
from streamcolor.zoo.validate import cpu_session  # noqa: E402


def _convs(channels, strides=None, dilation=1, relu_first=False, bn=True):
    mods = [nn.ReLU()] if relu_first else []
    strides = strides or [1] * (len(channels) - 1)
    for cin, cout, stride in zip(channels, channels[1:], strides, strict=False):
        mods += [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
                 nn.ReLU()]
    if bn:
        mods.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*mods)


class ECCV16(nn.Module):
    """Zhang et al. 2016: classification over 313 ab bins, expectation via model_out."""

    def __init__(self):
        super().__init__()
        self.model1 = _convs([1, 64, 64], [1, 2])
        self.model2 = _convs([64, 128, 128], [1, 2])
        self.model3 = _convs([128, 256, 256, 256], [1, 1, 2])
        self.model4 = _convs([256, 512, 512, 512])
        self.model5 = _convs([512, 512, 512, 512], dilation=2)
        self.model6 = _convs([512, 512, 512, 512], dilation=2)
        self.model7 = _convs([512, 512, 512, 512])
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 313, 1))
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)

    def forward(self, lightness):
        x = (lightness - 50.0) / 100.0
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5,
                      self.model6, self.model7, self.model8):
            x = block(x)
        x = self.model_out(torch.softmax(x, dim=1))
        x = nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        return x * 110.0


class SIGGRAPH17(nn.Module):
    """Zhang et al. 2017 U-Net, with the hint and mask inputs of the interactive mode."""

    def __init__(self):
        super().__init__()
        self.model1 = _convs([4, 64, 64])
        self.model2 = _convs([64, 128, 128])
        self.model3 = _convs([128, 256, 256, 256])
        self.model4 = _convs([256, 512, 512, 512])
        self.model5 = _convs([512, 512, 512, 512], dilation=2)
        self.model6 = _convs([512, 512, 512, 512], dilation=2)
        self.model7 = _convs([512, 512, 512, 512])
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1))
        self.model8 = _convs([256, 256, 256], relu_first=True)
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1))
        self.model9 = _convs([128, 128], relu_first=True)
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1))
        self.model10 = nn.Sequential(nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1),
                                     nn.LeakyReLU(0.2))
        self.model_class = nn.Sequential(nn.Conv2d(256, 529, 1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, lightness, hints=None, mask=None):
        hints = torch.zeros_like(lightness).repeat(1, 2, 1, 1) if hints is None else hints
        mask = torch.zeros_like(lightness) if mask is None else mask
        x = torch.cat([(lightness - 50.0) / 100.0, hints / 110.0, mask], dim=1)
        c1 = self.model1(x)
        c2 = self.model2(c1[:, :, ::2, ::2])
        c3 = self.model3(c2[:, :, ::2, ::2])
        c7 = self.model7(self.model6(self.model5(self.model4(c3[:, :, ::2, ::2]))))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.model_out(c10) * 110.0


def randomized(model: nn.Module, lightness: torch.Tensor, seed: int = 0) -> nn.Module:
    """Random weights in a well-conditioned regime, in eval mode.

    He-initialised convolutions; BatchNorm statistics measured on ``lightness`` (one pass
    in training mode with ``momentum=1``) with each variance floored at half the layer's
    mean variance, so that no nearly-dead channel is divided by ~sqrt(eps); and output
    heads scaled so that ab spans a realistic +-20..60 rather than saturating. Then fp32
    rounding differences stay ~1e-4 ab and a structural difference (a missing ReLU, a
    wrong padding or subsampling) shows as errors of whole ab units.
    """
    gen = torch.Generator().manual_seed(seed)
    _random_weights(model, gen)
    with torch.no_grad():
        if isinstance(model, ECCV16):
            model.model8[6].weight.normal_(0.0, 0.12, generator=gen)
            model.model_out.weight.uniform_(-1.0, 1.0, generator=gen)
        else:
            model.model_out[0].weight.normal_(0.0, 0.01, generator=gen)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for norm in norms:
            norm.momentum = 1.0
        model.train()(lightness)
        for norm in norms:
            var = norm.running_var
            var.copy_(torch.clamp(var, min=0.5 * float(var.mean())))
    return model.eval()


def _random_weights(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = module.weight[0].numel()
                if isinstance(module, nn.ConvTranspose2d):
                    fan_in = module.in_channels * 4
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(-0.1, 0.1, generator=gen)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.uniform_(-0.1, 0.1, generator=gen)



def smooth_lightness(count: int, size: int, seed: int) -> np.ndarray:
    """Picture-like L* planes: smooth gradients, a bright disc with a hard edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = []
    for _ in range(count):
        f, p = rng.uniform(1, 4, 4), rng.uniform(0, 6, 3)
        plane = (50 + 20 * np.sin(2 * np.pi * f[0] * x + p[0]) * np.cos(2 * np.pi * f[1] * y + p[1])
                 + 15 * np.sin(2 * np.pi * (f[2] * x + f[3] * y) + p[2]))
        plane[(x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.04] = 90
        planes.append(plane)
    return np.clip(np.stack(planes)[:, None], 0, 100).astype(np.float32)


def feed(session, lightness: np.ndarray, hints: np.ndarray | None = None,
         mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The session's inputs: L*, and for a guided graph its hints (none unless given)."""
    n, _, h, w = lightness.shape
    inputs = {session.get_inputs()[0].name: lightness}
    names = [i.name for i in session.get_inputs()[1:]]
    if names:
        assert names == ["hint_ab", "hint_mask"]
        inputs["hint_ab"] = np.zeros((n, 2, h, w), np.float32) if hints is None else hints
        inputs["hint_mask"] = np.zeros((n, 1, h, w), np.float32) if mask is None else mask
    return inputs


def convert_and_compare(tmp_path: pathlib.Path, reference: nn.Module, family: str,
                        size: int, zip_format: bool) -> float:
    path = tmp_path / f"{family}.pth"
    torch.save(reference.state_dict(), path, _use_new_zipfile_serialization=zip_format)
    state = load_state_dict(path)
    session = cpu_session(build_model(family, state).SerializeToString())
    lightness = smooth_lightness(2, size, seed=7)
    actual = session.run(None, feed(session, lightness))[0]
    with torch.no_grad():
        expected = reference(torch.from_numpy(lightness)).numpy()
    assert actual.shape == expected.shape == (2, 2, size, size)
    assert np.abs(expected).max() > 10, "the reference should produce real colour"
    return float(np.abs(actual - expected).max())


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_eccv16_parity(tmp_path, zip_format):
    reference = randomized(ECCV16(), torch.from_numpy(smooth_lightness(2, 256, 1)))
    assert convert_and_compare(tmp_path, reference, "eccv16", 256, zip_format) < 1e-3


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_siggraph17_parity(tmp_path, zip_format):
    size = 256 if zip_format else 128
    reference = randomized(SIGGRAPH17(), torch.from_numpy(smooth_lightness(2, size, 1)))
    assert convert_and_compare(tmp_path, reference, "siggraph17", size, zip_format) < 1e-3


def test_siggraph17_automatic_mode_ignores_hint_weights():
    """Hints and mask are zero, so the weights that read them cannot change the output."""
    reference = randomized(SIGGRAPH17(), torch.from_numpy(smooth_lightness(2, 64, 1)))
    state = {k: v.numpy().copy() for k, v in reference.state_dict().items()}
    lightness = smooth_lightness(1, 64, 3)
    outputs = []
    for hint_weight in (None, 123.0):
        if hint_weight is not None:
            state["model1.0.weight"][:, 1:] = hint_weight
        session = cpu_session(build_model("siggraph17", state).SerializeToString())
        outputs.append(session.run(None, feed(session, lightness))[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_siggraph17_hints_parity():
    """The converted graph takes the authors' hint inputs: with hints and a mask it agrees
    with the reference's interactive mode, and the hints change the colour."""
    size = 64
    reference = randomized(SIGGRAPH17(), torch.from_numpy(smooth_lightness(2, size, 1)))
    session = cpu_session(build_model(
        "siggraph17", {k: v.numpy() for k, v in reference.state_dict().items()}
    ).SerializeToString())
    lightness = smooth_lightness(2, size, seed=5)
    rng = np.random.default_rng(3)
    mask = (rng.random((2, 1, size, size)) < 0.05).astype(np.float32)
    hints = (rng.uniform(-60, 60, (2, 2, size, size)) * mask).astype(np.float32)
    actual = session.run(None, feed(session, lightness, hints, mask))[0]
    with torch.no_grad():
        expected = reference(*(torch.from_numpy(a) for a in (lightness, hints, mask))).numpy()
        automatic = reference(torch.from_numpy(lightness)).numpy()
    assert np.abs(actual - expected).max() < 1e-3
    assert np.abs(expected - automatic).max() > 1.0, "the hints should change the reference"


def test_dynamic_batch_axis():
    reference = randomized(ECCV16(), torch.from_numpy(smooth_lightness(2, 64, 1)))
    model = build_model("eccv16", {k: v.numpy() for k, v in reference.state_dict().items()})
    session = cpu_session(model.SerializeToString())
    for batch in (1, 3):
        out = session.run(None, {"L": smooth_lightness(batch, 64, 2)})[0]
        assert out.shape == (batch, 2, 64, 64)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_reader_matches_torch_on_strided_and_typed_tensors(tmp_path, zip_format):
    base = torch.randn(100)
    state = {"w": torch.randn(3, 4), "t": torch.randn(5, 6).t(), "i": torch.arange(7),
             "h": torch.randn(4).half(), "s": torch.tensor(3.5), "view": base[10:20].view(2, 5)}
    path = tmp_path / "c.pth"
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_state_dict(path)
    for key, tensor in state.items():
        assert loaded[key].dtype == tensor.numpy().dtype
        np.testing.assert_array_equal(loaded[key], tensor.numpy())


def test_whole_module_pickle_is_refused(tmp_path):
    path = tmp_path / "module.pth"
    torch.save(nn.Conv2d(1, 1, 1), path)
    with pytest.raises(CheckpointError, match="refusing to run code"):
        load_state_dict(path)


def test_wrong_architecture_is_reported(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(nn.Sequential(nn.Conv2d(1, 2, 3)).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a eccv16 checkpoint"):
        build_model("eccv16", load_state_dict(path))

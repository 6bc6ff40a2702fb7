"""The published colorization architectures, described as data.

Each family is a list of layers keyed exactly as in the authors' PyTorch state dicts
(``model1.0.weight``, ``model1.4.running_mean``...), so the same description drives the
ONNX exporter (:mod:`.export`), the shape check of a checkpoint and the random weights
used by tests and benchmarks.

ECCV16 (Zhang, Isola, Efros 2016): eight conv blocks, a 313-bin softmax, a fixed 1x1 conv
from bins to ab (``model_out``) and a 4x bilinear upsample; ab = 110 * output.
SIGGRAPH17 (Zhang, Zhu et al. 2017): a U-Net with shortcuts ``model3short8``,
``model2short9`` and ``model1short10``, input L plus ab hints and a hint mask, and a tanh
regression head; ab = 110 * output. Its converted graph keeps the hint inputs (all zero:
the automatic colorization).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import CheckpointError

__all__ = ["Layer", "FAMILIES", "layers", "check_state_dict", "random_state_dict"]

L_CENTER, L_SCALE, AB_SCALE = 50.0, 100.0, 110.0


@dataclasses.dataclass(frozen=True)
class Layer:
    """One weighted layer: ``conv``, ``convT`` or ``bn``, stored under ``key``."""

    kind: str
    key: str
    cin: int
    cout: int
    kernel: int = 3
    stride: int = 1
    pad: int = 1
    dilation: int = 1
    bias: bool = True
    relu_after: bool = False


def _block(name: str, channels: list[int], strides: list[int] | None = None,
           dilation: int = 1, relu_first: bool = False, bn: bool = True) -> list[Layer]:
    """A PyTorch ``Sequential`` of conv+ReLU pairs ending in BatchNorm, with its indices."""
    out, index = [], 1 if relu_first else 0
    strides = strides or [1] * (len(channels) - 1)
    for cin, cout, stride in zip(channels, channels[1:], strides, strict=False):
        out.append(Layer("conv", f"{name}.{index}", cin, cout, stride=stride, pad=dilation,
                         dilation=dilation, relu_after=True))
        index += 2
    if bn:
        out.append(Layer("bn", f"{name}.{index}", channels[-1], channels[-1]))
    return out


def _eccv16() -> list[Layer]:
    return [
        *_block("model1", [1, 64, 64], [1, 2]),
        *_block("model2", [64, 128, 128], [1, 2]),
        *_block("model3", [128, 256, 256, 256], [1, 1, 2]),
        *_block("model4", [256, 512, 512, 512]),
        *_block("model5", [512, 512, 512, 512], dilation=2),
        *_block("model6", [512, 512, 512, 512], dilation=2),
        *_block("model7", [512, 512, 512, 512]),
        Layer("convT", "model8.0", 512, 256, kernel=4, stride=2, relu_after=True),
        Layer("conv", "model8.2", 256, 256, relu_after=True),
        Layer("conv", "model8.4", 256, 256, relu_after=True),
        Layer("conv", "model8.6", 256, 313, kernel=1, pad=0),
        Layer("conv", "model_out", 313, 2, kernel=1, pad=0, bias=False),
    ]


def _siggraph17() -> list[Layer]:
    return [
        *_block("model1", [4, 64, 64]),
        *_block("model2", [64, 128, 128]),
        *_block("model3", [128, 256, 256, 256]),
        *_block("model4", [256, 512, 512, 512]),
        *_block("model5", [512, 512, 512, 512], dilation=2),
        *_block("model6", [512, 512, 512, 512], dilation=2),
        *_block("model7", [512, 512, 512, 512]),
        Layer("convT", "model8up.0", 512, 256, kernel=4, stride=2),
        Layer("conv", "model3short8.0", 256, 256),
        *_block("model8", [256, 256, 256], relu_first=True),
        Layer("convT", "model9up.0", 256, 128, kernel=4, stride=2),
        Layer("conv", "model2short9.0", 128, 128),
        *_block("model9", [128, 128], relu_first=True),
        Layer("convT", "model10up.0", 128, 128, kernel=4, stride=2),
        Layer("conv", "model1short10.0", 64, 128),
        Layer("conv", "model10.1", 128, 128),
        Layer("conv", "model_out.0", 128, 2, kernel=1, pad=0),
    ]


FAMILIES = {"eccv16": _eccv16, "siggraph17": _siggraph17}


def layers(family: str) -> dict[str, Layer]:
    """The weighted layers of a family, by state-dict key prefix, in forward order."""
    try:
        return {layer.key: layer for layer in FAMILIES[family]()}
    except KeyError:
        raise ValueError(f"no architecture for family {family!r}; "
                         f"known: {', '.join(FAMILIES)}") from None


def _expected_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    k = layer.key
    if layer.kind == "bn":
        return {f"{k}.{n}": (layer.cout,) for n in ("weight", "bias", "running_mean",
                                                     "running_var")}
    if layer.kind == "convT":
        shapes = {f"{k}.weight": (layer.cin, layer.cout, layer.kernel, layer.kernel)}
    else:
        shapes = {f"{k}.weight": (layer.cout, layer.cin, layer.kernel, layer.kernel)}
    if layer.bias:
        shapes[f"{k}.bias"] = (layer.cout,)
    return shapes


def check_state_dict(family: str, state: dict[str, np.ndarray]) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has every weight of ``family``."""
    problems = []
    for layer in layers(family).values():
        for key, shape in _expected_shapes(layer).items():
            optional = layer.kind == "bn" and key.endswith((".weight", ".bias"))
            if key not in state:
                if not optional:
                    problems.append(f"{key} is missing")
            elif tuple(state[key].shape) != shape:
                problems.append(f"{key} has shape {tuple(state[key].shape)}, expected {shape}")
    if problems:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)"
                                           if len(problems) > 3 else "")
        raise CheckpointError(f"this is not a {family} checkpoint: {shown}. "
                              "Check the file, or import it under the family it belongs to")


def random_state_dict(family: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights in the official key layout, scaled so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for layer in layers(family).values():
        for key, shape in _expected_shapes(layer).items():
            state[key] = _random_tensor(rng, layer, key, shape)
        if layer.kind == "bn":
            state[f"{layer.key}.num_batches_tracked"] = np.array(1000, dtype=np.int64)
    return state


def _random_tensor(rng, layer: Layer, key: str, shape) -> np.ndarray:
    if key.endswith("running_var"):
        value = rng.uniform(0.5, 2.0, shape)
    elif key.endswith("running_mean"):
        value = rng.uniform(0.0, 1.0, shape)
    elif layer.kind == "bn" and key.endswith("weight"):
        value = rng.uniform(0.5, 1.5, shape)
    elif key.endswith("bias"):
        value = rng.uniform(-0.1, 0.1, shape)
    else:
        fan_in = layer.cin * layer.kernel ** 2 / (layer.stride ** 2 if layer.kind == "convT"
                                                  else 1)
        value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    return value.astype(np.float32)

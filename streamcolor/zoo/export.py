"""Build ONNX graphs of the published architectures straight from a numpy state dict.

No PyTorch is needed: the graph is written node by node with ``onnx.helper`` from the
layer descriptions in :mod:`.architectures`. Every graph takes ``L`` (N,1,H,W) CIE L* in
0..100 and gives ``ab`` (N,2,H,W) in Lab units; the batch and spatial axes are dynamic
(H and W a multiple of 8), the L normalization and the ab scaling are inside the graph,
and the model contract is stored in the file's metadata. SIGGRAPH17 also takes its real
hint inputs, ``hint_ab`` (N,2,H,W) in Lab units and ``hint_mask`` (N,1,H,W) 0/1, declared
as the contract's guidance (all zero: the automatic colorization).

With ``dtype="float16"`` the weights and the body run in half precision while the graph's
inputs and outputs stay float32 (the casts are inside), so callers feed the same arrays.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ..contract import ModelContract
from .architectures import AB_SCALE, L_CENTER, L_SCALE, Layer, check_state_dict, layers

__all__ = ["build_model", "export_onnx", "OPSET", "INPUT_NAME", "OUTPUT_NAME"]

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "L", "ab"
HINT_AB, HINT_MASK = "hint_ab", "hint_mask"
_GUIDED = ("siggraph17",)
_DTYPES = {"float32": np.float32, "float16": np.float16}


class _Graph:
    """Accumulates nodes and initializers; each method returns its output's name."""

    def __init__(self, state: dict[str, np.ndarray], dtype: str) -> None:
        from onnx import TensorProto

        self.state, self.np_dtype = state, _DTYPES[dtype]
        self.onnx_dtype = TensorProto.FLOAT16 if dtype == "float16" else TensorProto.FLOAT
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, name: str, value: np.ndarray, keep_dtype: bool = False) -> str:
        from onnx import numpy_helper

        array = np.asarray(value) if keep_dtype else np.asarray(value, dtype=self.np_dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        from onnx import helper

        out = self._name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def layer(self, layer: Layer, x: str, weight: np.ndarray | None = None) -> str:
        """Apply one conv / transposed conv / BatchNorm layer (and its ReLU)."""
        if layer.kind == "bn":
            return self._batch_norm(layer, x)
        k = layer.key
        weight = self.state[f"{k}.weight"] if weight is None else weight
        inputs = [x, self.const(f"{k}.weight", weight)]
        if layer.bias:
            inputs.append(self.const(f"{k}.bias", self.state[f"{k}.bias"]))
        attrs = dict(kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2,
                     pads=[layer.pad] * 4, dilations=[layer.dilation] * 2)
        y = self.op("ConvTranspose" if layer.kind == "convT" else "Conv", inputs, k, **attrs)
        return self.op("Relu", [y], k + ".relu") if layer.relu_after else y

    def _batch_norm(self, layer: Layer, x: str) -> str:
        k, n = layer.key, layer.cout
        scale = self.state.get(f"{k}.weight", np.ones(n, np.float32))
        shift = self.state.get(f"{k}.bias", np.zeros(n, np.float32))
        names = [self.const(f"{k}.{part}", value) for part, value in (
            ("weight", scale), ("bias", shift), ("running_mean", self.state[f"{k}.running_mean"]),
            ("running_var", self.state[f"{k}.running_var"]))]
        return self.op("BatchNormalization", [x, *names], k, epsilon=1e-5)

    def subsample2(self, x: str) -> str:
        """``x[:, :, ::2, ::2]``."""
        big = np.iinfo(np.int64).max
        args = [self.const(self._name("slice"), np.array(v, np.int64), keep_dtype=True)
                for v in ([0, 0], [big, big], [2, 3], [2, 2])]
        return self.op("Slice", [x, *args], "subsample")


def _normalized_input(g: _Graph) -> str:
    """(L - 50) / 100 in float32, then cast to the body's dtype."""
    x = g.op("Sub", [INPUT_NAME, g.const("l_center", np.float32(L_CENTER), True)], "l_sub")
    x = g.op("Div", [x, g.const("l_scale", np.float32(L_SCALE), True)], "l_norm")
    from onnx import TensorProto

    if g.onnx_dtype != TensorProto.FLOAT:
        x = g.op("Cast", [x], "to_body", to=g.onnx_dtype)
    return x


def _scaled_output(g: _Graph, x: str) -> None:
    """Cast back to float32 and multiply by 110 into the graph output ``ab``."""
    from onnx import TensorProto, helper

    if g.onnx_dtype != TensorProto.FLOAT:
        x = g.op("Cast", [x], "to_float", to=TensorProto.FLOAT)
    scale = g.const("ab_scale", np.float32(AB_SCALE), True)
    g.nodes.append(helper.make_node("Mul", [x, scale], [OUTPUT_NAME], name="ab_unnorm"))


def _eccv16_body(g: _Graph, x: str) -> str:
    for layer in layers("eccv16").values():
        if layer.key == "model_out":
            x = g.op("Softmax", [x], "softmax", axis=1)
        x = g.layer(layer, x)
    scales = g.const("upsample_scales", np.array([1, 1, 4, 4], np.float32), True)
    return g.op("Resize", [x, "", scales], "upsample4", mode="linear",
                coordinate_transformation_mode="half_pixel")


def _hint_inputs(g: _Graph) -> list[str]:
    """``hint_ab / 110`` and ``hint_mask``, in the body's dtype."""
    from onnx import TensorProto

    ab = g.op("Div", [HINT_AB, g.const("hint_ab_scale", np.float32(AB_SCALE), True)], "ab_norm")
    parts = [ab, HINT_MASK]
    if g.onnx_dtype != TensorProto.FLOAT:
        parts = [g.op("Cast", [p], "hint_to_body", to=g.onnx_dtype) for p in parts]
    return parts


def _siggraph17_body(g: _Graph, x: str) -> str:
    spec = layers("siggraph17")
    saved: dict[str, str] = {}
    for layer in spec.values():
        block = layer.key.split(".")[0]
        if block in ("model2", "model3", "model4") and layer.key.endswith(".0"):
            x = g.subsample2(x)
        if layer.key == "model1.0":  # L, ab / 110 and the mask, as the authors' forward
            x = g.layer(layer, g.op("Concat", [x, *_hint_inputs(g)], "with_hints", axis=1))
        elif layer.key.startswith(("model8.1", "model9.1", "model10.1")):
            x = g.layer(layer, g.op("Relu", [x], block + ".relu0"))
        elif "short" in layer.key:
            source = saved[{"model3short8.0": "model3", "model2short9.0": "model2",
                            "model1short10.0": "model1"}[layer.key]]
            x = g.op("Add", [x, g.layer(layer, source)], block + ".add")
        else:
            x = g.layer(layer, x)
        if layer.kind == "bn":
            saved[block] = x
        if layer.key == "model10.1":
            x = g.op("LeakyRelu", [x], "model10.leaky", alpha=0.2)
    return g.op("Tanh", [x], "model_out.tanh")


_BODIES = {"eccv16": _eccv16_body, "siggraph17": _siggraph17_body}


def build_model(family: str, state: dict[str, np.ndarray], *, dtype: str = "float32",
                name: str | None = None, input_size: int = 256):
    """Return an ``onnx.ModelProto`` of ``family`` with the weights in ``state``.

    Raises :class:`~streamcolor.zoo.errors.CheckpointError` when the weights do not fit
    the architecture, ``ValueError`` for an unknown family or dtype.
    """
    from onnx import TensorProto, checker, helper

    if family not in _BODIES:
        raise ValueError(f"cannot convert family {family!r}; convertible: {', '.join(_BODIES)}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, not {dtype!r}")
    check_state_dict(family, state)
    g = _Graph(state, dtype)
    _scaled_output(g, _BODIES[family](g, _normalized_input(g)))
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                            ["batch", 1, "height", "width"])]
    if family in _GUIDED:
        inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                 ["batch", channels, "height", "width"])
                   for name, channels in ((HINT_AB, 2), (HINT_MASK, 1))]
    graph = helper.make_graph(
        g.nodes, f"{family}_{dtype}", inputs,
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       ["batch", 2, "height", "width"])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="streamcolor.zoo")
    model.ir_version = min(model.ir_version, 9)
    contract = ModelContract(input_kind="L", output_kind="ab", input_size=input_size,
                             name=name or family, family=family,
                             guidance=(HINT_AB, HINT_MASK) if family in _GUIDED else None)
    helper.set_model_props(model, contract.to_metadata())
    checker.check_model(model)
    return model


def export_onnx(family: str, state: dict[str, np.ndarray], path: str | pathlib.Path, *,
                dtype: str = "float32", name: str | None = None,
                input_size: int = 256) -> pathlib.Path:
    """Build the model (see :func:`build_model`) and write it to ``path`` atomically."""
    path = pathlib.Path(path)
    model = build_model(family, state, dtype=dtype, name=name, input_size=input_size)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(path)
    return path

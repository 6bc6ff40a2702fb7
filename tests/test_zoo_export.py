"""Conversion without PyTorch: graph structure, contract metadata, fp16, statistics."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="conversion needs the onnx package: pip install onnx")

from streamcolor.contract import ModelContract  # noqa: E402
from streamcolor.zoo.architectures import random_state_dict  # noqa: E402
from streamcolor.zoo.errors import CheckpointError  # noqa: E402
from streamcolor.zoo.export import build_model  # noqa: E402
from streamcolor.zoo.validate import cpu_session, graph_stats  # noqa: E402


def _feed(session, lightness: np.ndarray) -> dict[str, np.ndarray]:
    """L*, and no hints where the graph takes them (SIGGRAPH17)."""
    n, _, h, w = lightness.shape
    zeros = {"hint_ab": np.zeros((n, 2, h, w), np.float32),
             "hint_mask": np.zeros((n, 1, h, w), np.float32)}
    return {"L": lightness, **{i.name: zeros[i.name] for i in session.get_inputs()[1:]}}


@pytest.fixture(scope="module", params=["eccv16", "siggraph17"])
def family_model(request):
    return request.param, build_model(request.param, random_state_dict(request.param))


def test_contract_metadata_and_dynamic_axes(family_model):
    family, model = family_model
    props = {p.key: p.value for p in model.metadata_props}
    contract = ModelContract.from_metadata(props)
    assert (contract.input_kind, contract.output_kind, contract.input_size) == ("L", "ab", 256)
    assert contract.family == family
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 1
    guided = family == "siggraph17"  # the authors' hint inputs, declared as guidance
    assert contract.guidance == (("hint_ab", "hint_mask") if guided else None)
    assert [i.name for i in model.graph.input] == ["L", "hint_ab", "hint_mask"][: 1 + 2 * guided]


def test_runs_with_any_batch_and_multiple_of_8(family_model):
    _, model = family_model
    session = cpu_session(model.SerializeToString())
    for shape in ((1, 1, 32, 32), (3, 1, 48, 40)):
        out = session.run(None, _feed(session, np.full(shape, 50.0, np.float32)))[0]
        assert out.shape == (shape[0], 2, *shape[2:])
        assert np.isfinite(out).all()


def test_fp16_keeps_float32_io_and_stays_close(family_model):
    family, model = family_model
    half = build_model(family, random_state_dict(family), dtype="float16")
    assert half.graph.input[0].type.tensor_type.elem_type == 1  # FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == 1
    lightness = np.linspace(0, 100, 2 * 32 * 32, dtype=np.float32).reshape(2, 1, 32, 32)
    sessions = [cpu_session(m.SerializeToString()) for m in (model, half)]
    full, approx = (s.run(None, _feed(s, lightness))[0] for s in sessions)
    assert approx.dtype == np.float32
    assert np.abs(full - approx).max() < 0.05 * max(1.0, np.abs(full).max())


def test_missing_or_misshapen_weights_are_named():
    state = random_state_dict("eccv16")
    del state["model3.2.bias"]
    state["model1.0.weight"] = state["model1.0.weight"][:32]
    with pytest.raises(CheckpointError, match="model3.2.bias is missing") as info:
        build_model("eccv16", state)
    assert "model1.0.weight has shape" in str(info.value)


def test_unknown_family_and_dtype():
    with pytest.raises(ValueError, match="cannot convert family"):
        build_model("ddcolor", {})
    with pytest.raises(ValueError, match="dtype"):
        build_model("eccv16", random_state_dict("eccv16"), dtype="int4")


def _counted_here(model, size: int) -> dict:
    """Parameters and GFLOPs counted by this test: the elements of every float initializer,
    and 2 x the multiply-adds of every Conv and ConvTranspose with the tensor shapes that
    onnxruntime really produces on a 1 x 1 x size x size frame (each convolution's input and
    output made graph outputs), not shape inference."""
    import onnx
    from onnx import helper, numpy_helper

    walked = onnx.ModelProto()
    walked.CopyFrom(model)
    convs = [n for n in walked.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    shown = {o.name for o in walked.graph.output}
    for node in convs:
        for name in (node.input[0], node.output[0]):
            if name not in shown:
                walked.graph.output.append(helper.make_empty_tensor_value_info(name))
                shown.add(name)
    session = cpu_session(walked.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    shapes = {name: value.shape for name, value in zip(names, session.run(
        names, _feed(session, np.full((1, 1, size, size), 50.0, np.float32))), strict=True)}
    weights = {i.name: numpy_helper.to_array(i) for i in walked.graph.initializer}
    macs = 0
    for node in convs:
        # Conv kernels are (out, in/g, kh, kw), ConvTranspose ones (in, out/g, kh, kw)
        kernel = weights[node.input[1]].shape
        per_element = int(np.prod(kernel[1:]))
        counted = shapes[node.output[0]] if node.op_type == "Conv" else shapes[node.input[0]]
        macs += int(np.prod(counted)) * per_element
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    params = sum(int(np.prod(i.dims)) for i in walked.graph.initializer if i.data_type in floats)
    return {"parameters": params, "gflops": round(2 * macs / 1e9, 2), "convs": len(convs)}


def test_graph_stats_match_manifests(family_model):
    """The manifests' figures (what ``models info`` shows) against the converted graph walked
    and run here; and graph_stats, which made them, against the same count."""
    import json
    import pathlib

    family, model = family_model
    manifest = json.loads((pathlib.Path(__file__).parents[1] / "models" /
                           f"{family}.json").read_text())
    counted = _counted_here(model, 256)
    assert counted["convs"] > 20, counted
    assert counted["parameters"] == manifest["parameters"], counted
    assert counted["gflops"] == pytest.approx(manifest["gflops"], abs=0.01), counted
    assert graph_stats(model, 256) == {"parameters": counted["parameters"],
                                       "gflops": counted["gflops"]}

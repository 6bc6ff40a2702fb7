"""Check that an ONNX file is readable and obeys the model contract; count its cost.

``onnx`` is imported inside the functions: it is needed to import or convert models,
not to run them.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ..contract import ModelContract
from .errors import ContractError

__all__ = ["load_onnx", "io_dims", "check_dims", "infer_contract", "smoke_test",
           "graph_stats", "cpu_session", "model_feed"]

Dims = list[int | None]


def load_onnx(path: str | pathlib.Path):
    """Load an ONNX model, or raise :class:`ContractError` saying why it cannot be read."""
    import onnx

    path = pathlib.Path(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ContractError(f"{path} does not exist") from None
    except Exception as exc:  # protobuf raises several unrelated types on garbage
        raise ContractError(f"{path} is not a readable ONNX file ({type(exc).__name__}: "
                            f"{exc}); check the file or export it again") from None
    if not model.graph.input or not model.graph.output:
        raise ContractError(f"{path} is not a model ONNX file: it has no graph inputs or "
                            "outputs; check the file or export it again")
    return model


def _dims(value_info) -> Dims:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def io_dims(model) -> tuple[Dims, Dims]:
    """Dimensions (None where dynamic) of the first real input and the first output."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise ContractError("the model has no input that is not a weight")
    return _dims(inputs[0]), _dims(model.graph.output[0])


def check_dims(contract: ModelContract, in_dims: Dims, out_dims: Dims, what: str) -> None:
    """Raise :class:`ContractError` unless the shapes fit ``contract``."""
    expected_in, expected_out = contract.input_channels, contract.output_channels
    problems = []
    if len(in_dims) != 4:
        problems.append(f"its input has {len(in_dims)} axes, not 4 (N,C,H,W)")
    elif in_dims[1] not in (None, expected_in):
        problems.append(f"its input has {in_dims[1]} channels, not {expected_in} "
                        f"({contract.input_kind})")
    if len(out_dims) != 4:
        problems.append(f"its output has {len(out_dims)} axes, not 4 (N,C,H,W)")
    elif out_dims[1] not in (None, expected_out):
        problems.append(f"its output has {out_dims[1]} channels, not {expected_out} "
                        f"({contract.output_kind})")
    if problems:
        raise ContractError(f"{what} does not fit the {contract.family or 'model'} contract: "
                            f"{'; '.join(problems)}. Pick the right --family or re-export it")


def infer_contract(in_dims: Dims, out_dims: Dims) -> tuple[str, str]:
    """Input and output kinds from the channel counts of a model of unknown family."""
    kinds_in, kinds_out = {1: "L", 3: "gray_rgb"}, {2: "ab", 3: "rgb"}
    c_in = in_dims[1] if len(in_dims) == 4 else None
    c_out = out_dims[1] if len(out_dims) == 4 else None
    if c_in not in kinds_in or c_out not in kinds_out:
        raise ContractError(
            f"cannot tell the contract of a model with input {in_dims} and output {out_dims}; "
            "import it with --family ddcolor, deoldify, eccv16 or siggraph17")
    return kinds_in[c_in], kinds_out[c_out]


def cpu_session(source: str | pathlib.Path | bytes, threads: int | None = None):
    """An onnxruntime CPU session (``threads`` intra-op threads, default: all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    data = source if isinstance(source, bytes) else str(source)
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types are not importable
        raise ContractError(f"onnxruntime cannot load the model: {exc}") from None


def model_feed(session, pictures: np.ndarray,
               hints: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A session's inputs for model inputs ``pictures`` (N,C,S,S): a guided model's hint
    inputs (named by its contract's guidance) get ``hints`` (a*b*, mask), or none."""
    feed = {session.get_inputs()[0].name: pictures}
    guidance = ModelContract.from_metadata(session.get_modelmeta().custom_metadata_map).guidance
    if guidance:
        n, _, h, w = pictures.shape
        ab, mask = hints if hints is not None else (np.zeros((n, 2, h, w), np.float32),
                                                    np.zeros((n, 1, h, w), np.float32))
        feed.update(zip(guidance, (ab, mask), strict=True))
    return feed


def smoke_test(path: str | pathlib.Path, contract: ModelContract) -> tuple[int, ...]:
    """Run one frame of zeros through the model on CPU; return the output shape.

    Raises :class:`ContractError` when the session cannot be built, the run fails, or the
    output is not (1, C, h, w) with the contract's channel count and finite values.
    """
    session = cpu_session(path)
    size = contract.input_size or 256
    first = session.get_inputs()[0]
    static = [d if isinstance(d, int) else None for d in first.shape]
    if len(static) == 4 and static[2] and static[3]:
        shape = (1, contract.input_channels, static[2], static[3])
    else:
        shape = (1, contract.input_channels, size, size)
    feed = model_feed(session, np.zeros(shape, np.float32))
    try:
        out = session.run(None, feed)[0]
    except Exception as exc:
        raise ContractError(f"{path}: inference on a {shape} input failed: {exc}") from None
    if out.ndim != 4 or out.shape[:2] != (1, contract.output_channels):
        raise ContractError(f"{path}: output shape {out.shape} is not (1, "
                            f"{contract.output_channels}, h, w) as the contract needs")
    if not np.isfinite(out).all():
        raise ContractError(f"{path}: the model outputs NaN or infinity on a black frame")
    return tuple(out.shape)


def graph_stats(model, size: int) -> dict[str, Any]:
    """Parameter count and GFLOPs (2 x multiply-adds of the convolutions) per frame of
    ``size`` x ``size``."""
    import onnx
    from onnx import shape_inference

    params = sum(int(np.prod(init.dims)) for init in model.graph.initializer
                 if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16))
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for graph_input in fixed.graph.input:  # L*, and a guided model's hints
        dims = graph_input.type.tensor_type.shape.dim
        for dim, value in zip(dims, (1, None, size, size), strict=False):
            if value is not None:
                dim.Clear()
                dim.dim_value = value
    inferred = shape_inference.infer_shapes(fixed)
    shapes = {v.name: _dims(v) for v in (*inferred.graph.value_info, *inferred.graph.input,
                                         *inferred.graph.output)}
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    macs = 0
    for node in inferred.graph.node:
        macs += _node_macs(node, shapes, weights)
    return {"parameters": params, "gflops": round(2 * macs / 1e9, 2)}


def _node_macs(node, shapes: dict[str, Dims], weights: dict[str, tuple]) -> int:
    if node.op_type not in ("Conv", "ConvTranspose") or len(node.input) < 2:
        return 0
    weight = weights.get(node.input[1])
    if weight is None:
        return 0
    if node.op_type == "Conv":
        out = shapes.get(node.output[0])
        if not out or None in out:
            return 0
        return int(np.prod(out)) * int(np.prod(weight[1:]))
    src = shapes.get(node.input[0])
    if not src or None in src:
        return 0
    return int(np.prod(src)) * int(np.prod(weight[1:]))

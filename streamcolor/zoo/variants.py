"""fp16 and int8 variants of a converted model, and what each costs in accuracy and speed.

* fp16 (for GPUs): the same graph built in half precision by :mod:`.export`, inputs and
  outputs still float32, so it is a drop-in file.
* int8 (for CPUs): onnxruntime static quantization (QDQ, per-channel int8 weights, uint8
  activations) calibrated on pictures of the training split; the output head (softmax
  logits, softmax and bins-to-ab, or the tanh regression) stays in float, where 8 bits
  cost most.

:func:`measure` compares a variant with the fp32 model on evaluation pictures (mean and
max |delta ab|) and times it on CPU.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..contract import ModelContract
from .errors import ZooError
from .validate import cpu_session, model_feed

__all__ = ["build_fp16", "build_int8", "calibration_hints", "compare_outputs", "cpu_fps",
           "measure"]

_HEAD_PREFIXES = ("model8.6", "softmax", "model_out", "upsample4", "ab_unnorm", "l_sub", "l_norm")


class _Reader:
    """An onnxruntime ``CalibrationDataReader`` over a batch of prepared inputs. A guided
    model (``guidance``: its hint inputs' names) gets hints with every other frame, so that
    the ranges of its hint inputs are calibrated too."""

    def __init__(self, input_name: str, inputs: np.ndarray,
                 guidance: tuple[str, str] | None = None) -> None:
        self._name, self._guidance = input_name, guidance
        self._frames: Iterator[tuple[int, np.ndarray]] = iter(enumerate(inputs))

    def get_next(self) -> dict[str, np.ndarray] | None:
        index, frame = next(self._frames, (0, None))
        if frame is None:
            return None
        feed = {self._name: frame[None]}
        if self._guidance:
            feed.update(zip(self._guidance, calibration_hints(frame.shape[-2:], index),
                            strict=True))
        return feed

    def rewind(self) -> None:  # pragma: no cover - only used by some calibrators
        raise NotImplementedError


def calibration_hints(size: tuple[int, int], index: int) -> tuple[np.ndarray, np.ndarray]:
    """Hints for calibration frame ``index``: none for even frames; for odd ones smooth
    a*b* across the gamut's range over about half of the picture."""
    h, w = size
    if index % 2 == 0:
        return np.zeros((1, 2, h, w), np.float32), np.zeros((1, 1, h, w), np.float32)
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 2 * np.pi, 4)
    ab = np.stack([80 * np.sin(3 * x + phase[0]) * np.cos(2 * y + phase[1]),
                   80 * np.sin(2 * y + phase[2]) * np.cos(3 * x + phase[3])])
    mask = (np.sin(5 * x + phase[0]) * np.sin(4 * y + phase[2]) > 0).astype(np.float32)
    return (ab * mask)[None].astype(np.float32), mask[None, None]


def build_int8(fp32_path: str | pathlib.Path, dest: str | pathlib.Path,
               calibration: np.ndarray) -> pathlib.Path:
    """Quantize ``fp32_path`` to int8 using ``calibration`` (N,C,S,S) model inputs.

    The contract metadata is carried over. Raises :class:`ZooError` if onnxruntime's
    quantizer is missing or fails.
    """
    import onnx

    try:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise ZooError(f"int8 needs onnxruntime's quantization tools ({exc}); "
                       "install onnxruntime with its optional dependencies") from None
    if len(calibration) == 0:
        raise ZooError("no calibration pictures: int8 cannot be calibrated")
    fp32_path, dest = pathlib.Path(fp32_path), pathlib.Path(dest)
    model = onnx.load(str(fp32_path))
    excluded = [n.name for n in model.graph.node if n.name.startswith(_HEAD_PREFIXES)]
    input_name = model.graph.input[0].name
    guidance = ModelContract.from_metadata({p.key: p.value for p in model.metadata_props}).guidance
    tmp = dest.with_name(dest.name + ".tmp")
    quantize_static(str(fp32_path), str(tmp), _Reader(input_name, calibration, guidance),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    op_types_to_quantize=["Conv", "ConvTranspose"],
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=excluded)
    quantized = onnx.load(str(tmp))
    _copy_metadata(model, quantized)
    onnx.save(quantized, str(tmp))
    tmp.replace(dest)
    return dest


def build_fp16(fp32_path: str | pathlib.Path, dest: str | pathlib.Path) -> pathlib.Path:
    """fp16 of any ONNX file (an imported one has no weights to rebuild from): onnxruntime's
    converter, inputs and outputs kept float32 so it is a drop-in file."""
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ZooError(f"fp16 needs onnxruntime's converter ({exc})") from None
    dest = pathlib.Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    onnx.save(convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True), str(tmp))
    tmp.replace(dest)
    return dest


def _copy_metadata(source, target) -> None:
    from onnx import helper

    props = {p.key: p.value for p in source.metadata_props}
    del target.metadata_props[:]
    helper.set_model_props(target, props)


def compare_outputs(reference: str | pathlib.Path, variant: str | pathlib.Path,
                    inputs: np.ndarray) -> dict[str, float]:
    """Mean and max |delta| between two models' outputs on ``inputs``, frame by frame."""
    ref_session, var_session = cpu_session(reference), cpu_session(variant)
    errors = []
    for index, frame in enumerate(inputs):  # a guided model: with and without hints
        hints = calibration_hints(frame.shape[-2:], index)
        expected = ref_session.run(None, model_feed(ref_session, frame[None], hints))[0]
        actual = var_session.run(None, model_feed(var_session, frame[None], hints))[0]
        errors.append(np.abs(actual.astype(np.float32) - expected))
    stacked = np.stack(errors)
    return {"ab_mean_abs_error": round(float(stacked.mean()), 4),
            "ab_max_abs_error": round(float(stacked.max()), 4),
            "frames": int(len(inputs))}


def cpu_fps(path: str | pathlib.Path, contract: ModelContract, *, batch: int = 1,
            size: int | None = None, seconds: float = 2.0, max_runs: int = 20,
            threads: int | None = None) -> float:
    """Frames per second of ``path`` on CPU at ``batch``: one warm-up, then timed runs
    until ``seconds`` have passed or ``max_runs`` were made."""
    session = cpu_session(path, threads=threads)
    size = size or contract.input_size or 256
    feed = model_feed(session, np.random.default_rng(0).uniform(
        0, 100 if contract.input_kind == "L" else 1,
        (batch, contract.input_channels, size, size)).astype(np.float32))
    session.run(None, feed)
    runs, start = 0, time.perf_counter()
    while runs < max_runs and (runs == 0 or time.perf_counter() - start < seconds):
        session.run(None, feed)
        runs += 1
    return round(runs * batch / (time.perf_counter() - start), 2)


def measure(fp32_path: str | pathlib.Path, variant_path: str | pathlib.Path,
            contract: ModelContract, inputs: np.ndarray, *,
            seconds: float = 2.0) -> dict[str, Any]:
    """The figures shown by ``streamcolor models info``: error against fp32, CPU fps."""
    figures: dict[str, Any] = {}
    if pathlib.Path(variant_path) != pathlib.Path(fp32_path):
        figures.update(compare_outputs(fp32_path, variant_path, inputs))
    figures["cpu_fps_batch1"] = cpu_fps(variant_path, contract, size=inputs.shape[-1],
                                        seconds=seconds)
    figures["input_size"] = int(inputs.shape[-1])
    return figures

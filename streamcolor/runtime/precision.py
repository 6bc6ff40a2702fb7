"""Which file of a model runs, by precision and device.

Variants sit beside the fp32 file as ``NAME-fp16.onnx`` and ``NAME-int8.onnx`` (the bundled
model ships both; ``streamcolor models fetch/import`` builds them in the cache). ``auto``:
TensorRT builds an fp16 engine from the fp32 file; CUDA runs the fp16 variant where there is
one; the CPU runs the int8 variant where its measured error against fp32 (stored in its
metadata by benchmarks/precision.py) is small, else fp32.
"""

from __future__ import annotations

import dataclasses
import pathlib

from ..errors import ModelError

__all__ = ["Choice", "choose", "variant_path", "ERROR_KEY", "INT8_AUTO_LIMIT"]

ERROR_KEY = "streamcolor.ab_mean_abs_error"
INT8_AUTO_LIMIT = 1.0  # mean |delta ab| in Lab units; the bundled int8 measures about 0.5


@dataclasses.dataclass(frozen=True)
class Choice:
    """The file to load, the precision it runs at, and whether TensorRT builds in fp16."""

    path: pathlib.Path
    precision: str
    tensorrt_fp16: bool = False


def variant_path(path: pathlib.Path, precision: str) -> pathlib.Path:
    """Where the ``precision`` variant of ``path`` lives (it may not exist)."""
    return path if precision == "fp32" else path.with_name(f"{path.stem}-{precision}.onnx")


def _measured_error(path: pathlib.Path) -> float | None:
    import onnxruntime as ort

    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) \
            .get_modelmeta().custom_metadata_map
        return float(meta[ERROR_KEY])
    except (KeyError, ValueError, RuntimeError, OSError):
        return None


def _required(path: pathlib.Path, precision: str) -> Choice:
    found = variant_path(path, precision)
    if not found.is_file():
        raise ModelError(f"no {precision} variant of {path.name} (expected {found}); "
                         "`streamcolor models fetch NAME` builds them, or use --precision fp32")
    return Choice(found, precision)


def choose(path: pathlib.Path, requested: str, provider: str) -> Choice:
    """The file and precision for ``requested`` on ``provider`` (tensorrt, cuda or cpu)."""
    if requested == "fp32":
        return Choice(path, "fp32")
    if provider == "tensorrt":
        if requested == "int8":
            raise ModelError("--precision int8 is the CPU variant; TensorRT runs fp16 or fp32")
        return Choice(path, "fp16", tensorrt_fp16=True)
    if provider == "cuda" and requested == "int8":
        raise ModelError("--precision int8 is the CPU variant; on a GPU use fp16 or fp32")
    if requested in ("fp16", "int8"):
        return _required(path, requested)
    if provider == "cuda":
        half = variant_path(path, "fp16")
        return Choice(half, "fp16") if half.is_file() else Choice(path, "fp32")
    small = variant_path(path, "int8")
    error = _measured_error(small) if small.is_file() else None
    if error is not None and error <= INT8_AUTO_LIMIT:
        return Choice(small, "int8")
    return Choice(path, "fp32")

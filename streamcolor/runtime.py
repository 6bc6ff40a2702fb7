"""The model runtime: an onnxruntime session that turns batches of L* into batches of ab.

Provider choice: ``auto`` tries TensorRT, then CUDA, then the CPU and reports which one runs;
a provider asked for by name that cannot run is an error, never a silent fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pathlib

import numpy as np

from .color import lightness_to_gray_rgb, rgb_to_ab
from .contract import DEFAULT_INPUT_SIZE, ModelContract
from .errors import ModelError, ProviderUnavailableError, describe

__all__ = ["ModelRunner", "PROVIDERS", "DEFAULT_MODEL", "resolve_model_path"]

# streamcolor's own model, trained by this project and shipped with the package.
DEFAULT_MODEL = pathlib.Path(__file__).parent / "weights" / "streamcolor-compact.onnx"

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_AUTO_ORDER = ("tensorrt", "cuda", "cpu")


def resolve_model_path(spec: str | os.PathLike | None) -> pathlib.Path:
    """The ONNX file for ``--model``: a path, a name from the model registry, or (None) the
    bundled default model."""
    if spec is None:
        if DEFAULT_MODEL.is_file():
            return DEFAULT_MODEL
        raise ModelError(
            "no model given and the default model is not installed: pass --model PATH.onnx "
            "or a name from `streamcolor models list`"
        )
    path = pathlib.Path(spec).expanduser()
    if path.suffix.lower() == ".onnx" or path.exists() or os.sep in str(spec):
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        return path
    from . import zoo  # the registry is only needed for names

    return zoo.resolve_model(str(spec))


def _provider_entry(name: str, cache_dir: pathlib.Path | None):
    if name == "tensorrt":
        if cache_dir is None:  # engines take minutes to build: keep them between runs
            from .zoo.registry import cache_dir as user_cache

            cache_dir = user_cache() / "tensorrt"
        cache_dir.mkdir(parents=True, exist_ok=True)
        options = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir),
                   "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache_dir)}
        return (PROVIDERS[name], options)
    return PROVIDERS[name]


def _loadable(*names: str) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def _missing_gpu_part(name: str) -> str | None:
    """Why provider ``name`` cannot run here, or None if its libraries load."""
    if name == "cpu":
        return None
    if not _loadable("libcuda.so.1"):
        return "no NVIDIA driver found (libcuda.so.1 does not load)"
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):  # finds CUDA/cuDNN installed as nvidia-* pip packages
        with contextlib.suppress(Exception):
            ort.preload_dlls()
    if name == "tensorrt" and not _loadable("libnvinfer.so.10", "libnvinfer.so"):
        return "TensorRT is not installed (libnvinfer.so.10 does not load)"
    return None


def _choose_providers(requested: str, available: list[str]) -> list[str]:
    if requested == "auto":
        return [p for p in _AUTO_ORDER
                if PROVIDERS[p] in available and _missing_gpu_part(p) is None]
    if requested not in PROVIDERS:
        raise ProviderUnavailableError(
            f"unknown provider {requested!r}: choose auto, tensorrt, cuda or cpu"
        )
    if PROVIDERS[requested] not in available:
        raise ProviderUnavailableError(
            f"provider {requested!r} is not available in this onnxruntime build "
            f"(it offers {', '.join(available)}); install onnxruntime-gpu with CUDA, "
            "or use --provider cpu"
        )
    missing = _missing_gpu_part(requested)
    if missing:
        raise ProviderUnavailableError(
            f"provider {requested!r} cannot run here: {missing}; use --provider cpu or auto"
        )
    return [requested] if requested == "cpu" else [requested, "cpu"]


class ModelRunner:
    """A loaded model: ``run(lightness)`` maps (N,1,S,S) L* to (N,2,s,s) ab."""

    def __init__(
        self,
        model: str | os.PathLike | None,
        *,
        provider: str = "auto",
        threads: int = 0,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        """Load ``model`` (a path or registry name) on ``provider``; ``cache_dir`` keeps
        TensorRT engines (default: the user cache, see ``streamcolor models list``)."""
        import onnxruntime as ort

        self.path = resolve_model_path(model)
        names = _choose_providers(provider, ort.get_available_providers())
        cache = pathlib.Path(cache_dir) if cache_dir else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options,
                providers=[_provider_entry(n, cache) for n in names],
            )
        except Exception as error:  # onnxruntime raises several unrelated types
            raise ModelError(f"cannot load model {self.path}: {describe(error)}") from error
        running = self._session.get_providers()[0]
        if provider != "auto" and running != PROVIDERS[provider]:
            raise ProviderUnavailableError(
                f"provider {provider!r} failed to start (onnxruntime fell back to {running}); "
                "check the CUDA/TensorRT libraries, or use --provider cpu"
            )
        self.provider = {v: k for k, v in PROVIDERS.items()}.get(running, running)
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            self.contract = ModelContract.from_metadata(meta)
        except ValueError as error:
            raise ModelError(f"model {self.path} has a bad contract: {error}") from error
        self._bind_io()

    def _bind_io(self) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        contract = self.contract
        first_in, first_out = inputs[0], outputs[0]
        if len(first_in.shape) != 4 or first_in.shape[1] != contract.input_channels:
            raise ModelError(
                f"model {self.path} does not obey the model contract: input {first_in.name!r} "
                f"has shape {first_in.shape}, expected (N,{contract.input_channels},S,S)"
            )
        if len(first_out.shape) != 4 or first_out.shape[1] not in (contract.output_channels, None):
            raise ModelError(
                f"model {self.path} does not obey the model contract: output {first_out.name!r} "
                f"has shape {first_out.shape}, expected (N,{contract.output_channels},s,s)"
            )
        if len(inputs) > 1:
            raise ModelError(
                f"model {self.path} takes {len(inputs)} inputs; the contract allows one "
                "(fix extra inputs such as hints inside the graph)"
            )
        self.input_name, self.output_name = first_in.name, first_out.name
        self._input_dtype = np.float16 if "float16" in first_in.type else np.float32
        batch, height = first_in.shape[0], first_in.shape[2]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        static = height if isinstance(height, int) and height > 0 else None
        self.input_size = static or contract.input_size or DEFAULT_INPUT_SIZE

    def run(self, lightness: np.ndarray) -> np.ndarray:
        """(N,1,S,S) float32 L* -> (N,2,s,s) float32 ab."""
        feed = lightness
        if self.contract.input_kind == "gray_rgb":
            feed = lightness_to_gray_rgb(lightness)
        feed = feed.astype(self._input_dtype, copy=False)
        step = self.fixed_batch or len(feed)
        parts = [self._run_chunk(feed[i : i + step], step) for i in range(0, len(feed), step)]
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        out = out.astype(np.float32, copy=False)
        if self.contract.output_kind == "rgb":
            out = rgb_to_ab(out)
        if out.ndim != 4 or out.shape[:2] != (len(lightness), 2):
            raise ModelError(f"model {self.path} returned shape {out.shape}, expected (N,2,s,s)")
        return out

    def _run_chunk(self, chunk: np.ndarray, size: int) -> np.ndarray:
        """One session call; a chunk shorter than a fixed batch size is padded with copies of
        its last picture and the padding's output is dropped."""
        count = len(chunk)
        if count < size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - count, axis=0)])
        return self._session.run([self.output_name], {self.input_name: chunk})[0][:count]

    def warmup(self, batch_size: int) -> None:
        """Run once on zeros so that lazy allocation and engine builds happen before timing."""
        size = self.input_size
        self.run(np.zeros((batch_size, 1, size, size), dtype=np.float32))


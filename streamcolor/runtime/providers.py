"""Which onnxruntime execution providers to ask for, with what options, and why one did not start.

``auto`` asks for TensorRT, CUDA and the CPU in that order, leaving out a GPU provider whose
libraries cannot load; ``--provider tensorrt`` is TensorRT, CUDA, CPU and ``cuda`` is CUDA, CPU
(the CPU only runs the nodes a GPU provider does not take). After the session is built the
runner compares what it asked for with what onnxruntime really uses, and :func:`diagnose`
turns a provider that did not start into one sentence and the one command that fixes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import pathlib
import re

from ..errors import ProviderUnavailableError
from . import libraries

__all__ = ["PROVIDERS", "AUTO_ORDER", "Reason", "choose", "missing_gpu_part", "diagnose",
           "tensorrt_options", "short_name", "open_session", "build_lock"]

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")
_FIX_CUDA = "pip install 'streamcolor[cuda]'"
_FIX_TRT = "pip install 'streamcolor[tensorrt]'"


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a provider cannot run here, and the one command (or step) that fixes it."""

    text: str
    fix: str

    def __str__(self) -> str:
        return f"{self.text}; fix: {self.fix}"


def short_name(provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda``."""
    return {v: k for k, v in PROVIDERS.items()}.get(provider, provider)


def missing_gpu_part(name: str) -> str | None:
    """Why provider ``name`` cannot even be tried here (no driver, no TensorRT), or None."""
    if name == "cpu":
        return None
    if not libraries.probe("libcuda.so.1").loaded:
        return "no NVIDIA driver found (libcuda.so.1 does not load)"
    libraries.preload()
    if name == "tensorrt":
        soname = libraries.tensorrt_soname()
        if not libraries.probe(soname).loaded:
            return f"TensorRT is not installed ({soname} does not load; {_FIX_TRT})"
    return None


def choose(requested: str, available: list[str]) -> list[str]:
    """The short provider names to ask onnxruntime for, in order."""
    if requested == "auto":
        return [p for p in AUTO_ORDER if PROVIDERS[p] in available and missing_gpu_part(p) is None]
    if requested not in PROVIDERS:
        raise ProviderUnavailableError(
            f"unknown provider {requested!r}: choose auto, tensorrt, cuda or cpu")
    if PROVIDERS[requested] not in available:
        raise ProviderUnavailableError(
            f"provider {requested!r} is not available in this onnxruntime build "
            f"(it offers {', '.join(available)}); {_FIX_CUDA}, or use --provider cpu")
    missing = missing_gpu_part(requested)
    if missing:
        raise ProviderUnavailableError(
            f"provider {requested!r} cannot run here: {missing}; use --provider cpu or auto")
    return {"tensorrt": ["tensorrt", "cuda", "cpu"], "cuda": ["cuda", "cpu"]}.get(
        requested, ["cpu"])


def _driver_reason(needed_major: int) -> Reason | None:
    found = libraries.driver_cuda()
    if found is None:
        return Reason("no NVIDIA driver found (libcuda.so.1 does not load)",
                      "install the NVIDIA driver")
    if isinstance(found, str):
        return Reason(found, "reinstall the NVIDIA driver")
    if found[0] < needed_major:
        return Reason(
            f"the NVIDIA driver supports CUDA {found[0]}.{found[1]} but onnxruntime-gpu was "
            f"built for CUDA {needed_major}",
            f"update the driver (CUDA {needed_major} needs 580 or newer), or install an "
            f"onnxruntime-gpu built for CUDA {found[0]}")
    return None


def _missing_library(provider: str) -> str | None:
    """The first library the provider's onnxruntime plugin cannot find, if that is why."""
    with contextlib.suppress(ImportError):
        import onnxruntime

        plugin = pathlib.Path(onnxruntime.__file__).parent / "capi" / \
            f"libonnxruntime_providers_{provider}.so"
        if not plugin.is_file():
            return None
        status = libraries.probe(str(plugin))
        if not status.loaded and status.error:
            match = re.match(r"(\S+?\.so[.\d]*): cannot open", status.error)
            return match.group(1) if match else None
    return None


def diagnose(provider: str) -> Reason:
    """Why ``provider`` (``cuda`` or ``tensorrt``) did not start, in streamcolor's words."""
    build = libraries.onnxruntime_cuda()
    if build is None:
        return Reason("this onnxruntime has no CUDA support", _FIX_CUDA)
    reason = _driver_reason(int(build.split(".")[0]))
    if reason:
        return reason
    libraries.preload()
    missing = _missing_library(provider)
    if missing:
        fix = _FIX_TRT if "nvinfer" in missing or "nvonnxparser" in missing else _FIX_CUDA
        return Reason(f"{missing} is missing, the CUDA {build} libraries are not installed", fix)
    if provider == "cuda" and not libraries.probe("libcudnn.so.9").loaded:
        return Reason("cuDNN 9 (libcudnn.so.9) is missing", _FIX_CUDA)
    if not libraries.gpus():
        return Reason("the driver loads but reports no usable GPU", "run nvidia-smi")
    return Reason(f"onnxruntime could not create the {provider} provider",
                  "run `streamcolor doctor` and `--debug` for onnxruntime's own log")


def model_digest(path: pathlib.Path) -> str:
    """The first 16 hex digits of the model file's SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "unknown"


def tensorrt_options(*, cache_root: pathlib.Path, model: pathlib.Path, input_name: str,
                     channels: int, size: int, max_batch: int, fp16: bool,
                     gpu: str | None = None, version: str | None = None,
                     hint_names: tuple[str, ...] = (), fixed_batch: int | None = None
                     ) -> dict[str, str]:
    """TensorRT provider options: fp16, one optimization profile covering batch 1..max_batch
    at the model's input size (for a guided model's ``hint_names`` inputs too: a*b* and mask),
    or exactly ``fixed_batch`` where the model's batch axis is fixed (a range there fails the
    engine build), and engine/timing caches keyed by model, profile, GPU and TensorRT."""
    if gpu is None:
        found = libraries.gpus()
        gpu = found[0].name if found else "gpu"
    version = version or libraries.tensorrt_version() or "trt"
    device = f"{_slug(gpu)}-trt{_slug(version)}"
    low, high = (fixed_batch, fixed_batch) if fixed_batch else (1, max_batch)
    engines = cache_root / (f"{model_digest(model)}-b{low}-{high}-{device}-"
                            f"{'fp16' if fp16 else 'fp32'}")
    timing = cache_root / f"timing-{device}"
    inputs = [(input_name, channels), *zip(hint_names, (2, 1), strict=False)]

    def profile(batch: int) -> str:
        return ",".join(f"{name}:{batch}x{c}x{size}x{size}" for name, c in inputs)

    return {
        "trt_fp16_enable": str(fp16),
        "trt_profile_min_shapes": profile(low),
        "trt_profile_opt_shapes": profile(high),
        "trt_profile_max_shapes": profile(high),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(engines),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(timing),
    }


@contextlib.contextmanager
def build_lock(folder: pathlib.Path):
    """Hold ``folder``/build.lock (an flock) while a session builds or reads its engine, so
    that several workers on one cache build each engine once instead of all at once."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_session(ort, model, options, entries: list):
    """``ort.InferenceSession`` on exactly ``entries``: onnxruntime's fallback is off both at
    creation (where it would print an "EP Error ... Falling back" banner to stdout and build on
    other providers, losing the reason) and at run time. A creation failure raises onnxruntime's
    own error, for the caller to word; stdout stays clean (``doctor --json``)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        session = ort.InferenceSession(model, sess_options=options, providers=entries,
                                       enable_fallback=0)
    session.disable_fallback()
    return session

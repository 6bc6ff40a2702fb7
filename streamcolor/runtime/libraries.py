"""The NVIDIA libraries as they are on this machine: which load, from where, and what they say.

Everything here only looks: it loads shared libraries with :mod:`ctypes` (as onnxruntime would),
asks the driver and NVML for versions, and never installs or changes anything. Used by the
provider choice (:mod:`.providers`) and by ``streamcolor doctor``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import importlib.util
import io
import os
import pathlib
import re
import warnings

__all__ = ["LibraryStatus", "Gpu", "probe", "preload", "onnxruntime_cuda", "driver_cuda",
           "driver_version", "gpus", "tensorrt_version", "tensorrt_soname", "cuda_libraries",
           "utilization", "CUDA13_LAYOUT_SINCE"]

# The first onnxruntime-gpu whose preload_dlls finds CUDA 13's pip layout (nvidia/cu13/lib):
# microsoft/onnxruntime#29202, merged after 1.27's release candidates. pyproject's extras pin it.
CUDA13_LAYOUT_SINCE = (1, 28)

_RTLD_DI_LINKMAP = 2


@dataclasses.dataclass(frozen=True)
class LibraryStatus:
    """Whether shared library ``name`` loads; ``path`` where it was found, or ``error`` why not."""

    name: str
    loaded: bool
    path: str | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Gpu:
    """One NVIDIA GPU as NVML reports it."""

    index: int
    name: str
    memory_total: int
    memory_used: int


class _LinkMap(ctypes.Structure):
    _fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p)]


def _path_of(library: ctypes.CDLL) -> str | None:
    """The file the dynamic linker actually opened for ``library`` (glibc's dlinfo)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        dlinfo = ctypes.CDLL(None).dlinfo
        link = ctypes.POINTER(_LinkMap)()
        if dlinfo(ctypes.c_void_p(library._handle), _RTLD_DI_LINKMAP, ctypes.byref(link)) == 0:
            name = link.contents.l_name
            return os.path.realpath(name.decode()) if name else None
    return None


def probe(*names: str) -> LibraryStatus:
    """Load the first of ``names`` that loads (as the dynamic linker finds it)."""
    errors = []
    for name in names:
        try:
            library = ctypes.CDLL(name, mode=os.RTLD_LAZY | os.RTLD_GLOBAL)
        except OSError as error:
            errors.append(str(error))
            continue
        return LibraryStatus(name, True, _path_of(library))
    return LibraryStatus(names[0], False, error=errors[0] if errors else None)


def onnxruntime_cuda() -> str | None:
    """The CUDA version this onnxruntime was built for ("13.0"), or None for a CPU build."""
    with contextlib.suppress(Exception):
        from onnxruntime.capi import build_and_package_info as info

        return getattr(info, "cuda_version", None) or None
    return None


def _tensorrt_dir() -> pathlib.Path | None:
    """Where the ``tensorrt-cu*-libs`` pip package keeps libnvinfer, if it is installed."""
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("tensorrt_libs")
        if spec and spec.submodule_search_locations:
            return pathlib.Path(list(spec.submodule_search_locations)[0])
    return None


@functools.lru_cache(maxsize=1)
def preload() -> tuple[str, ...]:
    """Load CUDA/cuDNN from onnxruntime-gpu's pip packages (``onnxruntime.preload_dlls``) and
    TensorRT through its pip package's own loader (every library, the engine builder's
    resource library too), once. Their messages stay off stdout; returned instead: the
    loader's own errors, for ``doctor`` to report."""
    try:
        import onnxruntime as ort
    except ImportError:
        return ()
    problems: list[str] = []
    if onnxruntime_cuda() and hasattr(ort, "preload_dlls"):
        problems += _quietly(ort.preload_dlls)
        problems += _layout_problem(ort)
    folder = _tensorrt_dir()
    if folder is not None:
        problems += _quietly(lambda: importlib.import_module("tensorrt_libs"))
        if (folder / tensorrt_soname()).is_file():  # global too, as the plugin resolves it
            probe(str(folder / tensorrt_soname()))
    return tuple(problems)


def _quietly(load) -> list[str]:
    """Run ``load`` with stdout/stderr captured; the lines that report a failure."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load()
        except Exception as error:  # a loader that raises: its words are the report
            sink.write(f"\n{type(error).__name__}: {error}")
    lines = sink.getvalue().splitlines() + [str(w.message) for w in caught]
    return [line.strip() for line in lines
            if re.search(r"fail|error|cannot|not found|unable", line, re.I)]


def _layout_problem(ort) -> list[str]:
    """Why CUDA 13's pip libraries (``nvidia/cu13/lib``) are not found, if that is the case."""
    major = (onnxruntime_cuda() or "0").split(".")[0]
    version = tuple(int(p) for p in re.findall(r"\d+", ort.__version__)[:2])
    folder = pathlib.Path(ort.__file__).parent.parent / "nvidia" / f"cu{major}" / "lib"
    if int(major) >= 13 and version < CUDA13_LAYOUT_SINCE and folder.is_dir():
        return [f"onnxruntime-gpu {ort.__version__} does not look in {folder} (CUDA 13's pip "
                f"layout): pip install -U 'onnxruntime-gpu>="
                f"{'.'.join(map(str, CUDA13_LAYOUT_SINCE))}'"]
    return []


@functools.lru_cache(maxsize=1)
def tensorrt_soname() -> str:
    """The libnvinfer soname onnxruntime-gpu's TensorRT provider links against (read from the
    plugin's dynamic section); ``libnvinfer.so.10`` where the plugin is absent."""
    with contextlib.suppress(ImportError, OSError):
        import onnxruntime

        plugin = pathlib.Path(onnxruntime.__file__).parent / "capi" / \
            "libonnxruntime_providers_tensorrt.so"
        found = re.search(rb"libnvinfer\.so\.(\d+)\x00", plugin.read_bytes())
        if found:
            return f"libnvinfer.so.{found.group(1).decode()}"
    return "libnvinfer.so.10"


def cuda_libraries(cuda_major: str | None = None) -> dict[str, tuple[str, ...]]:
    """The libraries each part needs, by the sonames onnxruntime's providers link against."""
    major = cuda_major or (onnxruntime_cuda() or "13").split(".")[0]
    trt = tensorrt_soname()
    return {
        "cudart": (f"libcudart.so.{major}",),
        "cuBLAS": (f"libcublasLt.so.{major}", f"libcublas.so.{major}"),
        "cuDNN": ("libcudnn.so.9",),
        "TensorRT": (trt, trt.replace("nvinfer", "nvonnxparser")),
    }


def _driver() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None


def driver_cuda() -> tuple[int, int] | str | None:
    """The newest CUDA the driver supports as (major, minor), None without a driver, or the
    reason the driver did not answer (a string)."""
    library = _driver()
    if library is None:
        return None
    try:
        get_version = library.cuDriverGetVersion
    except AttributeError:
        return "libcuda.so.1 loads but has no cuDriverGetVersion (not an NVIDIA driver)"
    value = ctypes.c_int(0)
    status = get_version(ctypes.byref(value))
    if status != 0 or value.value <= 0:
        return f"the NVIDIA driver did not report its CUDA version (CUresult {status})"
    return value.value // 1000, (value.value % 1000) // 10


def _nvml() -> ctypes.CDLL | None:
    try:
        library = ctypes.CDLL("libnvidia-ml.so.1")
        if library.nvmlInit_v2() != 0:
            return None
        return library
    except (OSError, AttributeError):
        return None


def driver_version() -> str | None:
    """The NVIDIA driver's own version ("580.65.06") from NVML, or None."""
    nvml = _nvml()
    if nvml is None:
        return None
    text = ctypes.create_string_buffer(96)
    if nvml.nvmlSystemGetDriverVersion(text, ctypes.c_uint(96)) != 0:
        return None
    return text.value.decode(errors="replace")


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]


def gpus() -> list[Gpu]:
    """Every GPU NVML sees, with its memory; empty without a driver."""
    nvml = _nvml()
    if nvml is None:
        return []
    count = ctypes.c_uint(0)
    if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
        return []
    found = []
    for index in range(count.value):
        handle, name, memory = ctypes.c_void_p(), ctypes.create_string_buffer(96), _Memory()
        if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            continue
        nvml.nvmlDeviceGetName(handle, name, ctypes.c_uint(96))
        nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory))
        found.append(Gpu(index, name.value.decode(errors="replace"), memory.total, memory.used))
    return found


def tensorrt_version() -> str | None:
    """TensorRT's version ("10.13.3") from libnvinfer itself, or None if it does not load."""
    preload()
    status = probe(tensorrt_soname(), "libnvinfer.so")
    if not status.loaded:
        return None
    with contextlib.suppress(AttributeError, OSError):
        value = ctypes.CDLL(status.path or status.name).getInferLibVersion()
        if value >= 100000:  # TensorRT >= 10: MMmmpp
            return f"{value // 10000}.{value // 100 % 100}.{value % 100}"
        return f"{value // 1000}.{value // 100 % 10}.{value % 100}"
    return None


class _Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


def utilization() -> list[tuple[int, int]]:
    """(GPU busy %, memory used in MiB) of every GPU now, from NVML; empty without one."""
    nvml = _nvml()
    if nvml is None:
        return []
    samples = []
    for gpu in gpus():
        handle, rates = ctypes.c_void_p(), _Utilization()
        if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(gpu.index), ctypes.byref(handle)):
            continue
        nvml.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(rates))
        samples.append((int(rates.gpu), gpu.memory_used >> 20))
    return samples

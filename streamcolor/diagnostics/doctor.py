"""``streamcolor doctor``: what this machine offers streamcolor, and the one fix for each gap.

It only looks: it loads libraries the way onnxruntime and FFmpeg would, asks the NVIDIA driver
and NVML for versions, opens (and closes) a session on the bundled model and hardware codecs,
and never installs or changes anything. :func:`collect` returns a JSON-ready report;
:func:`render` turns it into text. A verdict per path (CPU inference, CUDA inference, TensorRT
inference, GPU decode, GPU encode) says ready or not, why, and the one command that fixes it.
"""

from __future__ import annotations

import contextlib
import fractions
import sys

import numpy as np

from ..errors import describe
from ..runtime import DEFAULT_MODEL, ModelRunner, libraries, providers

__all__ = ["collect", "render", "cpu_path_works"]

_NVENC = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
_NVDEC = ("h264_cuvid", "hevc_cuvid", "av1_cuvid")
_NO_NVENC = ("H100", "H200", "H800", "A100", "A30", "B200")  # data-centre GPUs without NVENC


def _onnxruntime() -> dict:
    try:
        import onnxruntime as ort
    except ImportError as error:
        return {"installed": False, "error": str(error)}
    return {"installed": True, "version": ort.__version__, "built_for_cuda":
            libraries.onnxruntime_cuda(), "providers": ort.get_available_providers()}


def _driver() -> dict:
    cuda = libraries.driver_cuda()
    driver = libraries.probe("libcuda.so.1")
    return {
        "libcuda": driver.path if driver.loaded else None,
        "version": libraries.driver_version(),
        "cuda": f"{cuda[0]}.{cuda[1]}" if isinstance(cuda, tuple) else None,
        "problem": cuda if isinstance(cuda, str) else None,
        "gpus": [{"index": g.index, "name": g.name, "memory_total_mib": g.memory_total >> 20,
                  "memory_used_mib": g.memory_used >> 20} for g in libraries.gpus()],
    }


def _libraries() -> dict:
    found = {}
    for part, names in libraries.cuda_libraries().items():
        statuses = [libraries.probe(name) for name in names]
        found[part] = {"loads": all(s.loaded for s in statuses),
                       "from": [s.path or s.name for s in statuses if s.loaded],
                       "error": next((s.error for s in statuses if not s.loaded), None)}
    found["TensorRT"]["version"] = libraries.tensorrt_version()
    return found


def _opens_encoder(av, name: str) -> str | None:
    """None if encoder ``name`` opens on this machine, else why not."""
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = fractions.Fraction(1, 25)
        context.open()
        context.close()
        return None
    except Exception as error:  # PyAV raises its own errors and builtins
        return describe(error)


def _opens_gpu_decoder(av) -> str | None:
    """None if a CUDA-accelerated h264 decoder opens, else why not."""
    try:
        from av.codec.hwaccel import HWAccel

        hwaccel = HWAccel(device_type="cuda", allow_software_fallback=False)
        context = av.CodecContext.create("h264", "r", hwaccel=hwaccel)
        software = not context.is_hwaccel  # PyAV opens without a CUDA config in software
        context.open()
        context.close()
        return "FFmpeg has no CUDA decoder config for h264 (it opens in software)" \
            if software else None
    except Exception as error:  # PyAV raises its own errors and builtins
        return describe(error)


def _media() -> dict:
    try:
        import av
    except ImportError as error:
        return {"pyav": None, "error": str(error)}
    from av.codec import hwaccel

    codecs = av.codecs_available
    devices = list(hwaccel.hwdevices_available())
    return {
        "pyav": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", None),
        "hwaccel_devices": devices,
        "nvdec": {name: name in codecs for name in _NVDEC},
        "nvenc": {name: (None if name not in codecs else _opens_encoder(av, name) or "opens")
                  for name in _NVENC},
        "cuda_decode": (_opens_gpu_decoder(av) or "opens") if "cuda" in devices else None,
    }


def _verdict(path: str, ok: bool, detail: str, fix: str | None = None) -> dict:
    return {"path": path, "ok": ok, "detail": detail, "fix": None if ok else fix}


def _cpu_verdict() -> dict:
    try:
        runner = ModelRunner(DEFAULT_MODEL, provider="cpu")
        size = runner.input_size
        runner.run(np.zeros((1, 1, size, size), np.float32))
        return _verdict("CPU inference", True, f"{DEFAULT_MODEL.name} runs on the CPU")
    except Exception as error:  # any failure is the verdict
        return _verdict("CPU inference", False, describe(error),
                        "pip install --force-reinstall streamcolor")


def _gpu_verdict(name: str, label: str, report: dict) -> dict:
    if name == "tensorrt" and not report["libraries"]["TensorRT"]["loads"]:
        return _verdict(label, False, f"TensorRT ({libraries.tensorrt_soname()}) does not load",
                        "pip install 'streamcolor[tensorrt]'")
    if providers.PROVIDERS[name] not in report["onnxruntime"].get("providers", []):
        return _verdict(label, False, "this onnxruntime build has no such provider",
                        "pip install 'streamcolor[cuda]'")
    if name == "tensorrt":  # building an engine takes minutes: the libraries are the check
        version = report["libraries"]["TensorRT"]["version"]
        return _verdict(label, True, f"TensorRT {version} loads; engines are built on first use")
    if not report["driver"]["libcuda"]:
        reason = providers.diagnose(name)
        return _verdict(label, False, reason.text, reason.fix)
    try:
        runner = ModelRunner(DEFAULT_MODEL, provider=name)
        return _verdict(label, True, f"the bundled model runs on {runner.provider}")
    except Exception as error:  # our words first, then onnxruntime's and the loader's
        reason = providers.diagnose(name)
        said = [describe(error), *report.get("loader_errors", [])[:2]]
        return _verdict(label, False, f"{reason.text} ({'; '.join(said)})", reason.fix)


def _missing_basics(label: str, media: dict, driver: dict) -> dict | None:
    """The verdict when PyAV or the NVIDIA driver, which every GPU media path needs, is missing."""
    if media.get("pyav") is None:
        return _verdict(label, False, "PyAV is not installed", "pip install av")
    if not driver["libcuda"]:
        return _verdict(label, False, "no NVIDIA driver (libcuda.so.1 does not load)",
                        "install the NVIDIA driver")
    return None


def _decode_verdict(media: dict, driver: dict) -> dict:
    label = "GPU decode"
    if missing := _missing_basics(label, media, driver):
        return missing
    if "cuda" not in media["hwaccel_devices"]:
        return _verdict(label, False, "PyAV's FFmpeg has no CUDA hardware device",
                        "install a PyAV wheel whose FFmpeg has CUDA (the PyPI wheels do)")
    state = media["cuda_decode"]
    if state == "opens":
        return _verdict(label, True, "h264 decodes on the GPU (NVDEC via --hwaccel cuda)")
    return _verdict(label, False, f"the CUDA decoder does not open ({state})",
                    "check the driver with nvidia-smi; decoding stays on the CPU meanwhile")


def _encode_verdict(media: dict, driver: dict) -> dict:
    label = "GPU encode"
    if missing := _missing_basics(label, media, driver):
        return missing
    gpus = driver["gpus"]
    opens = [name for name, state in media["nvenc"].items() if state == "opens"]
    if opens:
        return _verdict(label, True, f"NVENC opens: {', '.join(opens)} (--codec {opens[0]})")
    without = [g["name"] for g in gpus if any(tag in g["name"] for tag in _NO_NVENC)]
    if without:
        return _verdict(label, False, f"{without[0]} has no NVENC (H100/H200 have NVDEC only)",
                        "none: encode on the CPU with libx264 (it uses every core)")
    states = [s for s in media["nvenc"].values() if s not in (None, "opens")]
    detail = f"NVENC does not open ({states[0]})" if states else "PyAV has no NVENC encoder"
    return _verdict(label, False, detail, "none needed: libx264 encodes on the CPU")


def collect() -> dict:
    """Everything doctor reports, as a JSON-ready dict (see the module docstring)."""
    # anything a library prints goes to stderr: stdout is doctor --json's
    with contextlib.redirect_stdout(sys.stderr):
        report = {"onnxruntime": _onnxruntime(), "driver": _driver(),
                  "loader_errors": list(libraries.preload()), "libraries": _libraries(),
                  "media": _media()}
        verdicts = [_cpu_verdict()]
        if report["onnxruntime"].get("installed"):
            verdicts.append(_gpu_verdict("cuda", "CUDA inference", report))
            verdicts.append(_gpu_verdict("tensorrt", "TensorRT inference", report))
        verdicts += [_decode_verdict(report["media"], report["driver"]),
                     _encode_verdict(report["media"], report["driver"])]
    report["verdicts"] = verdicts
    return report


def cpu_path_works(report: dict) -> bool:
    """True when the CPU path (decode, CPU inference, encode) works: doctor's exit status 0."""
    cpu = next(v for v in report["verdicts"] if v["path"] == "CPU inference")
    return cpu["ok"] and report["media"].get("pyav") is not None


def _summary_lines(report: dict) -> list[str]:
    ort, driver, media = report["onnxruntime"], report["driver"], report["media"]
    lines = [f"onnxruntime  {ort.get('version', 'not installed')}, built for CUDA "
             f"{ort.get('built_for_cuda') or '(none: CPU build)'}; providers: "
             f"{', '.join(ort.get('providers', []))}"]
    if driver["libcuda"]:
        lines.append(f"driver       {driver['version'] or '?'} (CUDA {driver['cuda'] or '?'}) "
                     f"from {driver['libcuda']}" + (f"; {driver['problem']}"
                                                    if driver["problem"] else ""))
    else:
        lines.append("driver       none (libcuda.so.1 does not load)")
    lines += [f"gpu {g['index']}        {g['name']}, {g['memory_total_mib']} MiB "
              f"({g['memory_used_mib']} MiB used)" for g in driver["gpus"]]
    for part, state in report["libraries"].items():
        where = ", ".join(state["from"]) if state["loads"] else f"does not load ({state['error']})"
        lines.append(f"{part:<12} {where}")
    lines += [f"loader       {error}" for error in report.get("loader_errors", [])]
    if media.get("pyav"):
        lines.append(f"PyAV         {media['pyav']} (FFmpeg {media['ffmpeg']}); hardware "
                     f"devices: {', '.join(media['hwaccel_devices']) or 'none'}")
        present = [n for n, ok in media["nvdec"].items() if ok]
        lines.append(f"NVDEC        {', '.join(present) or 'none'} present")
        lines.append("NVENC        " + ", ".join(
            f"{n}: {'absent' if s is None else s}" for n, s in media["nvenc"].items()))
    else:
        lines.append(f"PyAV         not installed ({media.get('error')})")
    return lines


def render(report: dict) -> str:
    """The report as text: the facts, then one line per path with its verdict and fix."""
    lines = _summary_lines(report) + [""]
    for verdict in report["verdicts"]:
        mark = "ok " if verdict["ok"] else "no "
        fix = f"  -> {verdict['fix']}" if verdict["fix"] else ""
        lines.append(f"{mark} {verdict['path']:<19} {verdict['detail']}{fix}")
    return "\n".join(lines)


"""GPU video decode (NVDEC through PyAV's hardware decoding) and NVENC encoders, when they work.

``--hwaccel auto`` decodes on the GPU where a CUDA decoder opens and FFmpeg's NVDEC supports the
codec, and on the CPU otherwise, saying so (logger ``streamcolor``) when a driver is present;
``cuda`` is an error when it cannot; ``none`` never tries. Decoded frames come back to host
memory (NV12/P010), whose luma plane is the software decoder's bit for bit.
A decoder counts as on the GPU only where PyAV says so (``is_hwaccel``): PyAV opens a codec
without a CUDA config in software, silently. NVDEC decodes only some profiles (H.264: 4:2:0
8-bit); for others ``auto`` decodes on the CPU and ``cuda`` is one clear error up front.
NVENC: H100 and H200 (and A100) have NVDEC but no NVENC; encoding then stays on the CPU.
"""

from __future__ import annotations

import contextlib
import fractions
import functools
import logging

from ..errors import EncoderError, InputError, describe
from ..runtime import libraries

__all__ = ["HWACCEL_MODES", "decode_options", "check_decoder", "check_encoder",
           "nvdec_refusal", "no_stream_message"]

HWACCEL_MODES = ("auto", "cuda", "none")
# FFmpeg's CUDA device on the device's primary context, the one onnxruntime's CUDA provider
# uses, instead of a second context of its own (its memory, its switches)
CUDA_DEVICE_OPTIONS = {"primary_ctx": "1"}
_NO_NVENC = ("H100", "H200", "H800", "A100", "A30")
log = logging.getLogger("streamcolor")


@functools.lru_cache(maxsize=1)
def cuda_decode_problem() -> str | None:
    """Why a CUDA (NVDEC) decoder cannot open here, or None if it opens."""
    if not libraries.probe("libcuda.so.1").loaded:
        return "no NVIDIA driver (libcuda.so.1 does not load)"
    try:
        import av
        from av.codec.hwaccel import HWAccel, hwdevices_available

        if "cuda" not in hwdevices_available():
            return "PyAV's FFmpeg was built without CUDA"
        context = av.CodecContext.create(
            "h264", "r", hwaccel=HWAccel(device_type="cuda", allow_software_fallback=False,
                                         options=dict(CUDA_DEVICE_OPTIONS)))
        software = not context.is_hwaccel
        context.open()
        context.close()
        if software:
            return "PyAV's FFmpeg has no CUDA decoder config for h264 (it opened in software)"
        return None
    except Exception as error:  # PyAV raises its own errors and builtins
        return f"the CUDA decoder does not open ({describe(error)})"


def decode_options(mode: str) -> dict:
    """Keyword arguments for ``av.open`` that decode on the GPU per ``--hwaccel MODE``."""
    if mode not in HWACCEL_MODES:
        raise InputError(f"unknown --hwaccel {mode!r}: choose auto, cuda or none")
    if mode == "none":
        return {}
    problem = cuda_decode_problem()
    if problem:
        if mode == "cuda":
            raise InputError(f"--hwaccel cuda: {problem}; use --hwaccel auto or none")
        if libraries.probe("libcuda.so.1").loaded:
            log.info("decoding on the CPU: %s", problem)
        return {}
    from av.codec.hwaccel import HWAccel

    return {"hwaccel": HWAccel(device_type="cuda", allow_software_fallback=mode == "auto",
                               options=dict(CUDA_DEVICE_OPTIONS))}


# What NVDEC decodes on H100/H200 (NVIDIA's decode support matrix): codec -> pixel formats.
_NVDEC_FORMATS = {
    "h264": ("yuv420p", "yuvj420p", "nv12"),
    "hevc": ("yuv420p", "yuvj420p", "yuv420p10le", "yuv420p12le", "yuv444p", "yuv444p10le",
             "yuv444p12le", "nv12", "p010le"),
    "av1": ("yuv420p", "yuv420p10le", "nv12", "p010le"),
    "vp9": ("yuv420p", "yuv420p10le", "yuv420p12le", "nv12", "p010le"),
    "mpeg2video": ("yuv420p",), "mpeg4": ("yuv420p",), "vc1": ("yuv420p",),
    "vp8": ("yuv420p",), "mjpeg": ("yuvj420p", "yuv420p", "yuvj422p", "yuvj444p"),
}


_H264_REFUSED = ("4:2:2", "4:4:4", "High 10")  # profile names NVDEC's H.264 decoder refuses


def _software_format(context) -> str | None:
    """The stream's own pixel format (a CUDA context reports ``cuda`` as its format)."""
    for attribute in ("format", "sw_format"):
        with contextlib.suppress(Exception):  # PyAV raises for an unset format
            name = getattr(getattr(context, attribute, None), "name", None)
            if name and name != "cuda":
                return name
    return None


def nvdec_refusal(context) -> str | None:
    """Why NVDEC will not decode this stream's profile (H.264 4:2:2/4:4:4 or 10-bit...), or
    None where it will or where the stream does not say."""
    formats = _NVDEC_FORMATS.get(context.name)
    profile = getattr(context, "profile", None) or ""
    pix_fmt = _software_format(context)
    refused = formats is not None and pix_fmt is not None and pix_fmt not in formats
    if context.name == "h264" and any(tag in profile for tag in _H264_REFUSED):
        refused = True
    if not refused:
        return None
    what = " ".join(part for part in (context.name, profile) if part)
    return f"NVDEC does not decode {what}" + (f" ({pix_fmt})" if pix_fmt else "")


def no_stream_message(path) -> str:
    """PyAV refused ``--hwaccel cuda`` for every stream of ``path`` (``av.open`` raised)."""
    return (f"--hwaccel cuda: no stream of {path} can decode on the GPU (NVDEC has no decoder "
            "for its codec); use --hwaccel auto or none")


def check_decoder(mode: str, stream) -> None:
    """After opening: say when ``auto`` falls back to the CPU for this codec or profile; an
    error for ``cuda``."""
    if mode == "none":
        return
    context = stream.codec_context
    if context.hwaccel is None:
        return
    if context.is_hwaccel:
        message = nvdec_refusal(context)
        if message is None:
            return
    else:
        message = f"NVDEC does not decode {context.name}"
    if mode == "cuda":
        raise InputError(f"--hwaccel cuda: {message}; use --hwaccel auto or none")
    log.info("%s: decoding on the CPU", message)


def _gpu_without_nvenc() -> str | None:
    for gpu in libraries.gpus():
        if any(tag in gpu.name for tag in _NO_NVENC):
            return gpu.name
    return None


def check_encoder(codec: str | None, width: int = 256, height: int = 256) -> None:
    """For an NVENC ``codec``: raise :class:`EncoderError` with the reason if it cannot open."""
    if not codec or not codec.endswith("_nvenc"):
        return
    try:
        import av

        context = av.CodecContext.create(codec, "w")
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.time_base = fractions.Fraction(1, 25)
        context.open()
        context.close()
        return
    except Exception as error:  # PyAV raises its own errors and builtins
        reason = describe(error)
    gpu = _gpu_without_nvenc()
    if gpu:
        reason = f"{gpu} has no NVENC (H100 and H200 have NVDEC only)"
    elif not libraries.probe("libcuda.so.1").loaded:
        reason = "no NVIDIA driver (libcuda.so.1 does not load)"
    raise EncoderError(f"--codec {codec} cannot encode here: {reason}; use --codec libx264 "
                       "(it uses every core)")

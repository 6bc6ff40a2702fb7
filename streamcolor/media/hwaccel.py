"""GPU video decode (NVDEC through PyAV's hardware decoding) and NVENC encoders, when they work.

``--hwaccel auto`` decodes on the GPU where a CUDA decoder opens and FFmpeg's NVDEC supports the
codec, and on the CPU otherwise, saying so (logger ``streamcolor``) when a driver is present;
``cuda`` is an error when it cannot; ``none`` never tries. Decoded frames come back to host
memory (NV12/P010), whose luma plane is the software decoder's bit for bit.
NVENC: H100 and H200 (and A100) have NVDEC but no NVENC; encoding then stays on the CPU.
"""

from __future__ import annotations

import fractions
import functools
import logging

from ..errors import EncoderError, InputError, describe
from ..runtime import libraries

__all__ = ["HWACCEL_MODES", "decode_options", "check_decoder", "check_encoder"]

HWACCEL_MODES = ("auto", "cuda", "none")
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
            "h264", "r", hwaccel=HWAccel(device_type="cuda", allow_software_fallback=False))
        context.open()
        context.close()
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

    return {"hwaccel": HWAccel(device_type="cuda", allow_software_fallback=mode == "auto")}


def check_decoder(mode: str, stream) -> None:
    """After opening: say when ``auto`` fell back to the CPU for this codec; an error for
    ``cuda``."""
    if mode == "none":
        return
    context = stream.codec_context
    if context.hwaccel is None or context.is_hwaccel:
        return
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

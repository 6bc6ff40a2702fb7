"""The video encoder of an output: chosen per container unless ``--codec`` names one, with
settings that suit it.

    .webm                              libvpx-vp9 (CRF, ``-b:v 0``, good deadline, row-mt)
    .mp4 .mov .mkv, RTMP, TS, HLS, RTSP libx264 (CRF 18)
    anything else                      the muxer's own default (e.g. .avi: mpeg4)
"""

from __future__ import annotations

from fractions import Fraction

import av

from ..config import EncodeConfig
from ..errors import EncoderError

__all__ = ["choose_encoder", "encoder_options", "video_encoder"]

_H264_FORMATS = ("mp4", "mov", "matroska", "flv", "mpegts", "hls", "rtsp", "ismv", "3gp", "ipod")
_PREFERRED = {"webm": "libvpx-vp9"}
_DEFAULT_CRF = {"libvpx-vp9": "31", "libvpx": "10", "libsvtav1": "35", "libaom-av1": "30"}
_VPX = ("libvpx-vp9", "libvpx")


def video_encoder(name: str) -> av.codec.Codec:
    """The encoder called ``name`` (an encoder or codec name), or an :class:`EncoderError`."""
    try:
        codec = av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError) as error:
        raise EncoderError(
            f"unknown video encoder {name!r}: see `ffmpeg -hide_banner -encoders` for the "
            "names this FFmpeg offers (e.g. libx264, libx265, libvpx-vp9, ffv1)"
        ) from error
    if codec.type != "video":
        raise EncoderError(f"{name!r} encodes {codec.type}, not video; choose a video encoder")
    return codec


def choose_encoder(encode: EncodeConfig, format_name: str, muxer_default: str | None) -> str:
    """The encoder for an output in ``format_name`` (FFmpeg's muxer name, e.g. ``webm``):
    ``encode.codec`` if given, else one the container holds (see the module docstring)."""
    if encode.codec:
        return encode.codec
    names = format_name.split(",")
    for name in names:
        if name in _PREFERRED and _has_encoder(_PREFERRED[name]):
            return _PREFERRED[name]
    if any(name in _H264_FORMATS for name in names) and _has_encoder("libx264"):
        return "libx264"
    if muxer_default and muxer_default != "none" and _has_encoder(muxer_default):
        return av.codec.Codec(muxer_default, "w").name
    raise EncoderError(
        f"this FFmpeg has no encoder for the {format_name} container's default video codec "
        f"({muxer_default or 'none'}); choose one with --codec (e.g. libx264, ffv1)"
    )


def _has_encoder(name: str) -> bool:
    try:
        return av.codec.Codec(name, "w").type == "video"
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


def encoder_options(codec: str, encode: EncodeConfig, rate: Fraction | None) -> dict[str, str]:
    """Options for ``codec``: the user's, over defaults that suit the encoder (CRF quality
    for each encoder's scale, VP9's speed settings, low latency in live mode)."""
    options = encode.codec_options()
    own = {key for key, _ in encode.options}
    if "crf" in options and encode.crf is None and "crf" not in own and codec in _DEFAULT_CRF:
        options["crf"] = _DEFAULT_CRF[codec]
    defaults: dict[str, str] = {}
    if codec in _VPX:
        if "crf" in options and encode.bitrate is None:
            defaults["b"] = "0"  # constant quality: without b=0 libvpx treats CRF as a cap
        defaults.update({"deadline": "realtime" if encode.live else "good",
                         "cpu-used": "8" if encode.live else "5"})
        if codec == "libvpx-vp9":
            defaults["row-mt"] = "1"
        if encode.live:
            defaults["lag-in-frames"] = "0"
    elif codec == "libx264" and encode.live:
        defaults["tune"] = "zerolatency"
        if not encode.preset:
            defaults["preset"] = "veryfast"
    if encode.live and rate:
        defaults["g"] = str(max(1, round(2 * rate)))  # a keyframe every 2 s for viewers
    return {**defaults, **options}

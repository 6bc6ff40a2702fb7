"""The video encoder of an output: chosen per container unless ``--codec`` names one, with
settings that suit it.

    .webm                              libvpx-vp9 (CRF, ``-b:v 0``, good deadline, row-mt)
    .mp4 .mov .mkv, RTMP, TS, HLS, RTSP libx264 (CRF 18)
    anything else                      the muxer's own default (e.g. .avi: mpeg4)

An interlaced source is coded as fields where the encoder can (libx264, mpeg2video,
prores_ks: FFmpeg's ``flags=+ildct+ilme``), each frame with its own field order; a user's
``--encoder-option flags=...`` decides instead (``flags=-ildct-ilme``: progressive coding).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction

import av

from ..config import RATE_CONTROL, EncodeConfig
from ..errors import EncoderError

__all__ = ["FrameGrid", "choose_encoder", "encoder_options", "grid_rate", "interlace_note",
           "standard_rates", "video_encoder"]

_H264_FORMATS = ("mp4", "mov", "matroska", "flv", "mpegts", "hls", "rtsp", "ismv", "3gp", "ipod")
_PREFERRED = {"webm": "libvpx-vp9"}
_DEFAULT_CRF = {"libvpx-vp9": "31", "libvpx": "10", "libsvtav1": "35", "libaom-av1": "30"}
_VPX = ("libvpx-vp9", "libvpx")
# Encoders that code two fields when FFmpeg's interlaced flags ask them to (field order from
# each frame's flags), and encoders that keep a frame's interlacing flags unasked (lossless).
_FIELD_FLAGS = {"libx264": "+ildct+ilme", "libx264rgb": "+ildct+ilme",
                "mpeg2video": "+ildct+ilme", "prores_ks": "+ildct"}
_KEEP_FIELDS = ("ffv1",)
# Encoders without a CRF (the MPEG-1/2/4 family, MJPEG, H.263): left alone they aim at FFmpeg's
# 200 kb/s, blocky at any size worth colorizing. A fixed quantizer is their constant quality
# (FFmpeg's -q:v; 2 is near transparent, 31 the worst).
_QSCALE_ENCODERS = ("mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v2", "mjpeg",
                    "h263", "h263p", "flv", "wmv1", "wmv2")
DEFAULT_QSCALE = 3
_LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: global_quality is a quantizer in lambda units
# MPEG-1's rates, the common ones. FFmpeg's mpeg1video also lists unofficial ones, which it
# refuses to open with.
_MPEG1_RATES = frozenset(Fraction(n, d) for n, d in (
    (24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1)))


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


def encoder_options(codec: str, encode: EncodeConfig, rate: Fraction | None, *,
                    interlaced: bool = False) -> dict[str, str]:
    """Options for ``codec``: the user's, over defaults that suit the encoder (CRF quality
    for each encoder's scale, VP9's speed settings, low latency in live mode, field coding
    for an ``interlaced`` source)."""
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
    flags = ""
    if codec in _QSCALE_ENCODERS and encode.bitrate is None and not own & set(RATE_CONTROL):
        defaults["global_quality"] = str(DEFAULT_QSCALE * _LAMBDA)
        flags += "+qscale"
    if interlaced and codec in _FIELD_FLAGS:
        flags += _FIELD_FLAGS[codec]
    if flags:
        defaults["flags"] = flags
    return {**defaults, **options}


def interlace_note(codec: str, encode: EncodeConfig, interlaced: bool) -> str | None:
    """What a user should know when ``codec`` cannot keep an interlaced source's fields."""
    if not interlaced or codec in _FIELD_FLAGS or codec in _KEEP_FIELDS or any(
            key == "flags" for key, _ in encode.options):
        return None
    return (f"the source is interlaced and {codec} codes whole frames: the output's frames are "
            "marked progressive with both fields woven in them; for interlaced output use "
            "libx264, mpeg2video, prores_ks or ffv1, or deinterlace the source first")


def standard_rates(codec: str) -> list[Fraction]:
    """The frame rates that ``codec`` is limited to, slowest first (empty: any rate)."""
    rates = {Fraction(r.numerator, r.denominator) for r in video_encoder(codec).frame_rates or ()}
    if codec == "mpeg1video":
        rates &= _MPEG1_RATES
    return sorted(rates)


def grid_rate(codec: str, wanted: Fraction, *, times_each_frame: bool, label: str
              ) -> Fraction | None:
    """The rate of a fixed-rate encoder (MPEG-1/2) for a source of ``wanted`` fps: the
    slowest standard one at or above it, so that no two frames fall in one slot, else the
    fastest (a nominal rate may overstate a variable one; :class:`FrameGrid` stops frames
    that really come faster); None for an encoder of any rate. A container that does not
    time each frame (MPEG-PS counts slots) takes only the source's own rate. ``label`` names
    the output in errors."""
    rates = standard_rates(codec)
    if not rates:
        return None
    above = [r for r in rates if r >= wanted] or [max(rates)]
    if min(above) != wanted and not times_each_frame:
        shown = ", ".join(f"{float(r):.5g}" for r in rates if r in _MPEG1_RATES)
        raise EncoderError(
            f"{label} holds {codec} only at a standard frame rate ({shown} fps), and each of "
            f"its frames lasts one slot; the source has {float(wanted):g} fps: write .mkv or "
            ".mp4, which time each frame")
    return min(above)


class FrameGrid:
    """Frame times for an encoder of one fixed ``rate``, which times frames in slots of 1/rate:
    each frame goes in the slot nearest its time, or in the next free one (a source of
    variable rate can have two frames nearest one slot). Frames that come faster than the
    grid for long (a second behind their time) are an :class:`EncoderError`. With ``rate``
    None, times are kept."""

    def __init__(self, rate: Fraction | None = None) -> None:
        self.rate = rate
        self.last: int | None = None

    @contextlib.contextmanager
    def placed(self, frame: av.VideoFrame | None) -> Iterator[None]:
        """``frame`` retimed in the encoder's time base (1/rate) while it is encoded."""
        if frame is None or self.rate is None:
            yield
            return
        pts, time_base = frame.pts, frame.time_base
        known = pts is not None and time_base is not None
        slot = round(pts * time_base * self.rate) if known else None
        if slot is None or self.last is not None and slot <= self.last:
            wanted, slot = slot, 0 if self.last is None else self.last + 1
            if wanted is not None and slot - wanted > self.rate:
                raise EncoderError(f"the frames come faster than the encoder's "
                                   f"{float(self.rate):g} fps: choose another --codec (e.g. "
                                   "libx264, ffv1)")
        self.last = slot
        frame.pts, frame.time_base = slot, 1 / self.rate
        try:
            yield
        finally:
            frame.pts, frame.time_base = pts, time_base

"""Video frames as planes: which pixel formats flow where, and how a colorized frame is made.

Every decoded frame is brought into a planar *working format* (planar Y'CbCr or grey) as it
leaves the decoder; formats already planar are passed as they are, so their luma plane is
the decoder's own. The output frame keeps that luma plane bit for bit and gets new chroma
planes, in the encoder's pixel format where it has one of the same bit depth.
"""

from __future__ import annotations

import dataclasses
import re

import av
import numpy as np

from ..color.lab import PlaneSpec, chroma_planes

__all__ = [
    "FramePlan", "plan_formats", "has_alpha", "working_format", "to_working", "plane_array",
    "plane_spec",
    "colorize_frame", "chroma_inputs",
]

_PLANAR_YUV = re.compile(r"^yuv(420|422|444|440|411|410)p(9|10|12|14|16)?(le)?$")
_PLANAR_YUVA = re.compile(r"^yuva(420|422|444)p(9|10|12|16)?(le)?$")
_FULL_RANGE_YUV = re.compile(r"^yuvj(420|422|444|440|411)p$")
_GRAY = re.compile(r"^gray(9|10|12|14|16)?(le)?$")
_SEMI_PLANAR = {"nv12": "yuv420p", "nv21": "yuv420p", "p010le": "yuv420p10le",
                "nv16": "yuv422p", "p210le": "yuv422p10le", "p410le": "yuv444p10le"}
JPEG_RANGE = 2
_CHROMA_ORDER = {"420": 0, "422": 1, "444": 2}  # the least subsampled chroma last
MPEG_RANGE = 1  # AVCOL_RANGE_MPEG: limited (16-235 at 8 bits)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FramePlan:
    """Pixel formats along the path: decoded -> working -> built -> encoded."""

    decoded: str
    working: str
    built: str
    encoded: str
    full_range: bool
    alpha: bool = False  # the alpha plane is carried (built frames copy it bit for bit)


def _bits(fmt: str) -> int:
    return av.VideoFormat(fmt).components[0].bits


def has_alpha(fmt: str) -> bool:
    """True for pixel formats with an alpha channel (yuva*, rgba, argb, ya8, gbrap...)."""
    return len(av.VideoFormat(fmt).components) in (2, 4)


def working_format(decoded: str) -> str:
    """The format a decoded frame is brought to: planar formats stay as decoded (so their
    luma is the decoder's own; full-range yuvj is not range-converted), others are converted;
    alpha is kept (RGBA and the like become planar Y'CbCr with alpha)."""
    if _PLANAR_YUV.match(decoded) or _GRAY.match(decoded) or _FULL_RANGE_YUV.match(decoded):
        return decoded
    if _PLANAR_YUVA.match(decoded):
        return decoded
    if decoded in _SEMI_PLANAR:
        return _SEMI_PLANAR[decoded]
    alpha = "a" if has_alpha(decoded) else ""
    return f"yuv{alpha}444p" if _bits(decoded) <= 8 else f"yuv{alpha}444p16le"


def to_working(frame: av.VideoFrame, working: str) -> av.VideoFrame:
    """``frame`` converted to ``working``; an RGB frame's alpha is carried bit for bit
    (swscale rounds alpha when it converts RGB to Y'CbCr, but not when it only repacks)."""
    out = frame.reformat(format=working)
    if frame.format.is_rgb and has_alpha(frame.format.name) and has_alpha(working):
        wide = _bits(working) > 8
        planar = frame.reformat(format="gbrap16le" if wide else "gbrap")
        dtype = np.uint16 if wide else np.uint8
        plane_array(out.planes[3], dtype)[:] = plane_array(planar.planes[3], dtype)
    return out


def _colour_format(working: str) -> str:
    """Grey gets 4:2:0 chroma of the same depth; yuvj becomes yuv tagged full range."""
    if m := _GRAY.match(working):
        return "yuv420p" + (f"{m.group(1)}le" if m.group(1) else "")
    if m := _FULL_RANGE_YUV.match(working):
        return f"yuv{m.group(1)}p"
    return working


# Formats an encoder lists but refuses without -strict experimental.
_EXPERIMENTAL = {"libvpx-vp9": ("yuva422p", "yuva444p")}

# Encoders that refuse odd picture sizes for subsampled chroma.
EVEN_SIZE_ENCODERS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc", "libsvtav1")


def _full_chroma(fmt: str) -> str:
    m = _PLANAR_YUV.match(fmt)
    return f"yuv444p{m.group(2) or ''}{m.group(3) or ''}" if m else fmt


def plan_formats(decoded: str, encoder_formats: list[str] | None, *, odd_size: bool = False,
                 encoder: str = "", color_range: int = 0, pictures: bool = False) -> FramePlan:
    """Choose the formats for one stream; ``encoder_formats`` None means 'any'.

    An odd-sized picture going to an encoder in :data:`EVEN_SIZE_ENCODERS` gets 4:4:4 chroma
    (luma is untouched; only the chroma resolution differs). Full range: yuvj, and grey
    unless the stream says limited (``color_range`` 1): FFmpeg reads untagged grey as full
    range, so its colour output is tagged so, or players would stretch its contrast.
    ``pictures`` (an image sequence): R'G'B' as deep as the source where the encoder has it.
    """
    working = working_format(decoded)
    full_range = bool(_FULL_RANGE_YUV.match(working)
                      or _GRAY.match(working) and color_range != MPEG_RANGE)
    wanted = _colour_format(working)
    if _PLANAR_YUVA.match(wanted):
        usable = encoder_formats and [f for f in encoder_formats
                                      if f not in _EXPERIMENTAL.get(encoder, ())]
        plan = _alpha_plan(decoded, working, wanted, usable or encoder_formats)
        if plan is not None:
            return plan
        wanted = wanted.replace("yuva", "yuv", 1)  # the encoder cannot hold alpha
    if pictures and encoder_formats and (encoded := _picture_format(wanted, encoder_formats)):
        return FramePlan(decoded=decoded, working=working, built=wanted, encoded=encoded,
                         full_range=full_range)
    if odd_size and encoder in EVEN_SIZE_ENCODERS:
        wanted = _full_chroma(wanted)
    if not encoder_formats or wanted in encoder_formats:
        return FramePlan(decoded=decoded, working=working, built=wanted, encoded=wanted,
                         full_range=full_range)
    same_depth = [f for f in encoder_formats if _PLANAR_YUV.match(f) and _bits(f) == _bits(wanted)]
    same_depth.sort(key=lambda f: _CHROMA_ORDER.get(_PLANAR_YUV.match(f).group(1), 9))
    if same_depth:
        return FramePlan(decoded=decoded, working=working, built=same_depth[0],
                         encoded=same_depth[0], full_range=full_range)
    return FramePlan(decoded=decoded, working=working, built=wanted,
                     encoded=_nearest_depth(wanted, encoder_formats), full_range=full_range)


def _picture_format(wanted: str, encoder_formats: list[str]) -> str | None:
    """A picture file's format: the shallowest R'G'B' at least as deep as ``wanted`` (else
    the deepest), as viewers and grading tools read pictures; JPEG's full-range Y'CbCr where
    the encoder has no R'G'B'; None to plan as for video."""
    rgb = [f for f in encoder_formats if av.VideoFormat(f).is_rgb and not has_alpha(f)
           and len(av.VideoFormat(f).components) >= 3]
    if not rgb:
        return next((f for f in encoder_formats if _FULL_RANGE_YUV.match(f)), None)
    depth = _bits(wanted)
    return min(rgb, key=lambda f: (_bits(f) < depth, abs(_bits(f) - depth), "f" in f))


def _nearest_depth(wanted: str, encoder_formats: list[str]) -> str:
    """The encoder's Y'CbCr format that keeps most of ``wanted``'s depth: the deepest not
    deeper than it, else the shallowest (16-bit grey scans go to libx264 as 10-bit, not 8);
    the least subsampled chroma that suffices. Its first format if it has no planar Y'CbCr."""
    planar = [f for f in encoder_formats if _PLANAR_YUV.match(f) and not f.startswith("yuvj")]
    if not planar:
        return encoder_formats[0]
    depth = _bits(wanted)
    return min(planar, key=lambda f: (_bits(f) > depth, abs(_bits(f) - depth),
                                      _CHROMA_ORDER.get(_PLANAR_YUV.match(f).group(1), 9)))


def _alpha_plan(decoded: str, working: str, wanted: str,
                encoder_formats: list[str] | None) -> FramePlan | None:
    """Formats that keep alpha: built in the encoder's own Y'CbCrA format of the same depth
    where it has one (luma and alpha copied), else converted to its alpha format; None if
    the encoder has no format with alpha."""
    def plan(built: str, encoded: str) -> FramePlan:
        return FramePlan(decoded=decoded, working=working, built=built, encoded=encoded,
                         full_range=False, alpha=True)

    if not encoder_formats or wanted in encoder_formats:
        return plan(wanted, wanted)
    same = sorted((f for f in encoder_formats
                   if _PLANAR_YUVA.match(f) and _bits(f) == _bits(wanted)),
                  key=lambda f: _CHROMA_ORDER[_PLANAR_YUVA.match(f).group(1)])
    if same:
        return plan(same[0], same[0])
    with_alpha = [f for f in encoder_formats if has_alpha(f)]
    if not with_alpha:
        return None
    with_alpha.sort(key=lambda f: abs(_bits(f) - _bits(wanted)))
    return plan(wanted, with_alpha[0])


def plane_array(plane, dtype: np.dtype) -> np.ndarray:
    """A writable numpy view (height, width) of one plane, without the line padding."""
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // itemsize)
    return rows[:, : plane.width]


def plane_spec(frame: av.VideoFrame, plan: FramePlan) -> PlaneSpec:
    """The code-value meaning of ``frame``'s planes."""
    bits = frame.format.components[0].bits
    full = plan.full_range or frame.color_range == JPEG_RANGE
    return PlaneSpec.for_frame(bits=bits, full_range=full, colorspace=frame.colorspace,
                               height=frame.height)


def _copy_properties(src: av.VideoFrame, dst: av.VideoFrame, plan: FramePlan) -> None:
    dst.pts = src.pts
    dst.time_base = src.time_base
    dst.duration = src.duration
    dst.color_range = JPEG_RANGE if plan.full_range else src.color_range
    dst.colorspace = src.colorspace
    dst.color_primaries = src.color_primaries
    dst.color_trc = src.color_trc
    dst.opaque = src.opaque


def colorize_frame(frame: av.VideoFrame, ab: np.ndarray, plan: FramePlan,
                   planes: tuple[np.ndarray, np.ndarray] | None = None) -> av.VideoFrame:
    """The colorized frame: ``frame``'s luma plane, chroma made from the model's ab by
    :func:`color.chroma_planes`, or ``planes`` (Cb, Cr) made already (by the runner's frame
    graphs for a whole batch, from :func:`chroma_inputs`)."""
    spec = plane_spec(frame, plan)
    dtype = spec.dtype
    if frame.format.name == plan.built and not plan.full_range:
        out = frame
        out.make_writable()
    else:  # every plane is written below; an interlaced frame's new one is made by reformat,
        # which keeps its field flags (PyAV cannot set them): the encoder codes each frame's
        # fields in the order its flags say, and a frame without them would be bottom first
        out = (frame.reformat(format=plan.built) if frame.interlaced_frame
               else av.VideoFrame(frame.width, frame.height, plan.built))
        if out is frame:  # the same format (full range): reformat hands back the frame itself
            out.make_writable()
        plane_array(out.planes[0], dtype)[:] = plane_array(frame.planes[0], dtype)
        if plan.alpha:
            plane_array(out.planes[3], dtype)[:] = plane_array(frame.planes[3], dtype)
        _copy_properties(frame, out, plan)
    luma = plane_array(out.planes[0], dtype)
    chroma_shape = (out.planes[1].height, out.planes[1].width)
    own = plane_array(out.planes[1], dtype), plane_array(out.planes[2], dtype)
    if planes is None:
        chroma_planes(luma, ab, chroma_shape, spec, out=own)  # made in place
    else:
        own[0][:], own[1][:] = planes
    if plan.encoded != plan.built:
        out = out.reformat(format=plan.encoded)
    return out


def chroma_inputs(frames: list[av.VideoFrame], plan: FramePlan
                  ) -> list[tuple[np.ndarray, PlaneSpec, tuple[int, int]]]:
    """Each decoded frame's (luma plane, spec, chroma shape of ``plan.built``): what a batch's
    chroma is made from in one call (the runner's frame graphs)."""
    inputs = []
    for frame in frames:
        spec = plane_spec(frame, plan)
        chroma = av.VideoFormat(plan.built, frame.width, frame.height).components[1]
        inputs.append((plane_array(frame.planes[0], spec.dtype), spec,
                       (chroma.height, chroma.width)))
    return inputs

"""Stream-copy planning: what becomes of every input stream other than the colorized video.

    copy      the output container holds it: packets copied, bytes and timestamps unchanged
    convert   it does not, but a codec it holds is near: just that stream is re-encoded
              (audio -> Opus in WebM, AAC in MP4/MOV; text subtitles -> mov_text in MP4/MOV,
              WebVTT in WebM), each conversion announced in one note
    timecode  a QuickTime timecode track (``tmcd``): kept as the ``timecode`` tag of the video
              stream, from which the MOV/MP4 muxer re-creates the track, as FFmpeg does
    chapters  a QuickTime chapter track (the text track MP4/MOV files with chapters have; its
              demuxer reads it into the file's chapters and gives no packets): the chapters
              are copied with the container, and the MOV/MP4 muxer re-creates the track
    attach    cover art going to Matroska: stored as an attachment
    cover     cover art going to MP4: a picture stream whose one packet the muxer stores as
              the file's cover (``covr``); other containers keep no cover art (MOV drops it
              unasked, MPEG-TS would make it a data stream): left out with a note
    drop      neither copyable nor convertible, and the caller asked to leave such streams out

Whether a container holds a stream is asked of the muxer itself: a header is written in
memory with the output's video encoder and that stream. A stream that can be neither copied
nor converted is an :class:`IncompatibleStreamError` naming the stream and the options.
"""

from __future__ import annotations

import dataclasses
import io

import av

from ..errors import IncompatibleStreamError
from .transcode import add_converted_stream

__all__ = ["StreamAction", "StreamPlan", "elsewhere", "is_chapter_track", "is_timecode",
           "plan_streams", "remade", "stream_label"]

# The muxer that decides for an output format (None: cannot be tried in memory; copy all).
_TRIAL_FORMAT = {"hls": "mpegts", "rtsp": None, "rtp": None}
_AUDIO_TARGETS = {"webm": ("libopus",), "ogg": ("libopus", "flac"), "mp4": ("aac",),
                  "mov": ("aac",)}
_AUDIO_FALLBACK = ("aac", "libopus", "flac", "mp2", "ac3", "pcm_s16le")
_TEXT_TARGETS = {"webm": ("webvtt",), "mp4": ("mov_text",), "mov": ("mov_text",),
                 "matroska": ("ass", "subrip")}
_TEXT_FALLBACK = ("mov_text", "webvtt", "subrip", "ass", "text")
# Where cover art (a picture stream with the attached_pic disposition) is kept, and how.
_COVER_KINDS = {"matroska": "attach", "mp4": "cover"}
# Data that means something only where it came from: left out with a note, as FFmpeg's
# command line leaves data streams out unless asked.
_PLAYER_ONLY = {"dvd_nav_packet": "DVD navigation packets, which only a DVD player reads"}
# What a muxer takes but does not check: MPEG program streams carry DVD subtitles only.
_UNCHECKED = {fmt: {"subtitle": ("dvd_subtitle",)} for fmt in ("mpeg", "vob", "dvd", "svcd", "vcd")}


@dataclasses.dataclass(frozen=True, eq=False)
class StreamAction:
    """What happens to one input stream: ``kind`` is copy, convert (to ``codec``, at ``rate``
    for audio), timecode, chapters, attach, cover or drop."""

    template: object
    kind: str
    codec: str | None = None
    rate: int | None = None  # a converted audio stream's sample rate (None: the source's)


@dataclasses.dataclass(eq=False)
class StreamPlan:
    """Every copied stream's action, the notes to announce, and the timecode to keep."""

    actions: list[StreamAction]
    notes: list[str]
    timecode: str | None = None


def stream_label(template) -> str:
    """``audio stream #1 (ac3, language eng)`` for messages."""
    ctx = getattr(template, "codec_context", None)
    name = ctx.codec.canonical_name if ctx is not None and ctx.codec else None
    if not name or name == "none":  # a data stream has no decoder, but may have a codec name
        name = getattr(template, "name", None)
    if not name or name == "none":
        tag = getattr(template, "codec_tag", "") or ""
        name = tag.strip("\0 ") or "unknown codec"
    language = template.metadata.get("language")
    return f"{template.type} stream #{template.index} ({name}" + (
        f", language {language})" if language else ")")


def elsewhere(format_name: str, instead: str) -> str:
    """The advice for a stream an output cannot hold: write .mkv (unless the output is
    Matroska already) or ``instead``."""
    if "matroska" in format_name.split(","):
        return instead
    return f"write to .mkv, which holds most stream types, or {instead}"


def is_chapter_track(template) -> bool:
    """A QuickTime chapter track: a data stream its demuxer discards whole (FFmpeg's MOV
    demuxer reads it into the file's chapters)."""
    return template.type == "data" and getattr(template, "discard", None) == av.stream.Discard.all


def remade(template) -> bool:
    """A track the output's muxer makes again from what is copied otherwise (a tag, the
    chapters): its packets are not copied."""
    return is_timecode(template) or is_chapter_track(template)


def is_timecode(template) -> bool:
    """A QuickTime timecode track (``tmcd``), which the output keeps as a tag."""
    ctx = getattr(template, "codec_context", None)
    name = ctx.name if ctx is not None else None
    tag = getattr(template, "codec_tag", "") or ""
    return template.type == "data" and (tag == "tmcd" or (
        "timecode" in template.metadata and name in (None, "none", "unknown")))


def _is_text_subtitle(template) -> bool:
    ctx = template.codec_context
    try:
        return bool(ctx and av.codec.Codec(ctx.name, "r").text_sub)
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


class _Muxer:
    """Asks the real muxer, in memory, whether it takes a set of streams."""

    def __init__(self, format_name: str, video_codec: str) -> None:
        self.format = _TRIAL_FORMAT.get(format_name, format_name)
        self.video_codec = video_codec
        self._cache: dict = {}

    def takes(self, copies=(), converted=()) -> bool:
        """True if a header with the video, ``copies`` and ``converted`` (template, codec,
        rate) can be written."""
        pairs = [*((t, None) for t in copies), *((t, c) for t, c, _ in converted)]
        if any(not self._allowed(t, c) for t, c in pairs):
            return False
        if self.format is None or not self._video_fits():
            return True  # no trial possible: the real header will tell
        key = (tuple(_key(t) for t in copies), tuple((_key(t), c, r) for t, c, r in converted))
        if key not in self._cache:
            self._cache[key] = self._try(copies, converted)
        return self._cache[key]

    def _allowed(self, template, codec: str | None) -> bool:
        only = _UNCHECKED.get(self.format, {}).get(template.type)
        if only is None:
            return True
        ctx = template.codec_context
        name = codec or (ctx.codec.canonical_name if ctx is not None and ctx.codec else None)
        return name in only

    def _video_fits(self) -> bool:
        if "video" not in self._cache:
            self._cache["video"] = self._try((), ())
        return self._cache["video"]

    def _try(self, copies, converted) -> bool:
        try:
            container = av.open(io.BytesIO(), "w", format=self.format)
        except (ValueError, av.FFmpegError):
            return True  # nothing to ask: the real open will report the format
        try:
            video = container.add_stream(self.video_codec, rate=25)
            video.width, video.height = 64, 64
            for template in copies:
                container.add_stream_from_template(template)
            for template, codec, rate in converted:
                add_converted_stream(container, template, codec, rate)
            container.start_encoding()
            return True
        except (ValueError, av.FFmpegError):
            return False
        finally:
            try:
                container.close()
            except (ValueError, av.FFmpegError):
                pass  # an in-memory trial: nothing to keep


def _key(template) -> tuple:
    """What a muxer's answer depends on: codec, tag, and an audio stream's rate and channels."""
    ctx = getattr(template, "codec_context", None)
    return (template.type, ctx.name if ctx is not None else None,
            getattr(template, "codec_tag", None), getattr(ctx, "sample_rate", None),
            getattr(ctx, "channels", None))


def _targets(template, format_name: str) -> list[tuple[str, int | None]]:
    """(codec, rate) to try, nearest first; audio also at 48 kHz (e.g. MXF takes no other)."""
    if template.type == "audio":
        names = _AUDIO_TARGETS.get(format_name, ()) + _AUDIO_FALLBACK
        rates = (None, 48000)
    elif template.type == "subtitle" and _is_text_subtitle(template):
        names = _TEXT_TARGETS.get(format_name, ()) + _TEXT_FALLBACK
        rates = (None,)
    else:
        return []
    codecs = [n for n in dict.fromkeys(names) if _has_encoder(n)]
    return [(codec, rate) for rate in rates for codec in codecs]


def plan_streams(templates, *, format_name: str, video_codec: str, policy: str = "convert",
                 label: str = "the output", covers: frozenset[int] = frozenset()
                 ) -> StreamPlan:
    """Plan every stream of ``templates`` for an output in ``format_name`` whose video is
    encoded with ``video_codec``. ``covers``: indices of cover-art streams.
    ``policy`` is :attr:`EncodeConfig.incompatible` (convert, strict or drop)."""
    muxer = _Muxer(format_name, video_codec)
    plan = StreamPlan(actions=[], notes=[])
    plain = [t for t in templates if t.index not in covers and not remade(t)
             and getattr(t, "name", None) not in _PLAYER_ONLY]
    all_fit = muxer.takes(plain)
    cover = next((kind for name, kind in _COVER_KINDS.items()
                  if name in format_name.split(",")), None)
    for template in templates:
        if template.index in covers:
            if cover is None and policy == "strict":
                raise IncompatibleStreamError(
                    f"{label} keeps no cover art ({stream_label(template)}) and --copy-strict "
                    "forbids leaving it out; write to .mkv or .mp4, or leave out --copy-strict")
            if cover is None:
                plan.notes.append(f"{label} keeps no cover art: {stream_label(template)} is "
                                  "left out (.mkv and .mp4 keep it)")
            plan.actions.append(StreamAction(template, cover or "drop"))
        elif is_timecode(template):
            plan.timecode = plan.timecode or template.metadata.get("timecode")
            plan.actions.append(StreamAction(template, "timecode"))
        elif is_chapter_track(template):
            plan.actions.append(StreamAction(template, "chapters"))
        elif (what := _PLAYER_ONLY.get(getattr(template, "name", None) or "")) is not None:
            plan.notes.append(f"{stream_label(template)} holds {what}: left out")
            plan.actions.append(StreamAction(template, "drop"))
        elif all_fit or muxer.takes([template]):
            plan.actions.append(StreamAction(template, "copy"))
        elif _unknown(template):
            plan.notes.append(f"{stream_label(template)} has no codec FFmpeg knows (a damaged "
                              "header?): left out")
            plan.actions.append(StreamAction(template, "drop"))
        else:
            plan.actions.append(_instead(template, muxer, format_name, policy, label, plan))
    return plan


def _unknown(template) -> bool:
    """A stream of no codec FFmpeg knows, that no tag names (a damaged header): no muxer
    takes it, and FFmpeg leaves it out."""
    ctx = getattr(template, "codec_context", None)
    codec = getattr(ctx, "codec", None) if ctx is not None else None
    name = getattr(template, "name", None) or (codec.canonical_name if codec else None)
    tag = (getattr(template, "codec_tag", "") or "").strip("\0 ")
    return (not name or name == "none") and not tag


def _undeclared(template) -> bool:
    """An audio stream whose header says neither its sample rate nor its channels."""
    ctx = getattr(template, "codec_context", None)
    return template.type == "audio" and ctx is not None and not (
        getattr(ctx, "sample_rate", 0) and getattr(ctx, "channels", 0))


def _instead(template, muxer: _Muxer, format_name: str, policy: str, label: str,
             plan: StreamPlan) -> StreamAction:
    """The action for a stream the container cannot hold as it is."""
    what = stream_label(template)
    target, rate = next(((c, r) for c, r in _targets(template, format_name)
                         if muxer.takes(converted=[(template, c, r)])), (None, None))
    if policy == "strict":
        instead = f"it could be converted to {target}; " if target else ""
        raise IncompatibleStreamError(
            f"{label} cannot hold {what} and --copy-strict forbids converting it ({instead}"
            f"{elsewhere(format_name, 'leave out --copy-strict')})")
    if not target and _undeclared(template):
        plan.notes.append(f"{what} declares no sample rate or channels (damaged, or cut "
                          "before its first packet): left out")
        return StreamAction(template, "drop")
    if target:
        at = f" at {rate} Hz" if rate else ""
        plan.notes.append(f"{label} cannot hold {what}: converting it to {target}{at}")
        return StreamAction(template, "convert", target, rate)
    if policy == "drop":
        plan.notes.append(f"{label} cannot hold {what}, and it cannot be converted: left out "
                          "(--drop-incompatible)")
        return StreamAction(template, "drop")
    raise IncompatibleStreamError(
        f"{label} cannot hold {what}, and streamcolor cannot convert it to a codec "
        f"{label} holds; "
        f"{elsewhere(format_name, 'pass --drop-incompatible to leave that stream out')}")

"""Sinks: where colorized frames go. A file sink encodes the video (with the encoder its
container holds, :mod:`streamcolor.media.encoders`) and copies the rest, or converts what the
container cannot hold (:mod:`streamcolor.media.streamplan`).

The file is written under a temporary name beside the target and renamed on success, so
an interrupted or failed run leaves the previous file (or nothing) in place, never a
half-written one. The header is written before the first frame so that a container that
cannot hold a copied stream is reported before any work is done.
"""

from __future__ import annotations

import mimetypes
import os
import pathlib
import time
from fractions import Fraction

import av

from ..config import EncodeConfig
from ..errors import EncoderError, IncompatibleStreamError, OutputError, describe
from ..redact import redact
from .atomic import PictureDraft, temporary_beside
from .copycheck import unwritable_streams
from .copytimes import CopyTimes
from .encoders import (
    FrameGrid,
    choose_encoder,
    encoder_options,
    grid_rate,
    interlace_note,
    video_encoder,
)
from .frames import FramePlan, has_alpha, plan_formats
from .sequences import is_pattern, picture_encoder
from .sources import FileSource
from .streamplan import elsewhere, plan_streams, remade, stream_label
from .transcode import add_converted_stream

__all__ = ["FileSink", "check_output_path"]

_PICTURE_TYPES = {"mjpeg": "image/jpeg", "png": "image/png", "bmp": "image/bmp",
                  "webp": "image/webp", "gif": "image/gif"}
_STALE_TAGS = ("encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "_statistics")


def check_output_path(output: pathlib.Path, inputs: list[pathlib.Path] = ()) -> None:
    """Raise :class:`OutputError` if ``output`` cannot be written or would overwrite an input."""
    for path in inputs:
        if path.exists() and output.resolve() == path.resolve():
            raise OutputError(f"output {output} is the input file; choose another output path")
    parent = output.parent if str(output.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {output}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {output}: folder {parent} is not writable")
    if output.is_dir():
        raise OutputError(f"cannot write {output}: it is a directory")


def _fresh_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags minus the ones that describe the old encoding (the muxer writes new ones)."""
    return {k: v for k, v in tags.items() if not k.lower().startswith(_STALE_TAGS)}


_VARIABLE_FPS = 0x0400  # AVFMT_VARIABLE_FPS: the muxer times each frame (MPEG-PS does not)


class FileSink:
    """Encodes colorized frames into ``path`` and copies every other stream of ``source``."""

    def __init__(self, path: str | os.PathLike, source: FileSource, encode: EncodeConfig, *,
                 format: str | None = None, options: dict[str, str] | None = None,
                 add_streams=None) -> None:
        """Open ``path`` for writing. A URL (``format`` given, e.g. ``flv`` for RTMP) is written
        in place as a stream; a file is written to a temporary name and renamed by commit().
        ``add_streams(container)``, if given, adds more streams before the header is written."""
        self.url = str(path) if format else None
        self.seconds = {"encode": 0.0, "mux": 0.0}  # busy time, for benchmarks
        self.copy_times = CopyTimes()  # copied packets' times repaired or dropped
        self.path = pathlib.Path(path)
        if self.url is None:
            check_output_path(self.path, source.input_paths)
        self.draft = self.tmp = None
        if self.url is None and is_pattern(self.path):  # numbered pictures: a hidden folder
            self.draft = PictureDraft(self.path)
            self.tmp = self.draft.path
        elif self.url is None:
            self.tmp = temporary_beside(self.path)
        self.container = self._open(format, options)
        try:
            self.codec = (encode.codec or picture_encoder(self.path) if self.draft else
                          choose_encoder(encode, self.container.format.name,
                                         self.container.default_video_codec))
            self.notes: list[str] = list(getattr(source, "notes", []))
            self.plan: FramePlan = self._plan_frames(source.info, video_encoder(self.codec))
            self._streams, self._converters = {}, {}
            self.video = self._add_video(source, encode)
            self._add_copies(source, encode.incompatible)
            self._copy_container_tags(source)
            if add_streams is not None:
                add_streams(self.container)
            self._start()
        except BaseException:
            self.abort()
            raise

    def _plan_frames(self, info, codec: av.codec.Codec) -> FramePlan:
        formats = [f.name for f in codec.video_formats or ()]
        odd = bool(info.width % 2 or info.height % 2)
        plan = plan_formats(info.pix_fmt, formats or None, odd_size=odd, encoder=self.codec,
                            color_range=info.color_range, pictures=self.draft is not None)
        if has_alpha(plan.working) and not plan.alpha:
            self.notes.append(f"{self.codec} cannot hold alpha: the input's alpha channel is "
                              "dropped (keep it with --codec libvpx-vp9 in .webm, prores_ks or "
                              "qtrle in .mov, ffv1 in .mkv)")
        if odd and plan.encoded.startswith("yuv444") and not info.pix_fmt.startswith("yuv444"):
            self.notes.append(f"{self.codec} needs even sizes for subsampled chroma; "
                              f"{info.width}x{info.height} is encoded as {plan.encoded}")
        return plan

    def _open(self, format: str | None, options: dict[str, str] | None):
        try:
            if self.url:
                return av.open(self.url, "w", format=format, options=options or {}, timeout=10)
            return av.open(str(self.tmp), "w", format="image2" if self.draft else None)
        except av.error.ProtocolNotFoundError as error:
            raise OutputError(f"this FFmpeg (the one inside PyAV) cannot write {self.url}: "
                              "it has no such protocol; use rtsp, rtmp, udp or tcp") from error
        except (ValueError, av.FFmpegError) as error:
            self._discard()
            raise OutputError(
                redact(f"cannot write {self.url or self.path}: {describe(error)}")
                + ("" if self.url else f" (is {self.path.suffix!r} a container FFmpeg can "
                   "write? e.g. .mkv, .mp4, .mov)")
            ) from error

    def _add_video(self, source: FileSource, encode: EncodeConfig):
        info = source.info
        try:
            stream = self.container.add_stream(self.codec, rate=info.rate)
        except (ValueError, av.FFmpegError) as error:
            raise EncoderError(f"cannot use encoder {self.codec!r}: {describe(error)}") from error
        stream.codec_context.options = self._video_options = _checked_options(
            stream, self.codec,
            encoder_options(self.codec, encode, info.rate, interlaced=info.interlaced), encode)
        if note := interlace_note(self.codec, encode, info.interlaced):
            self.notes.append(note)
        if encode.threads is not None and "threads" not in dict(encode.options):
            stream.codec_context.thread_count = encode.threads  # the run's thread plan
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = self.plan.encoded
        stream.time_base = stream.codec_context.time_base = info.time_base
        self._standard_rate(stream, info)
        if encode.bitrate:
            stream.bit_rate = encode.bitrate
        ctx = stream.codec_context
        if info.sample_aspect_ratio:
            ctx.sample_aspect_ratio = info.sample_aspect_ratio
        ctx.color_range = 2 if self.plan.full_range else info.color_range
        ctx.colorspace, ctx.color_primaries = info.colorspace, info.color_primaries
        ctx.color_trc = info.color_trc
        if info.field_order:
            ctx.field_order = info.field_order
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        # alpha_mode is the muxer's to write, from the encoded picture (it may have lost alpha)
        tags = {k: v for k, v in _fresh_tags(info.metadata).items() if k.lower() != "alpha_mode"}
        stream.metadata.update(tags)
        stream.disposition = info.disposition
        return stream

    def _standard_rate(self, stream, info) -> None:
        """MPEG-1/2 encoders take only standard frame rates: frames go on the grid of one."""
        wanted = Fraction(info.rate or 25)
        rate = grid_rate(self.codec, wanted, label=self._label(),
                         times_each_frame=bool(self.container.format.flags & _VARIABLE_FPS))
        self.grid = FrameGrid(rate)
        if rate is None:
            return
        stream.codec_context.framerate = rate
        stream.codec_context.time_base = 1 / rate
        if rate != wanted:
            self.notes.append(f"{self.codec} takes only standard frame rates: the {float(wanted):g}"
                              f" fps frames are timed on a {float(rate):g} fps grid")

    def _add_copies(self, source: FileSource, policy: str) -> None:
        self._as_attachments: set[int] = set()
        self._covers: dict = {}  # output stream -> the picture's bytes
        if self.draft is not None:
            if source.copied:
                kinds = ", ".join(sorted({s.type for s in source.copied}))
                self.notes.append(f"pictures hold no {kinds}: {len(source.copied)} stream(s) "
                                  "of the input are left out")
            return
        plan = plan_streams(self._writable(source), format_name=self.container.format.name,
                            video_codec=self.codec, policy=policy, label=self._label(),
                            covers=frozenset(source.attached_pictures))
        self.notes.extend(plan.notes)
        if plan.timecode and "timecode" not in self.video.metadata:
            self.video.metadata["timecode"] = plan.timecode
        for action in plan.actions:
            template = action.template
            if action.kind == "attach":
                self._attach_picture(template, source.attached_pictures[template.index])
            elif action.kind == "cover":  # its one packet goes in after the header
                self._covers[self._add_copy(template)] = source.attached_pictures[template.index]
            elif action.kind == "copy":
                self._streams[template.index] = self._add_copy(template)
            elif action.kind == "convert":
                stream, converter = add_converted_stream(self.container, template,
                                                         action.codec, action.rate)
                self._describe_like(stream, template)
                self._streams[template.index] = stream
                self._converters[template.index] = converter

    def _writable(self, source) -> list:
        """The streams to copy, less those whose first packets the muxer refuses (damaged
        data: see :mod:`.copycheck`), each left out with a note."""
        streams = [s for s in source.copied
                   if s.index not in source.attached_pictures and not remade(s)]
        if self.url or not streams or not hasattr(source, "path"):
            return source.copied
        refused = unwritable_streams(source.path, [s.index for s in streams],
                                     self.container.format.name)
        for stream in streams:
            if stream.index in refused:
                self.notes.append(f"{self._label()} cannot take the packets of "
                                  f"{stream_label(stream)} ({refused[stream.index]}; damaged "
                                  "data?): left out")
        return [s for s in source.copied if s.index not in refused]

    def _add_copy(self, template):
        try:
            stream = self.container.add_stream_from_template(template)
        except (ValueError, av.FFmpegError) as error:
            raise IncompatibleStreamError(self._incompatible(template, error)) from error
        self._describe_like(stream, template)
        return stream

    @staticmethod
    def _describe_like(stream, template) -> None:
        stream.metadata.update(_fresh_tags(dict(template.metadata)))
        stream.disposition = template.disposition

    def _label(self) -> str:
        if self.url:
            return self.container.format.name.upper()
        return self.path.suffix or self.container.format.name

    def _attach_picture(self, template, data: bytes) -> None:
        """Matroska keeps cover art as an attachment (its demuxer shows it as a picture stream)."""
        tags = dict(template.metadata)
        codec = template.codec_context.name
        mimetype = tags.get("mimetype") or _PICTURE_TYPES.get(codec, "application/octet-stream")
        name = tags.get("filename") or f"cover{mimetypes.guess_extension(mimetype) or ''}"
        self.container.add_attachment(name, mimetype, data)
        self._as_attachments.add(template.index)

    def _copy_container_tags(self, source: FileSource) -> None:
        self.container.metadata.update(_fresh_tags(source.container_metadata))
        chapters = source.chapters
        if chapters:
            self.container.set_chapters(chapters)

    def _start(self) -> None:
        try:
            self.container.start_encoding()
            for stream, picture in self._covers.items():
                packet = av.Packet(picture)
                packet.stream = stream
                self.container.mux(packet)
        except (ValueError, av.FFmpegError) as error:
            # every copied stream was tried with the muxer when planned: the encoder failed;
            # FFmpeg rarely says which setting it refused, so name the ones it was given
            given = ", ".join(f"{k}={v}" for k, v in self._video_options.items())
            raise EncoderError(
                f"cannot start writing {redact(self.url or self.path)}: {_reason(error)} "
                f"({self.codec} with {given or 'no options'}: check --codec, --preset, "
                "--encoder-option and the output container)"
            ) from error

    def _incompatible(self, template, error: BaseException) -> str:
        advice = elsewhere(self.container.format.name,
                           "pass --drop-incompatible to leave it out")
        return f"{self._label()} cannot hold {stream_label(template)}: {describe(error)}; {advice}"

    @property
    def codecs(self) -> list[str]:
        """The video encoder this output uses (a list, like :class:`TeeSink`'s)."""
        return [self.codec]

    def write(self, frame: av.VideoFrame | None) -> None:
        """Encode one colorized frame (None flushes the encoder)."""
        started = time.perf_counter()
        with self.grid.placed(frame):
            packets = self.video.encode(frame)
        encoded = time.perf_counter()
        self.container.mux(packets)
        self.seconds["encode"] += encoded - started
        self.seconds["mux"] += time.perf_counter() - encoded

    def copy(self, packet: av.Packet) -> None:
        """Copy one packet of a passed-through stream, bytes and timestamps unchanged."""
        index = packet.stream_index
        if index not in self._streams:
            return  # an attachment (written in the header), a timecode track or left out
        started = time.perf_counter()
        stream = self._streams[index]
        at = packet.pts if packet.pts is not None else packet.dts
        at = float(at * packet.time_base) if at is not None and packet.time_base else None
        try:
            if index in self._converters:
                self.container.mux(self._converters[index].convert(packet))
            elif self.copy_times.fit(packet, stream):
                packet = self.copy_times.plain(packet, stream)
                packet.stream = stream
                self.container.mux(packet)
        except av.FFmpegError as error:
            self.copy_times.refused(error, stream_label(stream), at, self._label())
        self.seconds["mux"] += time.perf_counter() - started

    def finish(self) -> None:
        """Flush the encoder and close the temporary file (the encode stage's last work)."""
        self.write(None)
        try:
            for converter in self._converters.values():
                self.container.mux(converter.flush())
            self.container.close()
        except av.FFmpegError as error:
            raise OutputError(f"cannot finish writing {redact(self.url or self.path)}: "
                              f"{_reason(error)}") from error

    def commit(self) -> None:
        """Move the finished file (or pictures) into place: the run's last step, after every
        stage ended."""
        if self.draft is not None:
            self.draft.commit()
        elif self.tmp is not None:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the partial file; the target path is left as it was."""
        try:
            self.container.close()
        except Exception:  # the file is being thrown away; its close errors do not matter
            pass
        self._discard()

    def _discard(self) -> None:
        if self.draft is not None:
            self.draft.abort()
        elif self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _reason(error: BaseException) -> str:
    """FFmpeg's own last log line where the error carries one (it says more than
    'Invalid argument'), else the error's description."""
    _, found, log = str(error).partition("last error log: ")
    return log.strip().splitlines()[0] if found and log.strip() else describe(error)


def _checked_options(stream, codec: str, options: dict[str, str],
                     encode: EncodeConfig) -> dict[str, str]:
    supported = stream.codec_context.supported_options
    names = {option.name for option in (*supported.generic, *supported.private)}
    own = {key for key, _ in encode.options}
    if "crf" in options and "crf" not in names and encode.crf is None and "crf" not in own:
        del options["crf"]  # our default CRF, for an encoder that has none
    unknown = sorted(set(options) - names)
    if unknown:
        raise EncoderError(
            f"encoder {codec!r} has no option {', '.join(map(repr, unknown))}; see "
            f"`ffmpeg -hide_banner -h encoder={codec}`"
        )
    return options

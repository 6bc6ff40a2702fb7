"""Sources: where frames come from. A file source demuxes every stream in one pass.

``FileSource.items()`` yields, in demux order, the decoded frames of the colorized video
stream (in their working pixel format, see :mod:`streamcolor.media.frames`) and the packets of
every other stream, untouched, for the sink to copy.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterator
from fractions import Fraction

import av

from ..errors import (
    DecodeError,
    InputError,
    InputNotFoundError,
    NotMediaError,
    NoVideoStreamError,
    describe,
    format_time,
)
from .damage import DamageLog
from .decoders import video_decoder
from .demux import packets
from .frames import to_working, working_format
from .hwaccel import check_decoder, decode_options, no_stream_message
from .sequences import find_sequence, is_sequence
from .streamplan import stream_label

__all__ = ["FileSource", "VideoInfo", "open_input", "format_time"]

_RGB_MATRIX = 0  # AVCOL_SPC_RGB
_FIELD_ORDERS = (2, 3, 4, 5)  # AV_FIELD_TT, BB, TB, BT: a stream coded as fields
_TRUNCATION_TOLERANCE = 1.0  # seconds of declared duration allowed to be missing at the end


def open_input(path: str | os.PathLike, *, sequence_rate: Fraction | None = None,
               **options) -> av.container.InputContainer:
    """Open a media file, or an image sequence (``scan_%06d.dpx``, timed at ``sequence_rate``,
    see :mod:`.sequences`), for reading; or raise an :class:`InputError` that says why not."""
    path = pathlib.Path(path)
    if is_sequence(path):
        sequence = find_sequence(path)
        options = {**options, "format": "image2",
                   "options": {**options.get("options", {}), **sequence.options(sequence_rate)}}
    elif not path.exists():
        raise InputNotFoundError(f"input not found: {path}")
    elif path.is_dir():
        raise InputError(f"input is a directory, not a media file: {path}")
    try:
        return av.open(str(path), metadata_errors="replace", **options)
    except av.error.PermissionError as error:
        raise InputError(f"cannot read {path}: permission denied") from error
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise NotMediaError(
            f"{path} is not a media file FFmpeg can read, or it is truncated ({describe(error)})"
        ) from error
    except RuntimeError as error:  # PyAV: hwaccel without software fallback, no GPU stream
        if options.get("hwaccel") is None:
            raise
        raise InputError(no_stream_message(path)) from error



@dataclasses.dataclass(frozen=True, kw_only=True)
class VideoInfo:
    """What a sink needs to know of the colorized stream (size and format from its first
    frame; timing, colour tags and the rest from the stream)."""

    width: int
    height: int
    pix_fmt: str
    rotation: int = 0
    frames: int | None = None
    duration: float | None = None
    time_base: Fraction = Fraction(1, 1000)
    rate: Fraction | None = None
    sample_aspect_ratio: Fraction | None = None
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    field_order: int | None = None
    interlaced: bool = False
    metadata: dict = dataclasses.field(default_factory=dict)
    disposition: int = 0

    @classmethod
    def from_stream(cls, stream, first: av.VideoFrame, **more) -> VideoInfo:
        """The info of ``stream`` whose first decoded frame is ``first``."""
        ctx = stream.codec_context
        colorspace = ctx.colorspace
        if first.format.is_rgb and colorspace == _RGB_MATRIX:
            colorspace = 2  # frames are made Y'CbCr (swscale's BT.601): no longer an RGB matrix
        return cls(width=first.width, height=first.height, pix_fmt=first.format.name,
                   rotation=int(first.rotation or 0), time_base=stream.time_base,
                   rate=stream.guessed_rate or stream.average_rate,
                   sample_aspect_ratio=stream.sample_aspect_ratio or None,
                   color_range=ctx.color_range, colorspace=colorspace,
                   color_primaries=ctx.color_primaries, color_trc=ctx.color_trc,
                   field_order=ctx.field_order or None,
                   interlaced=ctx.field_order in _FIELD_ORDERS or bool(first.interlaced_frame),
                   metadata=dict(stream.metadata),
                   disposition=int(stream.disposition), **more)


def _pick_video(container) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise NoVideoStreamError(f"{container.name} has no video stream to colorize")


def _first_frame(container, stream) -> av.VideoFrame | None:
    """The first frame that decodes; damaged packets before it are left to the real pass."""
    decoder = video_decoder(stream)
    for packet in packets(container, stream, on_error=lambda error: None):
        try:
            frames = decoder.decode(packet) if decoder else packet.decode()
        except av.FFmpegError:
            continue
        if frames:
            return frames[0]
    try:  # a decoder that holds frames back (threads, reordering) gives them at the end
        frames = (decoder or stream.codec_context).decode(None)
    except av.FFmpegError:
        return None
    return frames[0] if frames else None


class FileSource:
    """A media file: one video stream decoded, every other stream passed on as packets."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        start: float | None = None,
        duration: float | None = None,
        on_decode_error: str = "skip",
        hwaccel: str = "none",
        sequence_rate: Fraction | None = None,
    ) -> None:
        """``on_decode_error``: skip damaged data, warn and count it in ``decode_errors``
        (as FFmpeg reads what can be read), or stop at the first damaged place with a
        :class:`DecodeError`. ``hwaccel``: decode on the GPU (auto, cuda) or not (none); see
        :mod:`.hwaccel`. ``sequence_rate``: the rate an image sequence is timed at (24)."""
        if on_decode_error not in ("stop", "skip"):
            raise ValueError("on_decode_error must be 'stop' or 'skip'")
        if (start or 0) < 0 or (duration is not None and duration <= 0):
            raise InputError("--start must be >= 0 and --duration > 0")
        self.path = pathlib.Path(path)
        self.start = start or 0.0
        self.end = self.start + duration if duration else None
        self.on_decode_error = on_decode_error
        self.damage = DamageLog(self.path.name)
        self._opening = {"sequence_rate": sequence_rate}
        self.container = open_input(self.path, **self._opening, **decode_options(hwaccel))
        self.video = _pick_video(self.container)
        check_decoder(hwaccel, self.video)
        self.copied = [s for s in self.container.streams if s is not self.video]
        self.notes: list[str] = []
        self.pts_step: Fraction | None = None  # set when frames carry no timestamps
        self.info = self._probe()
        self.decoder = video_decoder(self.video)
        self.attached_pictures = self._attached_pictures()
        self.notes.extend(
            f"{stream_label(other)} is copied as it is: only stream #{self.video.index} is "
            "colorized"
            for other in self.copied
            if other.type == "video" and other.discard != av.stream.Discard.all
            and not other.disposition & av.stream.Disposition.attached_pic)
        self.video.thread_type = "AUTO"

    def _attached_pictures(self) -> dict[int, bytes]:
        """The picture of every cover-art stream, by stream index (read in a separate open)."""
        indices = [s.index for s in self.copied
                   if s.type == "video" and s.disposition & av.stream.Disposition.attached_pic]
        pictures = {}
        for index in indices:
            with open_input(self.path, **self._opening) as probe:
                packet = next((p for p in probe.demux(probe.streams[index]) if p.size), None)
                if packet is not None:
                    pictures[index] = bytes(packet)
        return pictures

    def _probe(self) -> VideoInfo:
        """Decode the first frame in a separate open: its format and rotation are authoritative."""
        with open_input(self.path, **self._opening) as probe:
            first = _first_frame(probe, probe.streams[self.video.index])
        if first is None:
            raise DecodeError(f"{self.path}: the video stream has no decodable frame")
        if first.pts is None:
            self._time_from_rate()
        declared = self._declared_duration()
        if declared is not None and self.start >= declared:
            raise InputError(f"--start {format_time(self.start)} is past the end of {self.path} "
                             f"({format_time(declared)})")
        seconds = min(declared or self.end or 0, self.end or declared or 0) - self.start
        seconds = seconds if seconds > 0 else None
        rate = self.video.guessed_rate or self.video.average_rate
        frames = int(seconds * rate) if seconds and rate else None
        if not (self.start or self.end) and self.video.frames:
            frames = self.video.frames
        if is_sequence(self.path):
            count = self._sequence_note(rate)
            frames = frames if self.start or self.end else count
        return VideoInfo.from_stream(self.video, first, frames=frames, duration=seconds)

    def _sequence_note(self, rate: Fraction) -> int:
        """Say what an image sequence holds and the rate it is timed at; its picture count."""
        sequence = find_sequence(self.path)
        self.notes.append(f"{self.path.name}: {sequence.count} pictures from number "
                          f"{sequence.first}, timed at {float(rate):g} fps (--input-rate)")
        return sequence.count

    def _time_from_rate(self) -> None:
        """An elementary stream (raw H.264/HEVC, MPEG-2...) carries no timestamps: the one
        case where frames are timed from the frame rate."""
        stream = self.video
        rate = stream.guessed_rate or stream.average_rate or stream.codec_context.framerate
        rate = Fraction(rate) if rate else Fraction(25)
        self.pts_step = 1 / (rate * stream.time_base)
        self.notes.append(f"{self.path.name} has no timestamps (a raw "
                          f"{stream.codec_context.name} stream): frames are timed at "
                          f"{float(rate):g} fps, its frame rate")

    @property
    def decode_errors(self) -> int:
        """Damaged places skipped so far."""
        return self.damage.count

    @property
    def input_paths(self) -> list[pathlib.Path]:
        """Files this source reads (an output must not be one of them)."""
        return [self.path]

    @property
    def container_metadata(self) -> dict[str, str]:
        return dict(self.container.metadata)

    @property
    def chapters(self) -> list[dict]:
        return self.container.chapters()

    def _declared_duration(self) -> float | None:
        if self.container.duration:
            return self.container.duration / av.time_base
        if self.video.duration and self.video.time_base:
            return float(self.video.duration * self.video.time_base)
        return None

    def items(self) -> Iterator[av.VideoFrame | av.Packet]:
        """Frames of the video stream and packets of the others, in demux order."""
        reader = _Reader(self)
        yield from reader.run()

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Reader:
    """One pass over the file: window (--start/--duration), decode errors, truncation."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.last_time: float | None = None
        self.frames = 0
        self.latest_end = 0.0
        self.video_done = False
        self.working = None
        self.next_pts = Fraction(0)
        self.last_pts: int | None = None

    def _fail(self, message: str, error: BaseException | None = None,
              position: float | None = None, stream=None) -> None:
        source = self.source
        position = self.last_time if position is None else position
        if source.on_decode_error == "stop":
            raise DecodeError(
                f"{message} in {source.path} at {format_time(position)}; "
                "--on-decode-error skip (the default) colorizes what can be read",
                position=position,
            ) from error
        stream = source.video if stream is None else stream
        label = "the file" if stream is False else f"stream #{stream.index} ({stream.type})"
        source.damage.note(message, label, position)

    def _shift(self, stream) -> int:
        if not self.source.start:
            return 0
        return int(round(Fraction(self.source.start) / stream.time_base))

    def _frames(self, packet) -> Iterator[av.VideoFrame]:
        decoder = self.source.decoder
        try:
            frames = decoder.decode(packet) if decoder else packet.decode()
        except av.FFmpegError as error:
            at = float(packet.pts * packet.time_base) if packet.pts is not None else None
            self._fail(f"undecodable video data ({describe(error)})", error, position=at)
            return
        for frame in frames:
            if frame.is_corrupt:
                at = float(frame.pts * frame.time_base) if frame.pts is not None else None
                self._fail("corrupt video frame", position=at)
            yield from self._window_frame(frame)

    def _window_frame(self, frame) -> Iterator[av.VideoFrame]:
        source = self.source
        if source.pts_step is not None:
            self._time(frame)
        if frame.pts is None:
            self._fail("video frame without a timestamp")
            return
        seconds = float(frame.pts * frame.time_base)
        if self.last_pts is not None and frame.pts <= self.last_pts:
            self._fail("video frame with a repeated or earlier timestamp", position=seconds)
            return
        if source.start and seconds < source.start:
            return
        if source.end is not None and seconds >= source.end:
            self.video_done = True
            return
        self.last_time = seconds
        self.last_pts = frame.pts
        if self.working is None:
            self.working = working_format(frame.format.name)
        if frame.format.name != self.working:
            rgb = frame.format.is_rgb
            frame = to_working(frame, self.working)
            if rgb and frame.colorspace == _RGB_MATRIX:
                frame.colorspace = 2
        if source.start:
            frame.pts -= self._shift(source.video)
        self.frames += 1
        yield frame

    def _time(self, frame) -> None:
        """Stream without timestamps: each frame one frame duration after the previous."""
        if frame.pts is None:
            frame.pts = int(round(self.next_pts))
            frame.time_base = self.source.video.time_base
        self.next_pts = max(self.next_pts, Fraction(frame.pts)) + self.source.pts_step

    def _window_packet(self, packet) -> av.Packet | None:
        source = self.source
        if packet.pts is None or not packet.size:
            return packet if packet.size else None
        seconds = float(packet.pts * packet.time_base)
        if (source.start and seconds < source.start) or (
            source.end is not None and seconds >= source.end
        ):
            return None
        if source.start:
            shift = self._shift(packet.stream)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        return packet

    def _note_end(self, packet) -> None:
        if packet.pts is not None and packet.time_base:
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            self.latest_end = max(self.latest_end, end)

    def _demux(self) -> Iterator[av.Packet]:
        source = self.source
        if source.start and source.pts_step is None:
            source.container.seek(int(source.start * av.time_base), backward=True)
        def unreadable(error: BaseException) -> None:
            self._fail(f"unreadable data from here on ({describe(error)})", error,
                       stream=False)

        yield from packets(source.container, on_error=unreadable)

    def run(self) -> Iterator[av.VideoFrame | av.Packet]:
        source = self.source
        for packet in self._demux():
            self._note_end(packet)
            if packet.stream is source.video:
                if not self.video_done:
                    yield from self._frames(packet)
            elif (kept := self._window_packet(packet)) is not None:
                yield kept
            if self.video_done and source.end is not None and self.latest_end > source.end + 1:
                break
        self._check_truncation()
        source.damage.close()
        if not self.frames:
            raise DecodeError(f"{source.path}: no video frame could be decoded in the requested "
                              "range", position=self.last_time)

    def _check_truncation(self) -> None:
        source = self.source
        declared = source._declared_duration()
        if source.end is not None or declared is None or source.pts_step is not None:
            return
        start = (source.container.start_time or 0) / av.time_base
        if self.latest_end + _TRUNCATION_TOLERANCE < start + declared:
            self._fail(
                f"the file ends at {format_time(self.latest_end)} but declares "
                f"{format_time(declared)}: it is truncated", position=self.latest_end,
                stream=False)

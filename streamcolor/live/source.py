"""Live sources: network streams, cameras and test sources, read in real time.

    rtsp://, rtsps://, rtmp://, srt://, udp://, tcp://, rtp://, http(s):// (HLS)   network
    /dev/video0, v4l2:/dev/video0, avfoundation:0, dshow:video=Name               cameras
    lavfi:testsrc2=size=1280x720:rate=25                                          test source

A :class:`LiveSource` stamps every frame with its arrival time (``frame.opaque``) and a
timestamp in milliseconds on the run's clock, strictly increasing: the source's own media
time shifted by one offset per connection, the offset taken from the wall clock (and taken
again if the two drift apart), so output timing follows the clock even across
reconnections. Its first audio stream, if any, comes as packets on the same clock, so sound
and picture stay as much in sync as the source had them. When the
source drops, it reconnects with exponential backoff until stopped; :meth:`LiveSource.stop`
ends it cleanly. URLs in its messages have their passwords redacted.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from urllib.parse import urlsplit

import av

from ..errors import InputError, describe
from ..media.frames import working_format
from ..media.sources import VideoInfo
from ..redact import redact

__all__ = ["SourceSpec", "parse_source", "LiveSource", "LIVE_SCHEMES"]

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "rtp", "http", "https")
_DEVICE = re.compile(r"^(v4l2|video4linux2|avfoundation|dshow|x11grab|gdigrab|lavfi):(.+)$")
MILLISECONDS = Fraction(1, 1000)
# FFmpeg reads this much of a stream to learn its parameters before the first frame is
# returned: it all arrives at once, a burst. RTSP describes its streams in the SDP, so a
# short probe suffices (FFmpeg's default, 5 s for frame-rate guessing, gave ~1 s bursts).
_RTSP_PROBE = {"analyzeduration": "100000"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """Where frames come from: ``kind`` is file, network, device or lavfi."""

    url: str
    kind: str
    format: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(text: str, *, rtsp_transport: str = "tcp") -> SourceSpec:
    """Read an INPUT argument: a file path, a URL, a camera, or ``lavfi:GRAPH``."""
    if match := _DEVICE.match(text):
        fmt, target = match.groups()
        fmt = "v4l2" if fmt == "video4linux2" else fmt
        return SourceSpec(url=target, kind="lavfi" if fmt == "lavfi" else "device", format=fmt)
    if text.startswith("/dev/video"):
        return SourceSpec(url=text, kind="device", format="v4l2")
    scheme = urlsplit(text).scheme.lower()
    if scheme in LIVE_SCHEMES:
        options = (("rtsp_transport", rtsp_transport),) if scheme.startswith("rtsp") else ()
        return SourceSpec(url=text, kind="network", options=options)
    return SourceSpec(url=text, kind="file")


class LiveSource:
    """A live video source: frames in real time, reconnecting when the source drops."""

    live = True

    def __init__(self, spec: SourceSpec, *, duration: float | None = None, reconnect: bool = True,
                 open_timeout: float = 10.0, read_timeout: float = 5.0,
                 max_backoff: float = 8.0) -> None:
        self.spec = spec
        self.duration = duration
        self.reconnect = reconnect and spec.kind == "network"
        self.timeouts = (open_timeout, read_timeout)
        self.max_backoff = max_backoff
        self.reconnects = 0
        self.decode_errors = 0
        self.copied: list = []
        self.attached_pictures: dict = {}
        self.container_metadata: dict = {}
        self.chapters: list = []
        self.input_paths: list = []
        self._stop = threading.Event()
        self.name = redact(spec.url)
        self._container = self._open()
        self.audio = self._container.streams.audio[0] if self._container.streams.audio else None
        self._pending = self._first_items()
        self.info = self._info(self._pending[-1])

    def _options(self) -> dict[str, str]:
        options = dict(self.spec.options)
        if self.spec.url.lower().startswith(("rtsp:", "rtsps:")):
            options = {**_RTSP_PROBE, **options}
        return options

    def _open(self):
        spec = self.spec
        try:
            return av.open(spec.url, format=spec.format, options=self._options(),
                           timeout=self.timeouts)
        except av.error.ProtocolNotFoundError as error:
            scheme = spec.url.split(":", 1)[0]
            raise InputError(f"this FFmpeg (the one inside PyAV) has no {scheme!r} protocol, so "
                             f"{self.name} cannot be read; relay it to rtsp/rtmp/udp first, or "
                             "install PyAV built against an FFmpeg that has it") from error
        except (av.FFmpegError, OSError) as error:
            raise InputError(redact(
                f"cannot open live source {self.name}: {describe(error)} (is it running and "
                "reachable? for RTSP try --rtsp-transport udp or tcp)")) from error

    def _first_items(self) -> list:
        """Audio packets up to the first video frame, and that frame (last)."""
        if not self._container.streams.video:
            raise InputError(f"live source {self.name} has no video stream")
        items = []
        for item in self._decode(self._container):
            items.append(item)
            if isinstance(item, av.VideoFrame):
                return items
        raise InputError(f"live source {self.name} ended before its first video frame")

    def _info(self, first: av.VideoFrame) -> VideoInfo:
        stream = self._container.streams.video[0]
        rate = stream.guessed_rate or stream.average_rate or Fraction(25)
        base = VideoInfo.from_stream(stream, first)
        return dataclasses.replace(base, time_base=MILLISECONDS, rate=rate, rotation=0,
                                   frames=int(self.duration * rate) if self.duration else None,
                                   duration=self.duration, metadata={})

    def _audio_of(self, container):
        """The connection's audio stream, if it carries what the outputs were opened for."""
        if self.audio is None or not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        same = stream.codec_context.name == self.audio.codec_context.name
        return stream if same else None

    def _decode(self, container) -> Iterator[av.VideoFrame | av.Packet]:
        """Decoded video frames and (untouched) audio packets, in arrival order."""
        stream = container.streams.video[0]
        audio = self._audio_of(container)
        for packet in container.demux(*(s for s in (stream, audio) if s is not None)):
            if packet.stream is not stream:
                if packet.pts is not None:
                    yield packet
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError:
                self.decode_errors += 1  # live data is lossy: count and go on
                continue
            yield from frames

    def stop(self) -> None:
        """End :meth:`items` at the next frame (Ctrl-C in live mode, --frames reached)."""
        self._stop.set()

    def items(self) -> Iterator[av.VideoFrame | av.Packet]:
        """Frames (and audio packets) stamped on the wall clock, until stopped or --duration."""
        clock = _Clock(self.duration, paced=self.spec.kind in ("file", "lavfi"))
        pending, self._pending = self._pending or [], None
        for item in pending:
            yield self._stamp(item, clock)
        while not self._stop.is_set():
            for item in self._frames():
                if self._stop.is_set() or clock.expired():
                    return
                yield self._stamp(item, clock)
            if not self.reconnect or self._stop.is_set() or not self._reopen():
                return
            clock.new_connection()

    def _frames(self) -> Iterator[av.VideoFrame | av.Packet]:
        try:
            yield from self._decode(self._container)
        except (av.FFmpegError, OSError):
            return  # the source dropped: items() reconnects

    def _reopen(self) -> bool:
        """Reconnect with exponential backoff until it works or the source is stopped."""
        self._container.close()
        delay = 0.25
        while not self._stop.wait(delay):
            try:
                self._container = av.open(self.spec.url, format=self.spec.format,
                                          options=self._options(), timeout=self.timeouts)
            except (av.FFmpegError, OSError):
                delay = min(delay * 2, self.max_backoff)
                continue
            self.reconnects += 1
            return True
        return False

    def _stamp(self, item, clock: _Clock):
        if isinstance(item, av.Packet):
            return _stamp_packet(item, clock)
        return self._stamp_frame(item, clock)

    def _stamp_frame(self, frame: av.VideoFrame, clock: _Clock) -> av.VideoFrame:
        info = self.info
        if (frame.width, frame.height) != (info.width, info.height):
            frame = frame.reformat(width=info.width, height=info.height, format=info.pix_fmt)
        working = working_format(frame.format.name)
        if frame.format.name != working:
            frame = frame.reformat(format=working)
        clock.pace(frame)
        frame.pts, frame.time_base = clock.video_pts(frame.time), MILLISECONDS
        frame.opaque = time.perf_counter()
        return frame

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stamp_packet(packet: av.Packet, clock: _Clock) -> av.Packet:
    """An audio packet on the output clock (ms), its duration kept."""
    base = packet.time_base
    duration = round(packet.duration * base * 1000) if packet.duration else 0
    packet.pts = packet.dts = clock.audio_pts(float(packet.pts * base), duration)
    packet.time_base, packet.duration = MILLISECONDS, duration
    return packet


class _Clock:
    """Output timestamps (ms since the run started) for the items of a live source.

    Each connection's media time is shifted by one offset, fixed by its first item, so audio
    and video keep the source's own spacing and sync (a burst of buffered frames keeps its
    frame spacing instead of piling onto one instant). Video pts only increase, audio pts
    never go back. If a frame's shifted time leaves the wall clock by more than the resync limits
    (a stall, a jump in the source's clock) the offset is set again from the wall clock.
    Optionally paces sources that would otherwise run as fast as they decode (files forced
    live, lavfi graphs).
    """

    RESYNC_BEHIND_MS = 1000
    RESYNC_AHEAD_MS = 3000

    def __init__(self, duration: float | None, *, paced: bool) -> None:
        self.start = time.monotonic()
        self.duration = duration
        self.paced = paced
        self.offset: int | None = None
        self.last_video = -1
        self.audio_end = 0
        self.first_media_time: float | None = None

    def expired(self) -> bool:
        return self.duration is not None and time.monotonic() - self.start >= self.duration

    def new_connection(self) -> None:
        """A reconnection starts a new media timeline: the next item sets a new offset."""
        self.offset = None
        self.first_media_time = None

    def pace(self, frame: av.VideoFrame) -> None:
        if not self.paced or frame.time is None:
            return
        if self.first_media_time is None:
            self.first_media_time = frame.time
        ahead = (frame.time - self.first_media_time) - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)

    def _now(self) -> int:
        return int((time.monotonic() - self.start) * 1000)

    def _shifted(self, seconds: float | None, *, may_resync: bool) -> int:
        now = self._now()
        if seconds is None:
            return now
        media = round(seconds * 1000)
        if self.offset is not None:
            drift = media + self.offset - now
            if not may_resync or -self.RESYNC_BEHIND_MS <= drift <= self.RESYNC_AHEAD_MS:
                return media + self.offset
        self.offset = max(now, self.last_video + 1, self.audio_end) - media
        return media + self.offset

    def video_pts(self, seconds: float | None) -> int:
        """The pts of a video frame whose media time is ``seconds`` (None: unknown)."""
        self.last_video = max(self._shifted(seconds, may_resync=True), self.last_video + 1)
        return self.last_video

    def audio_pts(self, seconds: float | None, duration: int) -> int:
        """The pts of an audio packet of ``duration`` ms at media time ``seconds``; only video
        moves the offset once it is set (the two would otherwise pull it back and forth)."""
        pts = max(self._shifted(seconds, may_resync=False), self.audio_end)
        self.audio_end = pts + duration
        return pts

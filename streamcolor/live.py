"""Live sources: network streams, cameras and test sources, read in real time.

    rtsp://, rtsps://, rtmp://, srt://, udp://, tcp://, rtp://, http(s):// (HLS)   network
    /dev/video0, v4l2:/dev/video0, avfoundation:0, dshow:video=Name               cameras
    lavfi:testsrc2=size=1280x720:rate=25                                          test source

A :class:`LiveSource` stamps every frame with its arrival time (``frame.opaque``) and a
wall-clock timestamp (milliseconds since the first frame, strictly increasing), so output
timing follows the clock even across reconnections. When the source drops, it reconnects
with exponential backoff until stopped; :meth:`LiveSource.stop` ends it cleanly.
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

from .errors import InputError, describe
from .frames import working_format
from .sources import VideoInfo

__all__ = ["SourceSpec", "parse_source", "LiveSource", "LIVE_SCHEMES"]

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "rtp", "http", "https")
_DEVICE = re.compile(r"^(v4l2|video4linux2|avfoundation|dshow|x11grab|gdigrab|lavfi):(.+)$")
MILLISECONDS = Fraction(1, 1000)


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
        self._container = self._open()
        self._pending = self._first_frame()
        self.info = self._info(self._pending)

    def _open(self):
        spec = self.spec
        try:
            return av.open(spec.url, format=spec.format, options=dict(spec.options),
                           timeout=self.timeouts)
        except av.error.ProtocolNotFoundError as error:
            scheme = spec.url.split(":", 1)[0]
            raise InputError(f"this FFmpeg (the one inside PyAV) has no {scheme!r} protocol, so "
                             f"{spec.url} cannot be read; relay it to rtsp/rtmp/udp first, or "
                             "install PyAV built against an FFmpeg that has it") from error
        except (av.FFmpegError, OSError) as error:
            raise InputError(f"cannot open live source {spec.url}: {describe(error)} (is it "
                             "running and reachable? for RTSP try --rtsp-transport udp or "
                             "tcp)") from error

    def _first_frame(self) -> av.VideoFrame:
        if not self._container.streams.video:
            raise InputError(f"live source {self.spec.url} has no video stream")
        for frame in self._decode(self._container):
            return frame
        raise InputError(f"live source {self.spec.url} ended before its first video frame")

    def _info(self, first: av.VideoFrame) -> VideoInfo:
        stream = self._container.streams.video[0]
        rate = stream.guessed_rate or stream.average_rate or Fraction(25)
        base = VideoInfo.from_stream(stream, first)
        return dataclasses.replace(base, time_base=MILLISECONDS, rate=rate, rotation=0,
                                   frames=int(self.duration * rate) if self.duration else None,
                                   duration=self.duration, metadata={})

    def _decode(self, container) -> Iterator[av.VideoFrame]:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                self.decode_errors += 1  # live data is lossy: count and go on
                continue
            yield from frames

    def stop(self) -> None:
        """End :meth:`items` at the next frame (Ctrl-C in live mode, --frames reached)."""
        self._stop.set()

    def items(self) -> Iterator[av.VideoFrame]:
        """Frames stamped with arrival time and wall-clock pts, until stopped or --duration."""
        clock = _Clock(self.duration, paced=self.spec.kind in ("file", "lavfi"))
        if self._pending is not None:
            first, self._pending = self._pending, None
            yield self._stamp(first, clock)
        while not self._stop.is_set():
            for frame in self._frames():
                if self._stop.is_set() or clock.expired():
                    return
                yield self._stamp(frame, clock)
            if not self.reconnect or self._stop.is_set() or not self._reopen():
                return

    def _frames(self) -> Iterator[av.VideoFrame]:
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
                                          options=dict(self.spec.options),
                                          timeout=self.timeouts)
            except (av.FFmpegError, OSError):
                delay = min(delay * 2, self.max_backoff)
                continue
            self.reconnects += 1
            return True
        return False

    def _stamp(self, frame: av.VideoFrame, clock: _Clock) -> av.VideoFrame:
        info = self.info
        if (frame.width, frame.height) != (info.width, info.height):
            frame = frame.reformat(width=info.width, height=info.height, format=info.pix_fmt)
        working = working_format(frame.format.name)
        if frame.format.name != working:
            frame = frame.reformat(format=working)
        clock.pace(frame)
        frame.pts, frame.time_base = clock.next_pts(), MILLISECONDS
        frame.opaque = time.perf_counter()
        return frame

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Clock:
    """Wall-clock timestamps (ms, strictly increasing); optional real-time pacing of sources
    that would otherwise run as fast as they decode (files forced live, lavfi graphs)."""

    def __init__(self, duration: float | None, *, paced: bool) -> None:
        self.start = time.monotonic()
        self.duration = duration
        self.paced = paced
        self.last = -1
        self.first_media_time: float | None = None

    def expired(self) -> bool:
        return self.duration is not None and time.monotonic() - self.start >= self.duration

    def pace(self, frame: av.VideoFrame) -> None:
        if not self.paced or frame.time is None:
            return
        if self.first_media_time is None:
            self.first_media_time = frame.time
        ahead = (frame.time - self.first_media_time) - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)

    def next_pts(self) -> int:
        now = int((time.monotonic() - self.start) * 1000)
        self.last = max(now, self.last + 1)
        return self.last

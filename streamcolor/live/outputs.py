"""Outputs: files, network streams, HLS, a preview window, or several at once.

    out.mkv / out.mp4 ...           a file (temporary name, renamed when done)
    out.m3u8                        HLS playlist and segments, written as they come
    rtsp://host/path                RTSP push (ANNOUNCE/RECORD to a server)
    rtmp://host/app/key             RTMP (FLV)
    udp://host:port, srt://, tcp:// MPEG-TS
    --preview                       a window (FFmpeg's ffplay), where a display exists

Every output gets the same colorized frames; each encodes them with the same settings.
A live source's sound goes to every output but the preview: copied where the output carries
its codec, converted otherwise (:mod:`streamcolor.live.audio`).
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

import av

from ..config import EncodeConfig
from ..errors import OutputError
from ..media.sinks import FileSink
from .audio import AudioRoute

__all__ = ["open_outputs", "TeeSink", "PreviewSink", "WithAudio", "output_format"]

_log = logging.getLogger("streamcolor")

_STREAM_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv",
                   "udp": "mpegts", "srt": "mpegts", "tcp": "mpegts"}


def output_format(target: str) -> tuple[str | None, dict[str, str]]:
    """(FFmpeg format, options) for a network or HLS target; (None, {}) for a plain file."""
    scheme = urlsplit(target).scheme.lower()
    if scheme in _STREAM_FORMATS:
        options = {"rtsp_transport": "tcp"} if scheme.startswith("rtsp") else {}
        return _STREAM_FORMATS[scheme], options
    if target.lower().endswith(".m3u8"):
        return "hls", {"hls_time": "2", "hls_list_size": "0"}
    return None, {}


class TeeSink:
    """Several sinks fed the same frames; they share the first one's pixel-format plan."""

    def __init__(self, sinks: list) -> None:
        self.sinks = sinks
        self.plan = sinks[0].plan
        self.notes = list(dict.fromkeys(n for sink in sinks for n in getattr(sink, "notes", [])))
        self.codecs = [codec for sink in sinks for codec in getattr(sink, "codecs", [])]

    def write(self, frame: av.VideoFrame) -> None:
        for sink in self.sinks:
            sink.write(frame)

    def copy(self, packet: av.Packet) -> None:
        stream = packet.stream
        for sink in self.sinks:
            packet.stream = stream  # a sink points the packet at its own output stream
            sink.copy(packet)

    def finish(self) -> None:
        for sink in self.sinks:
            sink.finish()

    def commit(self) -> None:
        for sink in self.sinks:
            sink.commit()

    def abort(self) -> None:
        for sink in self.sinks:
            sink.abort()


class WithAudio:
    """A sink plus the live source's sound: audio packets go to its :class:`AudioRoute`."""

    def __init__(self, sink: FileSink, route: AudioRoute) -> None:
        self.sink, self.route = sink, route
        self.plan = sink.plan
        self.notes = sink.notes + ([route.note] if route.note else [])
        self.seconds = sink.seconds

    def write(self, frame: av.VideoFrame) -> None:
        self.sink.write(frame)

    def copy(self, packet: av.Packet) -> None:
        self.route.mux(packet)

    def finish(self) -> None:
        self.route.flush()
        self.sink.finish()

    def commit(self) -> None:
        self.sink.commit()

    def abort(self) -> None:
        self.sink.abort()


def _open_sink(target: str, source, encode: EncodeConfig):
    """A file or stream sink for ``target``, with the live source's audio if it has some."""
    fmt, options = output_format(target)
    if fmt == "hls":
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
    audio = getattr(source, "audio", None) if getattr(source, "live", False) else None
    if audio is None:
        return FileSink(target, source, encode, format=fmt, options=options)
    routes = []
    sink = FileSink(target, source, encode, format=fmt, options=options,
                    add_streams=lambda container: routes.append(AudioRoute(container, audio)))
    return WithAudio(sink, routes[0])


class PreviewSink:
    """A window showing the colorized frames: raw frames piped to FFmpeg's ``ffplay``."""

    def __init__(self, plan, title: str = "streamcolor", *, others: bool = True) -> None:
        _check_display()
        player = shutil.which("ffplay")
        if player is None:
            raise OutputError("--preview needs ffplay (FFmpeg's player): install ffmpeg")
        self.plan = plan
        self.notes: list[str] = []
        self.codecs: list[str] = []
        command = [player, "-hide_banner", "-loglevel", "error", "-window_title", title,
                   "-fflags", "nobuffer", "-f", "nut", "-i", "pipe:0"]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE)
        self._container = av.open(self._process.stdin, "w", format="nut")
        self._stream = None
        self._gone, self._others = False, others

    def write(self, frame: av.VideoFrame) -> None:
        if self._gone:
            return
        if self._process.poll() is not None:
            self._went_away()  # the window was closed: the other outputs carry on
            return
        if self._stream is None:
            self._stream = self._container.add_stream("rawvideo", rate=25)
            self._stream.width, self._stream.height = frame.width, frame.height
            self._stream.pix_fmt = frame.format.name
            self._stream.time_base = frame.time_base
        try:
            self._container.mux(self._stream.encode(frame))
        except (OSError, av.FFmpegError):
            self._went_away()  # the player went away mid-write

    def _went_away(self) -> None:
        """Say once, in one line, that the preview is gone; the run goes on without it."""
        self._gone = True
        status = self._process.poll()
        how = (f"ffplay exited with status {status}" if status is not None
               else "ffplay stopped reading")
        others = "the other outputs carry on" if self._others else "the run goes on"
        _log.warning("the preview window closed (%s); %s", how, others)

    def copy(self, packet) -> None:
        pass  # the preview shows video only

    def finish(self) -> None:
        self.abort()

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        for close in (self._container.close, self._process.stdin.close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a window that may already be gone
                pass
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.terminate()


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise OutputError("--preview needs a display, and neither DISPLAY nor WAYLAND_DISPLAY "
                          "is set; write to a file or a stream instead")


def open_outputs(targets: list[str], source, encode: EncodeConfig, *, preview: bool = False):
    """One sink for ``targets`` (and a preview window); on failure nothing stays open."""
    if not targets and not preview:
        raise OutputError("no output: give -o OUTPUT (repeatable) or --preview")
    sinks = []
    try:
        for target in targets:
            sinks.append(_open_sink(target, source, encode))
        if preview:
            plan = sinks[0].plan if sinks else _preview_plan(source)
            sinks.append(PreviewSink(plan, others=bool(sinks)))
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return sinks[0] if len(sinks) == 1 else TeeSink(sinks)


def _preview_plan(source):
    from ..media.frames import plan_formats

    return plan_formats(source.info.pix_fmt, None, color_range=source.info.color_range)

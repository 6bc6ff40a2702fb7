"""A live source's sound in one output: copied where the output carries its codec, else
converted (e.g. G.711 A-law from a camera -> AAC for RTMP/FLV and HLS).

The packets come from :class:`~streamcolor.live.source.LiveSource` already on the output clock
(ms). A copy keeps their bytes and times; a conversion decodes them and encodes with sample-
exact timestamps that start at the first packet's time and follow the packets' times across
gaps (a reconnection), so sound stays where the picture is.
"""

from __future__ import annotations

from fractions import Fraction

import av

from ..errors import OutputError, describe

__all__ = ["AudioRoute", "carries"]

# What players take from each live format (FFmpeg's muxers accept more, e.g. A-law in FLV,
# which players then refuse). None: anything the muxer takes.
_CARRIED = {
    "flv": {"aac", "mp3"},
    "mpegts": {"aac", "mp3", "mp2", "ac3", "eac3", "opus"},
    "hls": {"aac", "mp3", "mp2", "ac3", "eac3"},
    "rtsp": {"aac", "pcm_alaw", "pcm_mulaw", "opus", "mp3", "mp2", "g722"},
    "webm": {"opus", "vorbis"},
    "mp4": {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"},
    "matroska": None,
    "nut": None,
}
# Conversion targets: lossless PCM where the container takes it (G.711 expands exactly),
# Opus for WebM, AAC everywhere else.
_CONVERT_TO = {"matroska": "pcm_s16le", "mov": "pcm_s16le", "nut": "pcm_s16le",
               "webm": "libopus"}


def carries(format_name: str, codec: str) -> bool:
    """Whether an output of FFmpeg format ``format_name`` is expected to carry ``codec``."""
    for name in format_name.split(","):
        if name in _CARRIED:
            allowed = _CARRIED[name]
            return allowed is None or codec in allowed
    return True  # other containers: leave it to the muxer, which names what it refuses


class AudioRoute:
    """Adds the audio stream to ``container`` (before its header) and muxes packets into it."""

    def __init__(self, container, template) -> None:
        self.container = container
        self.source_codec = template.codec_context.name
        fmt = container.format.name
        self.note: str | None = None
        self._encoder = None
        if carries(fmt, self.source_codec):
            try:
                self.stream = container.add_stream_from_template(template)
                return
            except (ValueError, av.FFmpegError):
                pass  # the muxer refuses it (e.g. G.711 in Matroska): convert
        self._open_conversion(template, _CONVERT_TO.get(fmt.split(",")[0], "aac"))
        self.note = (f"live audio {self.source_codec} {template.codec_context.sample_rate} Hz "
                     f"is converted to {self.stream.codec_context.name} for the {fmt} output "
                     "(it cannot carry the original)")

    def _open_conversion(self, template, codec: str) -> None:
        source = template.codec_context
        self._decoder = av.CodecContext.create(source.name, "r")
        self._decoder.sample_rate = source.sample_rate
        self._decoder.layout = source.layout
        if source.extradata:
            self._decoder.extradata = source.extradata
        rate = source.sample_rate
        if codec in ("aac", "libopus") and rate not in (44100, 48000):
            rate = 48000  # what players expect; AAC's 1024-sample delay is then 21 ms
        try:
            self.stream = self.container.add_stream(codec, rate=rate)
        except (ValueError, av.FFmpegError) as error:
            raise OutputError(f"cannot encode live audio as {codec}: {describe(error)}") from error
        self.stream.layout = "mono" if source.layout.nb_channels == 1 else "stereo"
        self._samples = Fraction(1, rate)  # the muxer may change the stream's time base
        self.stream.time_base = self.stream.codec_context.time_base = self._samples
        self._encoder = self.stream.codec_context
        self._resampler = av.AudioResampler(format=self._encoder.format.name,
                                            layout=self.stream.layout.name, rate=rate)
        self._fifo = av.AudioFifo()
        self._next: int | None = None  # sample position of the fifo's first sample

    def mux(self, packet: av.Packet) -> None:
        """Write one source packet (its pts in ms on the output clock)."""
        if self._encoder is None:
            copy = av.Packet(bytes(packet))  # outputs share the packet; muxing consumes it
            copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
            copy.time_base, copy.stream = packet.time_base, self.stream
            self.container.mux(copy)
            return
        rate = self._encoder.sample_rate
        at = round(packet.pts * packet.time_base * rate)
        queued = None if self._next is None else self._next + self._fifo.samples
        if queued is None or at > queued + rate // 5:  # first packet, or a gap over 200 ms
            self._drain(final=False)
            self._fifo = av.AudioFifo()
            self._next = at
        for frame in self._decoder.decode(packet):
            frame.pts = None
            for resampled in self._resampler.resample(frame):
                resampled.pts = None
                self._fifo.write(resampled)
        self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        size = self._encoder.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples):
            frame = self._fifo.read(min(size, self._fifo.samples))
            frame.pts, frame.time_base = self._next, self._samples
            self._next += frame.samples
            self.container.mux(self.stream.encode(frame))

    def flush(self) -> None:
        """Encode what is left (call before the container is closed)."""
        if self._encoder is not None and self._next is not None:
            for resampled in self._resampler.resample(None):
                resampled.pts = None
                self._fifo.write(resampled)
            self._drain(final=True)
            self.container.mux(self.stream.encode(None))


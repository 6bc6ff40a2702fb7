"""Converting one copied stream the output container cannot hold into a codec it can.

Audio is decoded and re-encoded (resampled to a rate and layout the encoder takes); the
first output sample keeps the first input sample's time, so sync is unchanged. Text
subtitles are decoded into events and re-encoded one by one, each keeping its packet's pts
and duration. Both hand back packets ready to mux into their output stream.
"""

from __future__ import annotations

from fractions import Fraction

import av

__all__ = ["AudioConverter", "SubtitleConverter", "add_converted_stream"]


def _rate(codec: av.codec.Codec, wanted: int) -> int:
    rates = codec.audio_rates
    if not rates or wanted in rates:
        return wanted
    higher = sorted(r for r in rates if r >= wanted)
    return higher[0] if higher else max(rates)


# Opus (and Vorbis) channel orders, by channel count: the layouts libopus takes.
_VORBIS_LAYOUTS = ("mono", "stereo", "3.0", "quad", "5.0", "5.1", "6.1", "7.1")


# FFmpeg's usual layout for a channel count, for streams whose header gives only the count
# ("2 channels": WMA, some WAV and AVI): encoders such as AAC refuse an unordered layout.
_USUAL_LAYOUTS = ("mono", "stereo", "2.1", "4.0", "5.0", "5.1", "6.1", "7.1")


def _layout(codec_name: str, channels: int, layout: str) -> str:
    if codec_name in ("libopus", "opus", "vorbis", "libvorbis") and channels > 2:
        return _VORBIS_LAYOUTS[min(channels, 8) - 1]
    if layout.endswith("channels") and 1 <= channels <= len(_USUAL_LAYOUTS):
        return _USUAL_LAYOUTS[channels - 1]
    return layout


def _decoder(template) -> tuple[av.CodecContext, object]:
    """A decoder of its own for ``template`` (the source's may be shared by other outputs),
    and what must stay open while it is used."""
    source = template.codec_context
    ctx = av.CodecContext.create(source.codec.name, "r")
    if source.extradata:
        ctx.extradata = source.extradata
    if template.type == "audio":
        ctx.sample_rate, ctx.layout = source.sample_rate, source.layout
    try:
        ctx.open()
        return ctx, None
    except av.FFmpegError as error:  # needs a parameter PyAV cannot set (WMA: block_align)
        again = _reopened(template)
        if again is None:
            raise error
        return again


def _reopened(template) -> tuple[av.CodecContext, object] | None:
    """The decoder FFmpeg makes, from every parameter of the stream, in a second opening of
    ``template``'s input file (None for a live input or a file that does not open again)."""
    name = getattr(template.container, "name", "")
    if not name or "://" in name:
        return None
    try:
        again = av.open(name)
        ctx = again.streams[template.index].codec_context
        ctx.open()
    except (av.FFmpegError, OSError, IndexError):
        return None
    return ctx, again


def add_converted_stream(container, template, codec_name: str, rate: int | None = None):
    """Add to ``container`` a stream of ``codec_name`` standing in for ``template`` (audio at
    ``rate``, else the source's rate where the encoder takes it); return (stream, converter)."""
    decoder, keep = _decoder(template)
    if template.type == "audio":
        codec = av.codec.Codec(codec_name, "w")
        layout = _layout(codec.name, decoder.channels, decoder.layout.name)
        rate = _rate(codec, rate or decoder.sample_rate or 48000)
        stream = container.add_stream(codec_name, rate=rate, layout=layout)
        stream.time_base = stream.codec_context.time_base = Fraction(1, rate)
        return stream, AudioConverter(decoder, stream, keep)
    stream = container.add_stream(codec_name)
    if decoder.subtitle_header:
        stream.codec_context.subtitle_header = decoder.subtitle_header
    stream.time_base = template.time_base
    return stream, SubtitleConverter(decoder, stream, keep)


class AudioConverter:
    """Decodes audio packets with ``decoder`` and encodes them into ``stream``."""

    def __init__(self, decoder, stream, keep: object = None) -> None:
        self.decoder, self.stream = decoder, stream
        self._keep = keep  # the decoder's own opening of the input, where it has one

    def convert(self, packet: av.Packet) -> list[av.Packet]:
        """Output packets for one input packet (none while the encoder fills its frame)."""
        if not packet.size:
            return []  # the demuxer's end marker: the decoder is flushed by flush()
        out = []
        for frame in self.decoder.decode(packet):
            out.extend(self._encode(frame))
        return out

    def _encode(self, frame) -> list[av.Packet]:
        packets = self.stream.encode(frame)
        for packet in packets:
            packet.stream = self.stream
        return packets

    def flush(self) -> list[av.Packet]:
        """The encoder's remaining packets, at the end of the stream."""
        out = []
        for frame in self.decoder.decode(None):
            out.extend(self._encode(frame))
        return out + self._encode(None)


class SubtitleConverter:
    """Re-encodes each subtitle event (decoded by ``decoder``) into ``stream``, timing kept."""

    def __init__(self, decoder, stream, keep: object = None) -> None:
        self.decoder, self.stream = decoder, stream
        self._keep = keep  # the decoder's own opening of the input, where it has one

    def convert(self, packet: av.Packet) -> list[av.Packet]:
        """The re-encoded packet of one event (none for an empty packet)."""
        if not packet.size:
            return []
        events = self.decoder.decode2(packet)
        if events is None or not len(events):
            return []
        out = self.stream.codec_context.encode_subtitle(events)
        out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
        out.time_base = packet.time_base
        out.stream = self.stream
        return [out]

    def flush(self) -> list[av.Packet]:
        """Subtitle encoders keep nothing back."""
        return []

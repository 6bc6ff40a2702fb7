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


def _layout(codec_name: str, channels: int, layout: str) -> str:
    if codec_name in ("libopus", "opus", "vorbis", "libvorbis") and channels > 2:
        return _VORBIS_LAYOUTS[min(channels, 8) - 1]
    return layout


def _decoder(template) -> av.CodecContext:
    """A decoder of its own for ``template`` (the source's may be shared by other outputs)."""
    source = template.codec_context
    ctx = av.CodecContext.create(source.codec.name, "r")
    if source.extradata:
        ctx.extradata = source.extradata
    if template.type == "audio":
        ctx.sample_rate, ctx.layout = source.sample_rate, source.layout
    ctx.open()
    return ctx


def add_converted_stream(container, template, codec_name: str, rate: int | None = None):
    """Add to ``container`` a stream of ``codec_name`` standing in for ``template`` (audio at
    ``rate``, else the source's rate where the encoder takes it); return (stream, converter)."""
    decoder = _decoder(template)
    if template.type == "audio":
        codec = av.codec.Codec(codec_name, "w")
        layout = _layout(codec.name, decoder.channels, decoder.layout.name)
        rate = _rate(codec, rate or decoder.sample_rate or 48000)
        stream = container.add_stream(codec_name, rate=rate, layout=layout)
        stream.time_base = stream.codec_context.time_base = Fraction(1, rate)
        return stream, AudioConverter(decoder, stream)
    stream = container.add_stream(codec_name)
    if decoder.subtitle_header:
        stream.codec_context.subtitle_header = decoder.subtitle_header
    stream.time_base = template.time_base
    return stream, SubtitleConverter(decoder, stream)


class AudioConverter:
    """Decodes audio packets with ``decoder`` and encodes them into ``stream``."""

    def __init__(self, decoder, stream) -> None:
        self.decoder, self.stream = decoder, stream

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

    def __init__(self, decoder, stream) -> None:
        self.decoder, self.stream = decoder, stream

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

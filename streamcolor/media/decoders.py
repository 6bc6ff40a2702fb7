"""Which decoder reads the colorized stream, where FFmpeg's default one would lose something.

FFmpeg's native VP8/VP9 decoders ignore the alpha channel that WebM/Matroska carry beside
the picture (``alpha_mode`` 1); libvpx's decoders read it and give ``yuva420p`` frames.

Such a decoder is a codec context of its own: ``container.seek`` flushes the streams' codec
contexts, not it. :func:`decode_from` is the one way to decode from a seek on: it flushes the
decoder first and drains it at the end of the demux.
"""

from __future__ import annotations

from collections.abc import Iterator

import av

__all__ = ["video_decoder", "decode_from"]

_ALPHA_DECODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx"}


def video_decoder(stream) -> av.CodecContext | None:
    """A decoder of its own for ``stream`` where the default one drops alpha, else None
    (decode with the stream's own codec context)."""
    tags = {key.lower(): value for key, value in stream.metadata.items()}
    name = _ALPHA_DECODERS.get(stream.codec_context.name)
    if name is None or tags.get("alpha_mode") != "1":
        return None
    try:
        decoder = av.CodecContext.create(name, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return None  # this FFmpeg has no libvpx: the picture decodes, its alpha is lost
    if stream.codec_context.extradata:
        decoder.extradata = stream.codec_context.extradata
    decoder.thread_type = "AUTO"
    return decoder


def decode_from(container, stream, decoder: av.CodecContext | None) -> Iterator[av.VideoFrame]:
    """The frames of ``stream`` from the container's position on (call it right after a
    seek), through ``decoder`` (from :func:`video_decoder`) or, if None, the stream's own
    codec context. Frames carry the stream's time base."""
    if decoder is None:
        for packet in container.demux(stream):
            yield from packet.decode()
        return
    decoder.flush_buffers()  # frames and references from before the seek
    for packet in container.demux(stream):
        if packet.size:
            yield from _timed(decoder.decode(packet), stream)
    yield from _timed(decoder.decode(None), stream)


def _timed(frames, stream) -> Iterator[av.VideoFrame]:
    """Frames drained from a decoder of one's own carry no time base: give them the stream's."""
    for frame in frames:
        if frame.time_base is None:
            frame.time_base = stream.time_base
        yield frame

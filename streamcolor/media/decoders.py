"""Which decoder reads the colorized stream, where FFmpeg's default one would lose something.

FFmpeg's native VP8/VP9 decoders ignore the alpha channel that WebM/Matroska carry beside
the picture (``alpha_mode`` 1); libvpx's decoders read it and give ``yuva420p`` frames.

Such a decoder is a codec context of its own: ``container.seek`` flushes the streams' codec
contexts, not it. :func:`decode_from` is the one way to decode from a seek on: it flushes the
decoder first and drains it at the end of the demux.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import av

from .demux import packets

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


def decode_from(container, stream, decoder: av.CodecContext | None,
                on_damage: Callable[[BaseException, av.Packet | None], None] | None = None
                ) -> Iterator[av.VideoFrame]:
    """The frames of ``stream`` from the container's position on (call it right after a
    seek), through ``decoder`` (from :func:`video_decoder`) or, if None, the stream's own
    codec context. Frames carry the stream's time base. With ``on_damage``, a packet that
    does not decode is reported to it (with the packet) and skipped, and data that cannot be
    read ends the frames (reported with None); without it, the FFmpeg error is raised."""
    if decoder is None:
        decoder = stream.codec_context
    else:
        decoder.flush_buffers()  # frames and references from before the seek
    for packet in _packets(container, stream, on_damage):
        if packet.size:
            yield from _decoded(decoder, packet, stream, on_damage)
    yield from _decoded(decoder, None, stream, on_damage)


def _packets(container, stream, on_damage) -> Iterator[av.Packet]:
    on_error = None if on_damage is None else (lambda error: on_damage(error, None))
    return packets(container, stream, on_error=on_error)


def _decoded(decoder, packet, stream, on_damage) -> Iterator[av.VideoFrame]:
    try:
        frames = decoder.decode(packet)
    except av.FFmpegError as error:
        if on_damage is None:
            raise
        on_damage(error, packet)
        return
    yield from _timed(frames, stream)


def _timed(frames, stream) -> Iterator[av.VideoFrame]:
    """Frames drained from a decoder of one's own carry no time base: give them the stream's."""
    for frame in frames:
        if frame.time_base is None:
            frame.time_base = stream.time_base
        yield frame

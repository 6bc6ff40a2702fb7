"""Which decoder reads the colorized stream, where FFmpeg's default one would lose something.

FFmpeg's native VP8/VP9 decoders ignore the alpha channel that WebM/Matroska carry beside
the picture (``alpha_mode`` 1); libvpx's decoders read it and give ``yuva420p`` frames.
"""

from __future__ import annotations

import av

__all__ = ["video_decoder"]

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

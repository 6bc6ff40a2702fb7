"""Timestamps of copied packets, made fit for the muxer: a damaged input's audio or subtitle
packet with no timestamp, or one that repeats or goes back, must not end a long run at its
last step.

As FFmpeg's own muxing does: a packet with neither pts nor dts is dropped; one without a dts
takes its pts; a decode time that does not increase is moved to just after the previous one
(and the presentation time with it, where it would fall before). Times are compared in the
output stream's time base, where two close input times may become one. Each repair and drop
is counted.
"""

from __future__ import annotations

import logging

import av

from ..errors import OutputError, describe, format_time

__all__ = ["CopyTimes", "MAX_REFUSED"]

MAX_REFUSED = 100  # packets of one stream the muxer may refuse (dropped) before the run fails
_log = logging.getLogger("streamcolor")


class CopyTimes:
    """The last decode time muxed per output stream, and what was repaired or dropped."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.repaired = 0
        self.dropped = 0
        self._refused: dict[str, int] = {}

    def fit(self, packet: av.Packet, stream) -> bool:
        """Give ``packet`` (bound for ``stream``) times the muxer takes, in ``stream``'s time
        base; False if it cannot have any and is to be dropped."""
        pts, dts = packet.pts, packet.dts
        if pts is None and dts is None or packet.time_base is None:
            self.dropped += 1
            return False
        if stream.time_base and packet.time_base != stream.time_base:
            pts, dts = (_rescale(t, packet.time_base, stream.time_base) for t in (pts, dts))
            duration = _rescale(packet.duration, packet.time_base, stream.time_base)
            packet.time_base = stream.time_base
            packet.pts, packet.dts, packet.duration = pts, dts, duration or 0
        if dts is None:
            dts = pts
        last = self.last.get(stream.index)
        if last is not None and dts <= last:
            self.repaired += 1
            dts = last + 1
            if pts is not None and pts < dts:
                pts = dts
        if pts is not None and pts < dts:
            self.repaired += 1
            pts = dts
        packet.pts, packet.dts = pts, dts
        self.last[stream.index] = dts
        return True


    def plain(self, packet: av.Packet, stream) -> av.Packet:
        """``packet``, less a new codec configuration that damaged data gave it (side data
        ``new_extradata``) where ``stream`` has one: a muxer that must write it in place of
        the first (Matroska) fails on it."""
        ctx = getattr(stream, "codec_context", None)  # a data stream has none
        if ctx is None or not ctx.extradata or not packet.has_sidedata("new_extradata"):
            return packet
        self.repaired += 1
        plain = av.Packet(bytes(packet))
        plain.time_base = packet.time_base
        plain.pts, plain.dts, plain.duration = packet.pts, packet.dts, packet.duration
        plain.is_keyframe = packet.is_keyframe
        return plain

    def refused(self, error: BaseException, stream: str, at: float | None, output: str) -> None:
        """The muxer refused a copied packet (damaged data): drop it, warn once per stream;
        past :data:`MAX_REFUSED` of one stream, fail in one line that names it."""

        self.dropped += 1
        count = self._refused[stream] = self._refused.get(stream, 0) + 1
        where = f"{output} {stream} at {format_time(at)}: {describe(error)}"
        if count > MAX_REFUSED:
            raise OutputError(f"cannot write {where} ({count} damaged packets of it); leave "
                              "that stream out (e.g. with ffmpeg -map) and run again") from error
        if count == 1:
            _log.warning("cannot copy a damaged packet into %s; dropped (and any more like it)",
                         where)


def _rescale(value: int | None, source, target) -> int | None:
    if value is None:
        return None
    return int(round(value * source / target))

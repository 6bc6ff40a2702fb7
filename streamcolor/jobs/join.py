"""The final step: the segments' packets and every other stream of the input, in one pass.

The output is a :class:`~streamcolor.media.sinks.FileSink`, exactly as in a single-pass run (the
same temporary name and rename, copied streams, cover art, container tags, chapters); its
encoder is opened with the job's settings but given no frames: the video packets come
from the segment files, unchanged. Input packets of the other streams and segment packets
are merged by time so the muxer interleaves without buffering, and memory stays flat.
Each segment starts with a keyframe and its encoder was flushed, so no frame refers across
a join; decode timestamps are kept strictly increasing there.
"""

from __future__ import annotations

import heapq
import pathlib
from collections.abc import Callable, Iterable, Iterator

import av

from ..config import EncodeConfig
from ..errors import OutputError, format_time
from ..media.demux import packets
from ..media.sinks import FileSink
from ..media.sources import FileSource
from .packets import read_header, read_packets
from .segment import SegmentError

__all__ = ["join_segments"]


def _time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0


def _input_packets(source: FileSource) -> Iterator[tuple[float, av.Packet, bool]]:
    """Packets of the other streams, in demux order, each keyed by the latest time demuxed
    so far: a packet stored early (subtitles at the file's start) holds nothing back."""
    latest = float("-inf")
    for packet in packets(source.container, on_error=lambda error: None):
        if packet.stream is source.video or not packet.size:
            continue
        latest = max(latest, _time(packet))
        yield latest, packet, False


def _video_packets(files: Iterable[pathlib.Path], counts: list[int]) -> Iterator[av.Packet]:
    """Segment packets in order, decode timestamps strictly increasing across joins."""
    last = None
    for path, expected in zip(files, counts, strict=True):
        count = 0
        for packet in read_packets(path):
            if packet.dts is not None:
                if last is not None and packet.dts <= last:
                    packet.dts = last + 1
                if packet.pts is not None and packet.dts > packet.pts:
                    raise SegmentError(f"cannot join {path.name}: its decode times overlap the "
                                       "previous segment's; run again with --no-resume")
                last = packet.dts
            count += 1
            yield packet
        if count != expected:
            raise SegmentError(f"segment file {path} holds {count} frames, expected {expected}")


def join_segments(input: str, output: pathlib.Path, files: list[pathlib.Path],
                  counts: list[int], encode: EncodeConfig,
                  on_packet: Callable[[int], None] | None = None) -> int:
    """Write ``output`` from the segment ``files`` (``counts`` frames each) and the input's
    other streams; return the number of video frames. The output appears only when whole."""
    with FileSource(input) as source:
        sink = FileSink(output, source, encode)
        written = 0
        try:
            _check_extradata(sink, files)
            video = ((_time(p), p, True) for p in _video_packets(files, counts))
            other = _input_packets(source)
            for _, packet, is_video in heapq.merge(other, video, key=lambda item: item[0]):
                if is_video:
                    packet.stream = sink.video
                    _mux_video(sink, packet)
                    written += 1
                    if on_packet:
                        on_packet(written)
                else:
                    sink.copy(packet)
            sink.finish()
        except BaseException:
            sink.abort()
            raise
        sink.commit()
    return written


def _mux_video(sink: FileSink, packet: av.Packet) -> None:
    """Mux one colorized packet; FFmpeg's refusal (of it, or of a copied packet the muxer
    was holding back to interleave) as one line."""
    try:
        sink.container.mux(packet)
    except av.FFmpegError as error:
        from ..media.sinks import _reason

        raise OutputError(f"cannot write {sink.path} at {format_time(_time(packet))}: "
                          f"{_reason(error)}") from error


def _check_extradata(sink: FileSink, files: list[pathlib.Path]) -> None:
    ours = sink.video.codec_context.extradata or b""
    for path in files:
        header = read_header(path)
        if header["extradata"] != ours or header["codec"] != sink.video.codec_context.name:
            raise OutputError(f"segment file {path} was encoded with other encoder settings "
                              "than this run's; run again with --no-resume")

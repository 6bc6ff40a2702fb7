"""Before any work: can the muxer write the packets of each stream that is to be copied?

A damaged file can declare a stream whose header the muxer takes but whose packets it then
refuses (an AAC stream that appeared mid-file with no configuration, say): met at the end
of a long run, that refusal would lose the film. The first few packets of every copied
stream are read (in a separate open; reading stops after :data:`_PACKETS` packets in all)
and written, one stream at a time, into an in-memory file of the output's format. A stream
whose packets are refused is left out, with a note; a stream whose header is refused is the
stream plan's business (:mod:`.streamplan`), and one with no packet near the start is not
judged.
"""

from __future__ import annotations

import io

import av

from ..errors import describe
from .copytimes import CopyTimes
from .demux import packets

__all__ = ["unwritable_streams"]

_PACKETS = 2000  # packets read from the start of the input, all streams together
_PER_STREAM = 4  # packets of each stream tried
_TRIAL_FORMAT = {"hls": "mpegts", "rtsp": None, "rtp": None}


def unwritable_streams(path, indices: list[int], format_name: str) -> dict[int, str]:
    """Of the input streams ``indices`` (to be copied), those whose first packets a
    ``format_name`` muxer refuses, with FFmpeg's reason."""
    trial_format = _TRIAL_FORMAT.get(format_name, format_name)
    if not indices or trial_format is None:
        return {}
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError):
        return {}
    with container:
        first = _first_packets(container, set(indices))
        return {index: reason for index, found in first.items()
                if (reason := _refused(container.streams[index], found, trial_format))}


def _first_packets(container, indices: set[int]) -> dict[int, list[av.Packet]]:
    found: dict[int, list[av.Packet]] = {i: [] for i in indices}
    for count, packet in enumerate(packets(container, on_error=lambda error: None)):
        if packet.size and packet.stream_index in found \
                and len(found[packet.stream_index]) < _PER_STREAM:
            found[packet.stream_index].append(packet)
        if count >= _PACKETS or all(len(p) >= _PER_STREAM for p in found.values()):
            break
    return {i: p for i, p in found.items() if p}


def _refused(template, first: list[av.Packet], trial_format: str) -> str | None:
    """FFmpeg's reason if the muxer takes the stream's header but not its packets."""
    try:
        output = av.open(io.BytesIO(), "w", format=trial_format)
    except (ValueError, av.FFmpegError):
        return None
    try:
        stream = output.add_stream_from_template(template)
        output.start_encoding()
    except (ValueError, av.FFmpegError):
        _close(output)
        return None  # the header is refused: the stream plan converts or reports it
    times = CopyTimes()
    try:
        for packet in first:
            if times.fit(packet, stream):
                packet = times.plain(packet, stream)
                packet.stream = stream
                output.mux(packet)
        output.close()
    except (ValueError, av.FFmpegError) as error:
        _close(output)
        return describe(error)
    except Exception:  # noqa: BLE001 - a trial that cannot be made judges nothing
        _close(output)
    return None


def _close(output) -> None:
    try:
        output.close()
    except (ValueError, av.FFmpegError):
        pass  # an in-memory trial: nothing to keep

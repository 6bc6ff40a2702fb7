"""Demuxing a damaged file as far as it can be read.

PyAV knows the streams a file declared when it was opened; damaged data can make a demuxer
(FLV, MPEG-TS) announce a new stream in the middle of the file, and PyAV then fails on that
packet (``IndexError``) and ends its demux. Such packets belong to no stream that is being
read: they are passed over, and reading goes on from the next packet. Data that cannot be
read at all ends the packets; ``on_error`` hears of it (without it, the error is raised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import av

__all__ = ["packets"]

_MAX_STRAYS = 10_000  # packets of unknown streams passed over before giving up


def packets(container, *streams, on_error: Callable[[BaseException], None] | None = None
            ) -> Iterator[av.Packet]:
    """The packets of ``streams`` (all when none are given), in file order, as far as the
    file can be read."""
    strays = 0
    while True:
        demuxed = container.demux(*streams)
        try:
            yield from demuxed
            return
        except IndexError:  # a stream that appeared mid-file: pass its packet over
            strays += 1
            if strays > _MAX_STRAYS:
                return
        except (av.FFmpegError, OSError) as error:
            if on_error is None:
                raise
            on_error(error)
            return

"""A segment file: the encoded packets of one segment, exactly as the encoder gave them.

No container sits between the encoder and the final join, so nothing can rescale a
timestamp or shift a decode time: pts, dts, duration, keyframe flag and bytes are stored as
they are, with the time base and the codec's extradata in a small header::

    b"SCPK1\\n" | u32 header length | header JSON | records: <qqqBI pts dts duration key size> bytes

The file is written to a temporary name beside its target, fsynced, and renamed when complete.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
import tempfile
from collections.abc import Iterator
from fractions import Fraction

import av

__all__ = ["PacketWriter", "read_header", "read_packets"]

_MAGIC = b"SCPK1\n"
_RECORD = struct.Struct("<qqqBI")
_NONE = -(1 << 63)


class PacketWriter:
    """Writes packets to a temporary file; :meth:`commit` renames it to ``target``."""

    def __init__(self, target: pathlib.Path, *, time_base: Fraction, codec: str,
                 extradata: bytes | None) -> None:
        self.target = target
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                        dir=target.parent)
        self.tmp = pathlib.Path(name)
        self._out = os.fdopen(handle, "wb")
        header = json.dumps({"time_base": [time_base.numerator, time_base.denominator],
                             "codec": codec, "extradata": (extradata or b"").hex()}).encode()
        self._out.write(_MAGIC + struct.pack("<I", len(header)) + header)

    def write(self, packet: av.Packet) -> None:
        """Append one packet (pts, dts, duration, keyframe flag, bytes)."""
        data = bytes(packet)
        self._out.write(_RECORD.pack(_opt(packet.pts), _opt(packet.dts), packet.duration or 0,
                                     1 if packet.is_keyframe else 0, len(data)))
        self._out.write(data)

    def commit(self) -> None:
        """Flush to disk and rename into place."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        """Close and delete the temporary file."""
        try:
            self._out.close()
        except OSError:
            pass
        self.tmp.unlink(missing_ok=True)


def _opt(value: int | None) -> int:
    return _NONE if value is None else value


def read_header(path: str | os.PathLike) -> dict:
    """The header of a segment file: time_base (Fraction), codec, extradata (bytes)."""
    with open(path, "rb") as handle:
        return _header(handle, path)


def _header(handle, path) -> dict:
    if handle.read(len(_MAGIC)) != _MAGIC:
        raise ValueError(f"{path} is not a streamcolor segment file")
    (size,) = struct.unpack("<I", handle.read(4))
    data = json.loads(handle.read(size))
    return {"time_base": Fraction(*data["time_base"]), "codec": data["codec"],
            "extradata": bytes.fromhex(data["extradata"])}


def read_packets(path: str | os.PathLike) -> Iterator[av.Packet]:
    """The packets of a segment file, in the order they were written (decode order)."""
    with open(path, "rb") as handle:
        time_base = _header(handle, path)["time_base"]
        while True:
            head = handle.read(_RECORD.size)
            if not head:
                return
            if len(head) < _RECORD.size:
                raise ValueError(f"{path} is truncated")
            pts, dts, duration, key, size = _RECORD.unpack(head)
            data = handle.read(size)
            if len(data) < size:
                raise ValueError(f"{path} is truncated")
            packet = av.Packet(data)
            packet.time_base = time_base
            packet.pts = None if pts == _NONE else pts
            packet.dts = None if dts == _NONE else dts
            packet.duration = duration
            packet.is_keyframe = bool(key)
            yield packet

"""A segment file: the encoded packets of one segment, exactly as the encoder gave them.

No container sits between the encoder and the final join, so nothing can rescale a
timestamp or shift a decode time: pts, dts, duration, keyframe flag, bytes and side data (the
alpha plane of VP8/VP9 travels there) are stored as they are, with the time base and the
codec's extradata in a small header::

    b"SCPK2\\n" | u32 header length | header JSON | records
    record:    <qqqBIH pts dts duration key size sides> bytes, then ``sides`` side data:
    side data: <BI name-length size> name (PyAV's name of its type, ASCII) bytes

Files of the first format (``SCPK1``: records without side data) are still read.

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
from av.packet import PacketSideData, packet_sidedata_type_from_literal

__all__ = ["PacketWriter", "read_header", "read_packets"]

_MAGIC = b"SCPK2\n"
_MAGIC_V1 = b"SCPK1\n"
_RECORD = struct.Struct("<qqqBIH")
_RECORD_V1 = struct.Struct("<qqqBI")
_SIDE = struct.Struct("<BI")
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
        """Append one packet (pts, dts, duration, keyframe flag, bytes, side data)."""
        data = bytes(packet)
        sides = [(side.data_type.encode("ascii"), bytes(side))
                 for side in packet.iter_sidedata()]
        self._out.write(_RECORD.pack(_opt(packet.pts), _opt(packet.dts), packet.duration or 0,
                                     1 if packet.is_keyframe else 0, len(data), len(sides)))
        self._out.write(data)
        for name, value in sides:
            self._out.write(_SIDE.pack(len(name), len(value)) + name + value)

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
    magic = handle.read(len(_MAGIC))
    if magic not in (_MAGIC, _MAGIC_V1):
        raise ValueError(f"{path} is not a streamcolor segment file")
    (size,) = struct.unpack("<I", handle.read(4))
    data = json.loads(handle.read(size))
    return {"time_base": Fraction(*data["time_base"]), "codec": data["codec"],
            "extradata": bytes.fromhex(data["extradata"]), "version": 2 if magic == _MAGIC else 1}


def _read(handle, size: int, path) -> bytes:
    data = handle.read(size)
    if len(data) < size:
        raise ValueError(f"{path} is truncated")
    return data


def _side_data(handle, path, packet: av.Packet) -> None:
    """Read one side data entry and attach it to ``packet``."""
    length, size = _SIDE.unpack(_read(handle, _SIDE.size, path))
    name = _read(handle, length, path).decode("ascii")
    value = _read(handle, size, path)
    try:
        side = PacketSideData(packet_sidedata_type_from_literal(name), size)
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path} holds side data of a kind this PyAV does not know ({name}); "
                         "run again with --no-resume") from error
    if size:
        side.update(value)
        packet.set_sidedata(side, move=True)


def read_packets(path: str | os.PathLike) -> Iterator[av.Packet]:
    """The packets of a segment file, in the order they were written (decode order)."""
    with open(path, "rb") as handle:
        header = _header(handle, path)
        time_base = header["time_base"]
        record = _RECORD if header["version"] == 2 else _RECORD_V1
        while True:
            head = handle.read(record.size)
            if not head:
                return
            if len(head) < record.size:
                raise ValueError(f"{path} is truncated")
            pts, dts, duration, key, size, *sides = record.unpack(head)
            packet = av.Packet(_read(handle, size, path))
            for _ in range(sides[0] if sides else 0):
                _side_data(handle, path, packet)
            packet.time_base = time_base
            packet.pts = None if pts == _NONE else pts
            packet.dts = None if dts == _NONE else dts
            packet.duration = duration
            packet.is_keyframe = bool(key)
            yield packet

"""What photo users care about besides the pixels: orientation, EXIF, ICC profile and DPI.

A camera stores a portrait photo sideways with EXIF orientation 6 ("rotate 90 degrees to
display"). :func:`read_photo` applies the orientation to the pixels and resets the tag to 1,
so the output displays like the input in every viewer and in formats with no EXIF at all.
:func:`encode_photo` writes EXIF and the ICC profile where the format holds them (JPEG, PNG,
WebP) and the resolution where it has a field for it (JFIF density, PNG ``pHYs``, TIFF tags).
OpenCV (≥ 5.0) reads and writes the EXIF and ICC blocks; the few bytes of orientation and
density are read and patched here.
"""

from __future__ import annotations

import dataclasses
import pathlib
import struct
import zlib

import cv2
import numpy as np

__all__ = ["PhotoMeta", "read_photo", "encode_photo", "orient"]

ORIENTATION, X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 0x0112, 0x011A, 0x011B, 0x0128
_HOLDS_EXIF_ICC = (".jpg", ".jpeg", ".png", ".webp")
_ICC = getattr(cv2, "IMAGE_METADATA_ICCP", None)  # written in JPEG and PNG by OpenCV 5


@dataclasses.dataclass
class PhotoMeta:
    """The metadata carried from an input photo to its colorized output."""

    exif: bytes | None = None  # TIFF-structured EXIF, orientation already reset to 1
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None
    orientation: int = 1  # as the input had it; the pixels returned are upright


def orient(picture: np.ndarray, orientation: int) -> np.ndarray:
    """The picture as EXIF ``orientation`` (1..8) says it is to be displayed."""
    turns = {1: lambda p: p, 2: lambda p: p[:, ::-1], 3: lambda p: p[::-1, ::-1],
             4: lambda p: p[::-1], 5: lambda p: p.swapaxes(0, 1),
             6: lambda p: p[::-1].swapaxes(0, 1), 7: lambda p: p[::-1, ::-1].swapaxes(0, 1),
             8: lambda p: p[:, ::-1].swapaxes(0, 1)}
    return np.ascontiguousarray(turns.get(orientation, turns[1])(picture))


def read_photo(path: pathlib.Path) -> tuple[np.ndarray | None, PhotoMeta]:
    """(upright picture or None if OpenCV cannot read it, its metadata)."""
    picture, types, blocks = cv2.imreadWithMetadata(str(path), cv2.IMREAD_UNCHANGED)
    if picture is None or picture.size == 0:
        return None, PhotoMeta()
    found = {int(t): bytes(np.asarray(b).ravel()) for t, b in zip(types, blocks, strict=False)}
    exif = _strip_exif_prefix(found.get(cv2.IMAGE_METADATA_EXIF))
    meta = PhotoMeta(exif=exif, icc=found.get(_ICC))
    if exif:
        meta.orientation = _ifd0_value(exif, ORIENTATION) or 1
        meta.exif = _with_orientation(exif, 1)
    meta.dpi = _file_dpi(path) or (_tiff_dpi(exif) if exif else None)
    return orient(picture, meta.orientation), meta


def encode_photo(picture: np.ndarray, suffix: str, meta: PhotoMeta) -> tuple[bool, bytes]:
    """(ok, file bytes) of ``picture`` in the format of ``suffix``, with ``meta`` where it fits.
    An ICC profile is carried only if it describes RGB (a grey profile does not fit colour)."""
    suffix = suffix.lower()
    types, blocks, params = [], [], []
    if suffix in _HOLDS_EXIF_ICC:
        if meta.exif:
            types.append(cv2.IMAGE_METADATA_EXIF)
            blocks.append(np.frombuffer(meta.exif, np.uint8))
        if meta.icc and meta.icc[16:20] == b"RGB ":
            types.append(_ICC)
            blocks.append(np.frombuffer(meta.icc, np.uint8))
    if meta.dpi and suffix in (".tif", ".tiff"):
        params = [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, round(meta.dpi[0]),
                  cv2.IMWRITE_TIFF_YDPI, round(meta.dpi[1])]
    ok, buffer = cv2.imencodeWithMetadata(suffix, picture, types, blocks, params)
    data = buffer.tobytes() if ok else b""
    if ok and meta.dpi:
        if suffix in (".jpg", ".jpeg"):
            data = _jpeg_with_dpi(data, meta.dpi)
        elif suffix == ".png":
            data = _png_with_dpi(data, meta.dpi)
    return ok, data


# -- EXIF / TIFF structures ------------------------------------------------------------------
def _strip_exif_prefix(exif: bytes | None) -> bytes | None:
    return exif[6:] if exif and exif.startswith(b"Exif\x00\x00") else exif


def _ifd0_entries(tiff: bytes):
    """(tag, type, count, value-or-offset position) of IFD0; nothing if the block is bad."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", tiff, 4)
    if offset + 2 > len(tiff):
        return
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    for i in range(count):
        at = offset + 2 + 12 * i
        if at + 12 > len(tiff):
            return
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, at)
        yield order, tag, kind, n, at + 8


def _ifd0_value(tiff: bytes, wanted: int) -> float | int | None:
    """A SHORT, LONG or RATIONAL value of IFD0."""
    for order, tag, kind, _, at in _ifd0_entries(tiff):
        if tag != wanted:
            continue
        if kind == 3:
            return struct.unpack_from(order + "H", tiff, at)[0]
        if kind == 4:
            return struct.unpack_from(order + "I", tiff, at)[0]
        if kind == 5:
            (where,) = struct.unpack_from(order + "I", tiff, at)
            if where + 8 <= len(tiff):
                num, den = struct.unpack_from(order + "II", tiff, where)
                return num / den if den else None
    return None


def _with_orientation(tiff: bytes, value: int) -> bytes:
    data = bytearray(tiff)
    for order, tag, kind, _, at in _ifd0_entries(tiff):
        if tag == ORIENTATION and kind == 3:
            struct.pack_into(order + "H", data, at, value)
    return bytes(data)


def _tiff_dpi(tiff: bytes) -> tuple[float, float] | None:
    x, y = _ifd0_value(tiff, X_RESOLUTION), _ifd0_value(tiff, Y_RESOLUTION)
    unit = _ifd0_value(tiff, RESOLUTION_UNIT) or 2  # 2 inch (TIFF's default), 3 centimetre
    if not x or not y or unit not in (2, 3):
        return None
    scale = 2.54 if unit == 3 else 1.0
    return (x * scale, y * scale)


# -- resolution in the file's own fields -----------------------------------------------------
def _file_dpi(path: pathlib.Path) -> tuple[float, float] | None:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith(b"\xff\xd8"):
        return _jfif_dpi(head)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_dpi(head)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_dpi(head)
    return None


def _jfif_dpi(data: bytes) -> tuple[float, float] | None:
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00":
        return None
    unit, x, y = struct.unpack_from(">BHH", data, 13)
    if unit not in (1, 2) or not x or not y:
        return None  # 0: an aspect ratio, not a resolution
    scale = 2.54 if unit == 2 else 1.0
    return (x * scale, y * scale)


def _png_dpi(data: bytes) -> tuple[float, float] | None:
    at = data.find(b"pHYs")
    if at < 4 or at + 13 > len(data):
        return None
    x, y, unit = struct.unpack_from(">IIB", data, at + 4)
    return (x * 0.0254, y * 0.0254) if unit == 1 and x and y else None


def _jpeg_with_dpi(data: bytes, dpi: tuple[float, float]) -> bytes:
    density = struct.pack(">BHH", 1, *(min(65535, round(v)) for v in dpi))
    if data[2:4] == b"\xff\xe0" and data[6:11] == b"JFIF\x00":
        return data[:13] + density + data[18:]
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01" + density + b"\x00\x00"
    return data[:2] + app0 + data[2:]


def _png_with_dpi(data: bytes, dpi: tuple[float, float]) -> bytes:
    body = struct.pack(">IIB", *(round(v / 0.0254) for v in dpi), 1)
    chunk = struct.pack(">I", len(body)) + b"pHYs" + body
    chunk += struct.pack(">I", zlib.crc32(b"pHYs" + body))
    end_of_ihdr = 8 + 8 + 13 + 4
    return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]

"""Photos keep what photo users care about: EXIF orientation (applied, so the output displays
like the input), EXIF, the ICC profile and the resolution, where the output format holds them.

The files are generated here: OpenCV writes the pixels and EXIF/ICC blocks, the EXIF block and
the ICC profile are built byte by byte, and the outputs are read back with a small parser of
the JPEG/PNG/TIFF structures that shares no code with streamcolor.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from streamcolor import colorize_image
from streamcolor.runtime import ModelRunner


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    from streamcolor.testing import make_model

    return ModelRunner(make_model(tmp_path_factory.mktemp("m") / "tiny.onnx"), provider="cpu")


# -- building test files -----------------------------------------------------------------------
def exif_block(orientation: int, dpi: int = 0, make: bytes = b"TestCam\x00") -> bytes:
    """A little-endian TIFF-structured EXIF block: Make, Orientation and, if ``dpi``, the
    resolution in inches."""
    entries = [(0x010F, 2, len(make), make), (0x0112, 3, 1, orientation)]
    if dpi:
        entries += [(0x011A, 5, 1, (dpi, 1)), (0x011B, 5, 1, (dpi, 1)), (0x0128, 3, 1, 2)]
    data_at = 8 + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, count, value in entries:
        if kind == 3:
            table += struct.pack("<HHIHH", tag, kind, count, value, 0)
            continue
        payload = value if kind == 2 else struct.pack("<II", *value)
        table += struct.pack("<HHII", tag, kind, count, data_at + len(data))
        data += payload + b"\x00" * (len(payload) % 2)
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + table + b"\x00" * 4 + data


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def icc_profile(space: bytes = b"RGB ") -> bytes:
    """A small ICC v2 display profile (gamma 2.2, sRGB primaries) for ``space`` RGB or GRAY."""
    def xyz(x, y, z):
        return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)

    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 563) + b"\x00\x00"
    text = b"streamcolor test\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 78
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"cprt", b"text\x00" * 2)]
    if space == b"RGB ":
        tags += [(b"rXYZ", xyz(0.4361, 0.2225, 0.0139)), (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
                 (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)), (b"rTRC", curve), (b"gTRC", curve),
                 (b"bTRC", curve)]
    else:
        tags += [(b"kTRC", curve)]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        data += b"\x00" * (-len(data) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    data += b"\x00" * (-len(data) % 4)
    header = (struct.pack(">I", start + len(data)) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntr"
              + space + b"XYZ " + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp"
              + b"\x00" * 24 + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249))
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def stored_pattern(height=24, width=40, dtype=np.uint8) -> np.ndarray:
    """A grey picture no rotation or flip maps onto itself."""
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:height, 0:width]
    picture = (0.1 + 0.6 * x / width + 0.25 * (y / height) ** 2) * top
    picture[:4, :6] = top * 0.95  # a bright corner: top-left as stored
    return picture.astype(dtype)


def write_photo(path, picture, *, exif=None, icc=None) -> None:
    types, blocks = [], []
    for kind, block in ((cv2.IMAGE_METADATA_EXIF, exif), (cv2.IMAGE_METADATA_ICCP, icc)):
        if block:
            types.append(kind)
            blocks.append(np.frombuffer(block, np.uint8))
    assert cv2.imwriteWithMetadata(str(path), picture, types, blocks)


# -- reading outputs back, independently -------------------------------------------------------
def jpeg_segments(data: bytes) -> dict[bytes, bytes]:
    """APPn segments of a JPEG by their identifier (b'JFIF', b'Exif', b'ICC_PROFILE')."""
    found, at = {}, 2
    while at + 4 <= len(data) and data[at] == 0xFF and 0xE0 <= data[at + 1] <= 0xEF:
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        body = data[at + 4:at + 2 + length]
        name = body.split(b"\x00", 1)[0]
        found[name] = body[len(name) + 1:]
        at += 2 + length
    return found


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    found, at = {}, 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(
            kind + body), f"bad CRC in {kind}"
        found[kind] = body
        at += 12 + length
    return found


def tiff_tags(block: bytes) -> dict[int, object]:
    order = "<" if block[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", block, 4)
    (count,) = struct.unpack_from(order + "H", block, offset)
    tags = {}
    for i in range(count):
        tag, kind, n = struct.unpack_from(order + "HHI", block, offset + 2 + 12 * i)
        at = offset + 2 + 12 * i + 8
        if kind == 3:
            tags[tag] = struct.unpack_from(order + "H", block, at)[0]
        elif kind == 5:
            (where,) = struct.unpack_from(order + "I", block, at)
            num, den = struct.unpack_from(order + "II", block, where)
            tags[tag] = num / den
        elif kind == 2:
            where = at if n <= 4 else struct.unpack_from(order + "I", block, at)[0]
            tags[tag] = block[where:where + n]
    return tags


def luma(picture) -> np.ndarray:
    if picture.ndim == 2:
        return picture.astype(np.int64)
    return cv2.cvtColor(picture[..., :3], cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.int64)


def needs_icc_support(suffix: str) -> None:
    """The OpenCV the project requires (>= 5.0: 4.x reads no metadata here) writes ICC
    profiles in JPEG and PNG; fail, not skip, where it does not, so these tests always run."""
    icc = np.frombuffer(icc_profile(), np.uint8)
    image = np.zeros((8, 8, 3), np.uint8)
    ok, data = cv2.imencodeWithMetadata(suffix, image, [cv2.IMAGE_METADATA_ICCP], [icc])
    _, types, _ = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED) if ok else (0, [], 0)
    assert cv2.IMAGE_METADATA_ICCP in list(types), (
        f"OpenCV {cv2.__version__} does not write ICC profiles in {suffix}; the project "
        "requires opencv-python-headless>=5.0, which does")


# -- tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_displays_like_the_input(tmp_path, runner, orientation):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    stored = stored_pattern()
    write_photo(source, stored, exif=exif_block(orientation))
    colorize_image(source, target, runner=runner)
    shown_in = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)  # OpenCV applies the tag itself
    out = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert out.shape[:2] == shown_in.shape, "portrait stays portrait"
    assert np.abs(luma(out) - shown_in).max() <= 1, "the output shows what the input showed"
    tags = tiff_tags(png_chunks(target.read_bytes())[b"eXIf"])
    assert tags[0x0112] == 1, "orientation is applied, so the tag says upright"
    assert tags[0x010F] == b"TestCam\x00", "the rest of EXIF is carried"


def test_camera_jpeg_keeps_orientation_exif_icc_and_dpi(tmp_path, runner):
    """The new user's photo: a sideways JPEG with EXIF orientation 6, a profile and 300 dpi."""
    needs_icc_support(".jpg")
    source, target = tmp_path / "IMG_0001.jpg", tmp_path / "IMG_0001_color.jpg"
    icc = icc_profile()
    write_photo(source, stored_pattern(48, 80), exif=exif_block(6, dpi=300), icc=icc)
    colorize_image(source, target, runner=runner)
    out = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    shown_in = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
    assert out.shape == (80, 48, 3) and shown_in.shape == (80, 48)
    assert np.abs(luma(out) - shown_in).mean() < 3, "same picture, upright (JPEG is lossy)"
    segments = jpeg_segments(target.read_bytes())
    tags = tiff_tags(segments[b"Exif"][1:])  # Exif\0\0: the second NUL ends the identifier
    assert tags[0x0112] == 1 and tags[0x010F] == b"TestCam\x00"
    assert tags[0x011A] == 300 and tags[0x0128] == 2
    assert segments[b"ICC_PROFILE"][2:] == icc, "the ICC profile, byte for byte"


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
def test_resolution_is_carried_into_each_format(tmp_path, runner, suffix):
    source, target = tmp_path / "scan.png", tmp_path / f"scan_color{suffix}"
    write_photo(source, stored_pattern(30, 20))
    data = source.read_bytes()
    phys = struct.pack(">IIB", 23622, 23622, 1)  # 600 dpi in pixels per metre
    chunk = struct.pack(">I", 9) + b"pHYs" + phys + struct.pack(">I", zlib.crc32(b"pHYs" + phys))
    source.write_bytes(data[:33] + chunk + data[33:])
    colorize_image(source, target, runner=runner)
    written = target.read_bytes()
    if suffix == ".png":
        x, y, unit = struct.unpack(">IIB", png_chunks(written)[b"pHYs"])
        assert (x, y, unit) == (23622, 23622, 1)
    elif suffix == ".tif":
        tags = tiff_tags(written)
        assert round(tags[0x011A]) == 600 == round(tags[0x011B]) and tags[0x0128] == 2
    else:
        unit, x, y = struct.unpack(">BHH", jpeg_segments(written)[b"JFIF"][2:7])
        assert (unit, x, y) == (1, 600, 600)


def test_sixteen_bit_scan_keeps_depth_profile_and_dpi(tmp_path, runner):
    needs_icc_support(".png")
    source, target = tmp_path / "scan16.png", tmp_path / "scan16_color.png"
    icc = icc_profile()
    scan = np.dstack([stored_pattern(32, 24, np.uint16)] * 3)  # an RGB scan of a grey print
    write_photo(source, scan, exif=exif_block(8, dpi=1200), icc=icc)
    colorize_image(source, target, runner=runner)
    out = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (24, 32, 3)
    shown_in = cv2.imread(str(source), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    assert shown_in.dtype == np.uint16 and shown_in.shape == out.shape
    assert np.abs(luma(out) - luma(shown_in)).max() <= 257
    chunks = png_chunks(target.read_bytes())
    assert zlib.decompress(chunks[b"iCCP"].split(b"\x00", 1)[1][1:]) == icc
    x, _, unit = struct.unpack(">IIB", chunks[b"pHYs"])
    assert unit == 1 and round(x * 0.0254) == 1200


def test_a_grey_profile_is_not_put_on_a_colour_picture(tmp_path, runner):
    needs_icc_support(".png")
    source, target = tmp_path / "grey.png", tmp_path / "grey_color.png"
    write_photo(source, stored_pattern(), icc=icc_profile(b"GRAY"))
    assert b"iCCP" in png_chunks(source.read_bytes())
    colorize_image(source, target, runner=runner)
    assert b"iCCP" not in png_chunks(target.read_bytes())
    assert cv2.imread(str(target), cv2.IMREAD_UNCHANGED).shape == (24, 40, 3)

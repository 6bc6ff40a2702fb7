"""Film jobs over the single pass's matrix of inputs: the joined film is the single pass.

Each input of the single pass's fidelity tests (alpha, rotation, odd sizes, 10-bit, 4:2:2 and
4:4:4, grey, full range, RGB, interlaced, variable frame rate, 1001 rates) is colorized twice,
as a film job cut into several short segments and with ``--no-segments``, with the stabilizer
off (no state across frames) and a lossless encoder. The two outputs must agree in every
frame (pts, pixel format, every plane, alpha included, bit for bit), in the stream's tags
as ffprobe reads them, and in the frames' interlacing flags.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
import pytest

from helpers import video_pts
from streamcolor import colorize_file
from streamcolor.config import EncodeConfig, ModelConfig, TemporalConfig
from streamcolor.jobs import JobConfig, run_films
from streamcolor.jobs.packets import PacketWriter, read_packets
from streamcolor.media.decoders import decode_from, video_decoder
from streamcolor.media.frames import plane_array
from streamcolor.testing import ClipSpec, make_clip

FRAMES = 12  # 0.48 s at 25 fps: four segments of 0.12 s
SEGMENT_SECONDS = 0.12
OFF = TemporalConfig(enabled=False)
FFV1 = EncodeConfig(codec="ffv1")
X264_LOSSLESS = EncodeConfig(codec="libx264", options=(("qp", "0"),))
VP9_LOSSLESS = EncodeConfig(options=(("lossless", "1"),))
VFR_PTS = (0, 33, 70, 100, 180, 200, 260, 300, 333, 420, 450, 500, 533, 600, 640, 700, 733)
STREAM_KEYS = ("codec_name", "width", "height", "pix_fmt", "sample_aspect_ratio",
               "display_aspect_ratio", "color_range", "color_space", "color_transfer",
               "color_primaries", "field_order", "r_frame_rate", "avg_frame_rate", "time_base",
               "start_pts", "nb_frames")
FRAME_KEYS = ("pts", "interlaced_frame", "top_field_first", "pix_fmt", "width", "height")


def _pattern(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 4 + y + index * 7) % 256).astype(np.uint8)


def _write(path, codec: str, pix_fmt: str, *, alpha: bool = False, setup: Callable | None = None,
           frames: int = FRAMES, **options) -> None:
    """A moving grey pattern (with a moving alpha pattern) in ``codec``/``pix_fmt``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        if setup:
            setup(stream)
        for index in range(frames):
            grey = _pattern(index + 3)
            if alpha:
                rgba = np.dstack([grey, grey, grey, _pattern(index)])
                frame = av.VideoFrame.from_ndarray(rgba, format="rgba")
            else:
                frame = av.VideoFrame.from_ndarray(grey, format="gray")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _tagged(stream) -> None:
    ctx = stream.codec_context
    ctx.sample_aspect_ratio = Fraction(4, 3)
    ctx.color_primaries = ctx.color_trc = ctx.colorspace = 1  # BT.709
    stream.set_display_rotation(90)


def _top_field_first(stream) -> None:
    stream.codec_context.field_order = 2  # AV_FIELD_TT


def _rgb_matrix(stream) -> None:
    stream.codec_context.colorspace = 0  # AVCOL_SPC_RGB: the frames decode tagged as RGB


@dataclasses.dataclass(frozen=True)
class Case:
    """An input (written by ``make(path)``) and how both runs encode it."""

    source: str
    make: Callable
    output: str = ".mkv"
    encode: EncodeConfig = FFV1


def _clip(**spec) -> Callable:
    return lambda path: make_clip(path, ClipSpec(**{"frames": FRAMES, **spec}))


def _ffv1_clip(**spec) -> Callable:
    return _clip(codec="ffv1", codec_options=(), **spec)


CASES = {
    "vp9-alpha-to-webm": Case("in.webm", lambda p: _write(p, "libvpx-vp9", "yuva420p",
                                                          alpha=True, lossless="1"),
                              ".webm", VP9_LOSSLESS),
    "vp9-alpha-to-ffv1": Case("in.webm", lambda p: _write(p, "libvpx-vp9", "yuva420p",
                                                          alpha=True, lossless="1")),
    "prores4444-alpha": Case("in.mov", lambda p: _write(p, "prores_ks", "yuva444p10le",
                                                        alpha=True, profile="4444")),
    "png-rgba": Case("in.mov", lambda p: _write(p, "png", "rgba", alpha=True)),
    "qtrle-argb": Case("in.mov", lambda p: _write(p, "qtrle", "argb", alpha=True)),
    "rgb": Case("in.mkv", _ffv1_clip(pix_fmt="bgr0")),
    "rgb-tagged-rgb": Case("in.mkv", lambda p: _write(p, "ffv1", "bgr0", setup=_rgb_matrix)),
    "rotation-sar-tags": Case("in.mp4", lambda p: _write(p, "libx264", "yuv420p", setup=_tagged,
                                                         preset="ultrafast"),
                              ".mp4", X264_LOSSLESS),
    "interlaced": Case("in.mkv", lambda p: _write(p, "libx264", "yuv420p",
                                                  setup=_top_field_first, preset="ultrafast",
                                                  flags="+ildct+ilme"),
                       ".mkv", EncodeConfig(codec="libx264", options=(("qp", "0"),
                                                                      ("flags", "+ildct+ilme")))),
    "odd-size": Case("in.mkv", _ffv1_clip(width=33, height=17)),
    "odd-size-to-x264": Case("in.mkv", _ffv1_clip(width=35, height=21), ".mkv", X264_LOSSLESS),
    "yuv422p": Case("in.mkv", _ffv1_clip(pix_fmt="yuv422p", width=40, height=30)),
    "yuv444p": Case("in.mkv", _ffv1_clip(pix_fmt="yuv444p", width=40, height=30)),
    "ten-bit-420": Case("in.mkv", _ffv1_clip(pix_fmt="yuv420p10le", width=35, height=21)),
    "ten-bit-422": Case("in.mkv", _ffv1_clip(pix_fmt="yuv422p10le", width=32, height=18)),
    "ten-bit-x264": Case("in.mkv", _clip(pix_fmt="yuv420p10le", width=36, height=22),
                         ".mkv", X264_LOSSLESS),
    "gray": Case("in.mkv", _ffv1_clip(pix_fmt="gray", width=41, height=23)),
    "gray10": Case("in.mkv", _ffv1_clip(pix_fmt="gray10le", width=32, height=24)),
    "full-range-mjpeg": Case("in.mkv", _clip(pix_fmt="yuvj420p", codec="mjpeg",
                                             codec_options=(), width=48, height=32)),
    "vfr": Case("in.mkv", _clip(frames=len(VFR_PTS), pts=VFR_PTS)),
    "vfr-b-frames": Case("in.mkv", _clip(frames=len(VFR_PTS), pts=VFR_PTS,
                                         codec_options=(("preset", "medium"),))),
    "ntsc-mp4": Case("in.mp4", _clip(rate=Fraction(30000, 1001),
                                     time_base=Fraction(1001, 30000)), ".mp4", X264_LOSSLESS),
    "ntsc-mkv": Case("in.mkv", _clip(rate=Fraction(30000, 1001))),
    "ntsc-60-b-frames": Case("in.mp4", _clip(frames=24, rate=Fraction(60000, 1001),
                                             time_base=Fraction(1, 60000),
                                             codec_options=(("preset", "medium"),)),
                             ".mp4", X264_LOSSLESS),
}


def _frames(path) -> list[tuple[Fraction, str, list[np.ndarray]]]:
    """(time, pixel format, every plane) of each frame; alpha read where the file has it."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in decode_from(container, stream, video_decoder(stream)):
            dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
            planes = [plane_array(p, dtype).copy() for p in frame.planes]
            out.append((frame.pts * frame.time_base, frame.format.name, planes))
    return out


def _times(path) -> list[Fraction]:
    """Each frame's time in the input, to the millisecond (as Matroska keeps it)."""
    with av.open(str(path)) as container:
        return [round(f.pts * f.time_base, 3) for f in container.decode(video=0)]


def _stream(ffprobe, path) -> dict:
    """The video stream as ffprobe reads it: format, size, colour, rates, tags, side data."""
    video = ffprobe(path, "-show_streams", "-select_streams", "v:0")["streams"][0]
    seen = {key: video.get(key) for key in STREAM_KEYS}
    seen["tags"] = {k.lower(): v for k, v in video.get("tags", {}).items()}
    seen["side_data"] = [{k: v for k, v in d.items() if k != "displaymatrix"}
                         for d in video.get("side_data_list", [])]
    return seen


def _frame_flags(ffprobe, path) -> list[dict]:
    """Each frame's pts, interlacing flags, format and size as ffprobe decodes them."""
    entries = "frame=" + ",".join(FRAME_KEYS)
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries", entries)["frames"]
    return [{k: f.get(k) for k in FRAME_KEYS} for f in frames]


def _both(source, tmp_path, model_path, case: Case):
    model = ModelConfig(model=str(model_path), provider="cpu", batch_size=4)
    single, film = tmp_path / f"single{case.output}", tmp_path / f"film{case.output}"
    colorize_file(source, single, model=model, encode=case.encode, temporal=OFF)
    summary = run_films([(source, film)], model=model, encode=case.encode, temporal=OFF,
                        job=JobConfig(segment_seconds=SEGMENT_SECONDS))
    assert summary.segments >= 3, "the case should cut the film into several segments"
    return single, film


@pytest.mark.parametrize("name", CASES)
def test_film_job_equals_the_single_pass(name, tmp_path, model_path, ffprobe):
    case = CASES[name]
    source = tmp_path / case.source
    case.make(source)
    single, film = _both(source, tmp_path, model_path, case)
    assert _stream(ffprobe, film) == _stream(ffprobe, single)
    assert _frame_flags(ffprobe, film) == _frame_flags(ffprobe, single)
    a, b = _frames(film), _frames(single)
    assert len(a) == len(b) == len(video_pts(source))
    assert [f[0] for f in a] == [f[0] for f in b]
    assert [round(f[0], 3) for f in a] == _times(source)
    assert [f[1] for f in a] == [f[1] for f in b]
    for index, ((_, _, got), (_, _, want)) in enumerate(zip(a, b, strict=True)):
        assert len(got) == len(want)
        for plane, (x, y) in enumerate(zip(got, want, strict=True)):
            assert np.array_equal(x, y), f"frame {index} plane {plane} differs"


def test_vp9_alpha_film_job_with_default_settings(tmp_path, model_path):
    """The issue's case: ``colorize IN.webm -o OUT.webm`` (lossy VP9, stabilizer on, so
    warm-up frames too) keeps the alpha plane as well as ``--no-segments`` does."""
    source = tmp_path / "in.webm"
    _write(source, "libvpx-vp9", "yuva420p", alpha=True)
    model = ModelConfig(model=str(model_path), provider="cpu")
    single, film = tmp_path / "single.webm", tmp_path / "film.webm"
    colorize_file(source, single, model=model)
    assert run_films([(source, film)], model=model,
                     job=JobConfig(segment_seconds=SEGMENT_SECONDS)).segments >= 3
    original, a, b = _frames(source), _frames(film), _frames(single)
    assert [f[0] for f in a] == [f[0] for f in b] == [f[0] for f in original]
    assert {f[1] for f in a} == {f[1] for f in b} == {"yuva420p"}
    error = lambda frames: [float(np.abs(f[2][3].astype(int) - o[2][3]).mean())  # noqa: E731
                            for f, o in zip(frames, original, strict=True)]
    assert max(error(a)) < 3 and np.mean(error(a)) <= 1.5 * np.mean(error(b)), error(a)


def test_own_decoder_is_flushed_at_a_seek_and_drained_at_the_end(tmp_path):
    """A decoder of one's own (as for alpha) is not flushed by ``container.seek``; with frame
    threads and B-frames it holds several frames: none is lost, none comes out twice."""
    source = make_clip(tmp_path / "in.mkv", ClipSpec(frames=24, codec_options=(
        ("preset", "medium"), ("g", "6"), ("sc_threshold", "0"))))
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("h264", "r")
        decoder.extradata = stream.codec_context.extradata
        decoder.thread_type, decoder.thread_count = "FRAME", 4
        frames = list(decode_from(container, stream, decoder))
        every = [f.pts for f in frames]
        assert every == sorted(video_pts(source)), "frames left in the decoder at the end"
        assert {f.time_base for f in frames} == {stream.time_base}
        container.seek(every[12], stream=stream, backward=True)
        partial = decode_from(container, stream, decoder)
        assert [next(partial).pts for _ in range(2)] == every[12:14]
        container.seek(every[6], stream=stream, backward=True)
        assert [f.pts for f in decode_from(container, stream, decoder)] == every[6:]


def _vp9_alpha_packets(path) -> list[av.Packet]:
    _write(path, "libvpx-vp9", "yuva420p", alpha=True, frames=3)
    with av.open(str(path)) as container:
        return [p for p in container.demux(video=0) if p.size]


def _side_data(packet) -> list[tuple[str, bytes]]:
    return [(side.data_type, bytes(side)) for side in packet.iter_sidedata()]


def test_segment_file_keeps_packet_side_data(tmp_path):
    """VP9's alpha plane travels as Matroska BlockAdditional side data of each packet."""
    originals = _vp9_alpha_packets(tmp_path / "in.webm")
    assert all(_side_data(p) for p in originals)
    target = tmp_path / "s.packets"
    writer = PacketWriter(target, time_base=Fraction(1, 1000), codec="vp9", extradata=None)
    for packet in originals:
        writer.write(packet)
    writer.commit()
    back = list(read_packets(target))
    assert [(p.pts, p.dts, p.duration, p.is_keyframe, bytes(p), _side_data(p)) for p in back] \
        == [(p.pts, p.dts, p.duration, p.is_keyframe, bytes(p), _side_data(p))
            for p in originals]


def test_segment_file_of_the_first_format_is_still_read(tmp_path):
    """A job resumed after an upgrade joins the segment files an older version wrote."""
    header = b'{"time_base": [1, 1000], "codec": "h264", "extradata": ""}'
    record = struct.pack("<qqqBI", 40, 20, 40, 1, 3) + b"abc"
    target = tmp_path / "old.packets"
    target.write_bytes(b"SCPK1\n" + struct.pack("<I", len(header)) + header + record)
    (packet,) = read_packets(target)
    assert (packet.pts, packet.dts, packet.duration, packet.is_keyframe, bytes(packet)) == \
        (40, 20, 40, True, b"abc")
    assert packet.time_base == Fraction(1, 1000) and not _side_data(packet)

"""The output is the same film in every respect but colour: frames, timestamps, streams, tags."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from helpers import encode_flat_frames, luma_planes, packets, require, video_pts
from streamcolor import EncodeConfig, ModelConfig, colorize_file
from streamcolor.media.frames import plane_array
from streamcolor.testing import AudioTrack, ClipSpec, _pattern

VFR_PTS = (0, 33, 70, 100, 180, 200, 260, 300, 333, 420, 450, 500, 533, 600, 640, 700, 733)

RICH = ClipSpec(
    frames=len(VFR_PTS), pts=VFR_PTS,
    audio=(AudioTrack(frequency=440, codec="aac", language="eng", title="Main"),
           AudioTrack(frequency=660, codec="flac", layout="mono", language="fre",
                      title="Commentary")),
    subtitles=((0.05, 0.30, "Hello"), (0.40, 0.70, "World")),
    chapters=((0.0, 0.3, "Opening"), (0.3, 0.75, "Ending")),
    metadata=(("title", "A test film"), ("comment", "made by the tests")),
)


@pytest.fixture
def rich_pair(clip, model_path, tmp_path):
    source = clip(RICH)
    output = tmp_path / "out.mkv"
    summary = colorize_file(source, output, model=ModelConfig(model=str(model_path), batch_size=4))
    return source, output, summary


def test_vfr_frames_and_pts_survive(rich_pair):
    source, output, summary = rich_pair
    assert summary.frames == len(VFR_PTS)
    assert sorted(video_pts(output)) == list(VFR_PTS) == sorted(video_pts(source))


def test_vfr_pts_seen_by_ffprobe(rich_pair, ffprobe):
    source, output, _ = rich_pair
    frames = ffprobe(output, "-select_streams", "v:0", "-show_entries", "frame=pts")["frames"]
    assert [f["pts"] for f in frames] == list(VFR_PTS)


def test_audio_and_subtitle_packets_are_copied_byte_for_byte(rich_pair):
    source, output, _ = rich_pair
    with av.open(str(source)) as c:
        copied = [s.index for s in c.streams if s.type in ("audio", "subtitle")]
    assert len(copied) == 3
    for index in copied:
        original = packets(source, index)
        assert original, f"stream {index} of the source has no packets"
        assert packets(output, index) == original


def test_streams_tags_chapters_and_metadata_seen_by_ffprobe(rich_pair, ffprobe):
    source, output, _ = rich_pair
    keys = ["-show_streams", "-show_chapters", "-show_format"]
    before, after = ffprobe(source, *keys), ffprobe(output, *keys)
    describe = lambda probe: [  # noqa: E731
        (s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"),
         s.get("tags", {}).get("title"), s.get("sample_rate"), s.get("channels"))
        for s in probe["streams"]
    ]
    assert describe(after) == describe(before)
    assert [s["codec_type"] for s in after["streams"]] == ["video", "audio", "audio", "subtitle"]
    chapters = lambda probe: [(c["start_time"], c["end_time"], c["tags"]["title"])  # noqa: E731
                              for c in probe["chapters"]]
    assert chapters(after) == chapters(before) and len(chapters(after)) == 2
    tags = lambda probe: {k.lower(): v for k, v in probe["format"]["tags"].items()  # noqa: E731
                          if k.lower() != "encoder"}
    assert tags(after) == tags(before) and tags(after)["comment"] == "made by the tests"
    video = after["streams"][0]
    assert video["pix_fmt"] == "yuv420p" and video["codec_name"] == "h264"


def test_ntsc_rate_and_time_base_kept(clip, model_path, tmp_path, ffprobe):
    spec = ClipSpec(frames=10, rate=Fraction(30000, 1001), time_base=Fraction(1001, 30000))
    source = clip(spec, "ntsc.mp4")
    output = tmp_path / "out.mp4"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    probe = lambda p: ffprobe(p, "-show_streams", "-select_streams", "v:0")["streams"][0]  # noqa
    assert probe(output)["r_frame_rate"] == probe(source)["r_frame_rate"] == "30000/1001"
    assert probe(output)["nb_frames"] == probe(source)["nb_frames"] == "10"
    with av.open(str(source)) as a, av.open(str(output)) as b:
        assert [f.time for f in a.decode(video=0)] == [f.time for f in b.decode(video=0)]


def _lossless(clip, model_path, tmp_path, spec: ClipSpec):
    source = clip(spec, "in.mkv")
    output = tmp_path / "out.mkv"
    summary = colorize_file(source, output, model=ModelConfig(model=str(model_path), batch_size=3),
                            encode=EncodeConfig(codec="ffv1"))
    return source, output, summary


@pytest.mark.parametrize("pix_fmt, width, height", [
    ("yuv420p", 64, 48),
    ("yuv420p", 33, 17),  # odd width and height
    ("yuv422p", 40, 30),
    ("yuv444p", 40, 30),
    ("yuv420p10le", 35, 21),
    ("yuv422p10le", 32, 18),
    ("gray", 41, 23),
    ("gray10le", 32, 24),
])
def test_luma_passthrough_is_bit_exact(clip, model_path, tmp_path, pix_fmt, width, height):
    spec = ClipSpec(width=width, height=height, frames=7, pix_fmt=pix_fmt, codec="ffv1",
                    codec_options=())
    source, output, summary = _lossless(clip, model_path, tmp_path, spec)
    before, after = luma_planes(source), luma_planes(output)
    assert summary.frames == len(before) == len(after) == 7
    for a, b in zip(before, after, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape == (height, width)
        np.testing.assert_array_equal(a, b)


def test_full_range_jpeg_input_keeps_luma_and_range(clip, model_path, tmp_path, ffprobe):
    spec = ClipSpec(width=48, height=32, frames=4, pix_fmt="yuvj420p", codec="mjpeg",
                    codec_options=())
    source, output, _ = _lossless(clip, model_path, tmp_path, spec)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert (stream["pix_fmt"], stream["color_range"]) == ("yuv420p", "pc")


@pytest.mark.parametrize("pix_fmt, expected", [
    ("gray", "yuv420p"), ("gray10le", "yuv420p10le"),
    ("yuv422p10le", "yuv422p10le"), ("yuv444p", "yuv444p"),
])
def test_output_pixel_format_and_range(clip, model_path, tmp_path, ffprobe, pix_fmt, expected):
    spec = ClipSpec(frames=3, pix_fmt=pix_fmt, codec="ffv1", codec_options=())
    _, output, _ = _lossless(clip, model_path, tmp_path, spec)
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert stream["pix_fmt"] == expected


@pytest.mark.parametrize("pix_fmt", ["gray16le", "gray12le"])
def test_deep_grey_keeps_what_the_encoder_can_hold(clip, model_path, tmp_path, ffprobe,
                                                    pix_fmt):
    """A 12/16-bit grey scan sent to libx264 (at most 10 bits) is encoded at 10 bits, full
    range, within one 10-bit code of the source's luma (it was 8-bit: 4 codes off)."""
    source = clip(ClipSpec(width=48, height=32, frames=3, pix_fmt=pix_fmt, codec="ffv1",
                           codec_options=()), "in.mkv")
    output = tmp_path / "out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                  encode=EncodeConfig(codec="libx264", options=(("qp", "0"),)))
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert (stream["pix_fmt"], stream["color_range"]) == ("yuv420p10le", "pc")
    scale = 1023 / (2 ** av.VideoFormat(pix_fmt).components[0].bits - 1)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        assert np.abs(b.astype(float) - a * scale).max() <= 1.0


@pytest.mark.parametrize("pix_fmt", ["gray", "gray10le"])
def test_untagged_grey_looks_the_same_in_colour(clip, model_path, tmp_path, pix_fmt):
    """Grey without a range tag is full range to FFmpeg; the colour output must say so, or
    every player stretches its contrast (32 shown as 19, 224 as 242). FFmpeg's command line,
    converting each to grey, is the independent reader."""
    exe = shutil.which("ffmpeg")
    require(exe is not None, "needs FFmpeg's command line (apt-get install ffmpeg)")
    source = clip(ClipSpec(width=64, height=16, frames=2, pix_fmt=pix_fmt, codec="ffv1",
                           codec_options=()), "in.mkv")
    output = tmp_path / "out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                  encode=EncodeConfig(codec="ffv1"))

    def seen(path) -> bytes:
        return subprocess.run([exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-vf",
                               "format=gray16le", "-f", "rawvideo", "-"],
                              check=True, capture_output=True).stdout

    shown, original = np.frombuffer(seen(output), "<u2"), np.frombuffer(seen(source), "<u2")
    assert original.max() > original.min()  # a picture with contrast to lose
    assert np.abs(shown.astype(int) - original).max() <= 128, (original[:8], shown[:8])


def test_grey_tagged_limited_stays_limited():
    from streamcolor.media.frames import plan_formats

    assert plan_formats("gray", None).full_range
    assert plan_formats("gray10le", None, color_range=2).full_range
    assert not plan_formats("gray", None, color_range=1).full_range
    assert not plan_formats("yuv420p", None).full_range


def test_chroma_is_coloured_not_grey(clip, model_path, tmp_path):
    _, output, _ = _lossless(clip, model_path, tmp_path, ClipSpec(frames=3, codec="ffv1",
                                                                  codec_options=()))
    with av.open(str(output)) as c:
        frame = next(c.decode(video=0))
        cb = plane_array(frame.planes[1], np.uint8)
        cr = plane_array(frame.planes[2], np.uint8)
    assert np.abs(cb.astype(int) - 128).max() > 10 and np.abs(cr.astype(int) - 128).max() > 3
    assert cb.std() > 2, "chroma should vary with the picture"


def test_ten_bit_x264(clip, model_path, tmp_path, ffprobe):
    source = clip(ClipSpec(width=36, height=22, frames=6, pix_fmt="yuv420p10le"), "ten.mkv")
    output = tmp_path / "ten_out.mkv"
    summary = colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert (stream["width"], stream["height"], stream["pix_fmt"]) == (36, 22, "yuv420p10le")
    assert summary.frames == 6 == len(video_pts(output))


@pytest.mark.parametrize("pix_fmt, expected", [("yuv420p", "yuv444p"),
                                               ("yuv420p10le", "yuv444p10le")])
def test_odd_size_to_x264_gets_full_chroma_and_keeps_luma(clip, model_path, tmp_path, ffprobe,
                                                          pix_fmt, expected):
    """libx264 refuses odd sizes with subsampled chroma: 4:4:4 keeps the size and the luma."""
    source = clip(ClipSpec(width=35, height=21, frames=5, pix_fmt=pix_fmt, codec="ffv1",
                           codec_options=()), "odd.mkv")
    output = tmp_path / "odd_out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                  encode=EncodeConfig(options=(("qp", "0"),)))
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert (stream["width"], stream["height"], stream["pix_fmt"]) == (35, 21, expected)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)


def _yuv444_planes(path) -> list[np.ndarray]:
    """(3, h, w) uint8 Y, Cb, Cr of every frame, as decoded (a 4:4:4 8-bit output)."""
    with av.open(str(path)) as container:
        return [np.stack([plane_array(f.planes[i], np.uint8).copy() for i in range(3)])
                for f in container.decode(video=0)]


def test_rgb_input_is_colorized_with_every_frame(tmp_path, model_path, ffprobe):
    """A tinted RGB film (bgr0): every frame out, its luma the input's (BT.601, by formula),
    its colour the model's (as for the same picture in Y'CbCr), none of the input's tint."""
    spec = ClipSpec(width=64, height=48, frames=5)
    rgb_source, yuv_source = tmp_path / "rgb.mkv", tmp_path / "yuv.mkv"
    pictures = []
    with av.open(str(rgb_source), "w") as rgb_out, av.open(str(yuv_source), "w") as yuv_out:
        rgb_stream = rgb_out.add_stream("ffv1", rate=25)
        yuv_stream = yuv_out.add_stream("ffv1", rate=25)
        rgb_stream.width = yuv_stream.width = spec.width
        rgb_stream.height = yuv_stream.height = spec.height
        rgb_stream.pix_fmt, yuv_stream.pix_fmt = "bgr0", "yuv444p"
        for index in range(spec.frames):
            grey = _pattern(index, spec)
            rgb = np.rint(255 * np.dstack([np.clip(grey * 1.2, 0, 1), grey * 0.9, grey * 0.6]))
            pictures.append(rgb.astype(np.float64))
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            for stream, out in ((rgb_stream, rgb_out), (yuv_stream, yuv_out)):
                converted = frame.reformat(format=stream.pix_fmt)
                converted.pts = index
                out.mux(stream.encode(converted))
        for stream, out in ((rgb_stream, rgb_out), (yuv_stream, yuv_out)):
            out.mux(stream.encode(None))
    lossless = EncodeConfig(options=(("qp", "0"),))
    outputs = {}
    for name, source in (("rgb", rgb_source), ("yuv", yuv_source)):
        outputs[name] = tmp_path / f"{name}_out.mkv"
        colorize_file(source, outputs[name], model=ModelConfig(model=str(model_path)),
                      encode=lossless)
    assert len(video_pts(outputs["rgb"])) == 5
    assert ffprobe(outputs["rgb"], "-show_streams")["streams"][0]["pix_fmt"] == "yuv444p"
    rgb_out, yuv_out = _yuv444_planes(outputs["rgb"]), _yuv444_planes(outputs["yuv"])
    for rgb, got, same_picture in zip(pictures, rgb_out, yuv_out, strict=True):
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        luma = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255  # BT.601, video range
        assert np.abs(got[0] - luma).max() <= 1.0, "the luma is the input's"
        tint_cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255  # the input's own Cr
        assert np.abs(got[1:].astype(int) - 128).max() > 3 and got[1].std() > 1, "coloured"
        assert np.abs(got[2] - tint_cr).mean() > 3, "the input's tint is not kept"
        assert np.abs(got[1:].astype(int) - same_picture[1:]).max() <= 2, (
            "the model's colour, as for the same picture in Y'CbCr")


def test_rotation_sar_and_colour_tags_kept(tmp_path, model_path, ffprobe):
    source = tmp_path / "tagged.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        ctx = stream.codec_context
        ctx.sample_aspect_ratio = Fraction(4, 3)
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = 1  # BT.709
        stream.set_display_rotation(90)
        encode_flat_frames(out, stream, 4, 40)
    output = tmp_path / "tagged_out.mp4"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    keys = ("sample_aspect_ratio", "color_primaries", "color_transfer", "color_space")
    probe = lambda p: ffprobe(p, "-show_streams")["streams"][0]  # noqa: E731
    before, after = probe(source), probe(output)
    assert [after.get(k) for k in keys] == [before.get(k) for k in keys]
    assert after["sample_aspect_ratio"] == "4:3" and after["color_primaries"] == "bt709"
    rotation = lambda s: [d.get("rotation") for d in s.get("side_data_list", [])  # noqa: E731
                          if "rotation" in d]
    assert rotation(after) == rotation(before) and rotation(after), "rotation lost"


def test_interlaced_field_order_kept(tmp_path, model_path, ffprobe):
    source = tmp_path / "interlaced.mkv"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=25,
                                options={"preset": "ultrafast", "flags": "+ildct+ilme"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.field_order = 2  # AV_FIELD_TT
        encode_flat_frames(out, stream, 4, 30)
    before = ffprobe(source, "-show_streams")["streams"][0].get("field_order")
    if before in (None, "progressive", "unknown"):
        pytest.skip(f"this FFmpeg's libx264 wrote no interlaced field order ({before!r})")
    output = tmp_path / "interlaced_out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                  encode=EncodeConfig(options=(("flags", "+ildct+ilme"),)))
    assert ffprobe(output, "-show_streams")["streams"][0].get("field_order") == before


def test_data_stream_copied(tmp_path, model_path, clip):
    """A data stream (here: a bin_data stream in MPEG-TS) is copied packet for packet.

    Like real transport streams, the clip starts after a mux delay (1.4 s): a TS cannot hold
    negative timestamps, so one starting at 0 would be shifted by the encoder's B-frame delay.
    """
    video = clip(ClipSpec(frames=6, pts=tuple(1400 + 40 * i for i in range(6))), "plain.mkv")
    source = tmp_path / "with_data.ts"
    with av.open(str(video)) as inp, av.open(str(source), "w") as out:
        vs = out.add_stream_from_template(inp.streams.video[0])
        ds = out.add_data_stream("bin_data")
        ds.time_base = Fraction(1, 1000)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = vs
                out.mux(packet)
        for i in range(3):
            payload = av.Packet(f"data packet {i}".encode())
            payload.stream, payload.pts, payload.dts = ds, 1400 + i * 80, 1400 + i * 80
            payload.time_base = Fraction(1, 1000)
            out.mux(payload)
    output = tmp_path / "out.ts"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    original = packets(source, 1)
    assert len(original) == 3 and packets(output, 1) == original


def test_attached_picture_is_copied_not_colorized(tmp_path, model_path, clip, ffprobe):
    import shutil
    import subprocess

    require(shutil.which("ffmpeg") is not None,
            "ffmpeg not found: install Debian's ffmpeg package")
    video = clip(ClipSpec(frames=6))
    cover = tmp_path / "cover.png"
    av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24").save(str(cover))
    source = tmp_path / "with_cover.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-attach", str(cover),
                    "-metadata:s:t", "mimetype=image/png", "-c", "copy", str(source)], check=True)
    output = tmp_path / "cover_out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    kinds = lambda p: [(s["codec_type"], s.get("tags", {}).get("filename"),  # noqa: E731
                        s["disposition"]["attached_pic"])
                       for s in ffprobe(p, "-show_streams")["streams"]]
    assert kinds(output) == kinds(source) == [("video", None, 0), ("video", "cover.png", 1)]
    assert packets(output, 1) == packets(source, 1) != []


def test_mp4_to_mp4_keeps_negative_audio_pts_exactly(clip, model_path, tmp_path):
    source = clip(ClipSpec(frames=20, audio=(AudioTrack(),)), "aac.mp4")
    assert packets(source, 1)[0][0] < 0, "AAC priming should start before zero"
    output = tmp_path / "out.mp4"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))
    assert packets(output, 1) == packets(source, 1)
    assert video_pts(output) == video_pts(source)


def test_mp4_to_mkv_shifts_all_streams_alike(clip, model_path, tmp_path):
    """Matroska cannot start before zero: its muxer moves every stream by the same amount."""
    source = clip(ClipSpec(frames=20, audio=(AudioTrack(),)), "aac.mp4")
    output = tmp_path / "out.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path)))

    def times(path):
        with av.open(str(path)) as c:
            v, audio_tb = c.streams.video[0], c.streams.audio[0].time_base
            video = sorted(float(f.pts * v.time_base) for f in c.decode(v))
        audio = [float(pts * audio_tb) for pts, _ in packets(path, 1)]
        return video, audio

    (v0, a0), (v1, a1) = times(source), times(output)
    shift = a1[0] - a0[0]
    assert shift > 0
    assert max(abs(x - y - shift) for x, y in zip(v1, v0, strict=True)) < 0.0011  # ms rounding
    assert max(abs(x - y - shift) for x, y in zip(a1, a0, strict=True)) < 0.0011
    assert [b for _, b in packets(output, 1)] == [b for _, b in packets(source, 1)]

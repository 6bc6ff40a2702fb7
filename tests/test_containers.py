"""What output containers impose, and inputs that need care: a video encoder each container
holds, streams converted (or named) when the container cannot hold them, QuickTime timecode
tracks, elementary streams without timestamps, alpha. Media generated here; ffprobe checks."""

from __future__ import annotations

import fractions
import pathlib
import shutil
import subprocess

import av
import numpy as np
import pytest

from helpers import luma_planes, packets, require, video_pts
from streamcolor import EncodeConfig, ModelConfig, PipelineConfig, colorize, colorize_file
from streamcolor.cli.main import main
from streamcolor.errors import IncompatibleStreamError
from streamcolor.media.frames import plane_array
from streamcolor.testing import AudioTrack, ClipSpec, _grey_frame, _pattern

SUBTITLES = ((0.2, 0.6, "hello"), (0.7, 1.1, "second line"))


def cpu(model_path) -> ModelConfig:
    return ModelConfig(model=str(model_path), provider="cpu")


def run(source, output, model_path, notes=None, **encode):
    """colorize_file with the tiny model; ``notes`` collects the sink's announced notes."""
    def keep(runner, sink):
        if notes is not None:
            notes.extend(sink.notes)
            notes.extend(f"encoder {c}" for c in sink.codecs)

    return colorize_file(source, output, model=cpu(model_path),
                         encode=EncodeConfig(**encode), on_start=keep)


def streams(ffprobe, path) -> list[dict]:
    return ffprobe(path, "-show_streams")["streams"]


@pytest.fixture
def mixed(clip):
    """An MKV with AAC and AC-3 audio and SubRip subtitles."""
    return clip(ClipSpec(frames=30, audio=(AudioTrack(codec="aac", language="eng"),
                                           AudioTrack(codec="ac3", language="ger")),
                         subtitles=SUBTITLES), "mixed.mkv")


# -- a video encoder the container holds ----------------------------------------------------
@pytest.mark.parametrize(("suffix", "codec"), [(".webm", "vp9"), (".mp4", "h264"),
                                               (".mov", "h264"), (".mkv", "h264"),
                                               (".avi", "mpeg4"), (".mpg", "mpeg1video")])
def test_default_video_encoder_per_container(suffix, codec, clip, tmp_path, model_path, ffprobe):
    source = clip(ClipSpec(frames=8))
    output = tmp_path / f"out{suffix}"
    summary = run(source, output, model_path)
    video = [s for s in streams(ffprobe, output) if s["codec_type"] == "video"]
    assert summary.frames == 8 and [s["codec_name"] for s in video] == [codec]


def _x264_settings(path) -> dict[str, str]:
    """The settings x264 itself records in the stream (its SEI 'options:' string)."""
    data = pathlib.Path(path).read_bytes()
    start = data.find(b"x264 - core")
    assert start >= 0, "no x264 settings in the stream"
    text = data[start : start + 2000].split(b"\x00")[0].decode("ascii", "replace")
    return dict(item.split("=", 1) for item in text.split("options: ", 1)[1].split()
                if "=" in item)


def _keyframes(ffprobe, path) -> list[int]:
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries", "frame=key_frame")
    return [i for i, f in enumerate(frames["frames"]) if f["key_frame"] == 1]


def test_encoder_defaults_and_live_settings(clip, tmp_path, model_path, ffprobe):
    """What the encoders were really given, read back from what they wrote: x264's own
    record of its settings, VP9's keyframes and bytes (not the module's option dicts)."""
    source = clip(ClipSpec(frames=60))  # 25 fps

    def encoded(name, **encode):
        output = tmp_path / name
        run(source, output, model_path, **encode)
        return output

    live = _x264_settings(encoded("live.mkv", live=True))
    assert live["crf"] == "18.0" and live["keyint"] == "50", live  # a keyframe every 2 s
    assert live["bframes"] == "0" and live["mbtree"] == "0", live  # zerolatency: no lookahead
    assert (live["subme"], live["me"], live["ref"]) == ("2", "hex", "1"), live  # veryfast
    own = _x264_settings(encoded("own.mkv", live=True, preset="fast", options=(("g", "10"),)))
    assert own["keyint"] == "10" and (own["subme"], own["ref"]) == ("6", "2"), own  # fast
    plain = _x264_settings(encoded("plain.mkv"))
    assert plain["bframes"] != "0" and plain["mbtree"] == "1", plain  # not live: lookahead

    settings = {"default": {}, "crf31": {"crf": 31}, "crf20": {"crf": 20}}
    vp9 = {name: [data for _, data in packets(encoded(f"{name}.webm", **given), 0)]
           for name, given in settings.items()}
    assert vp9["default"] == vp9["crf31"], "VP9's default quality is CRF 31"
    size = {name: sum(map(len, data)) for name, data in vp9.items()}
    assert size["crf20"] > size["crf31"], "--crf reaches the encoder"
    assert _keyframes(ffprobe, encoded("live.webm", live=True)) == [0, 50]
    lossless = encoded("lossless.webm", options=(("lossless", "1"),), codec="libvpx-vp9")
    with av.open(str(lossless)) as container:  # lossless really is: luma bit for bit
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        luma = [plane_array(f.planes[0], np.uint8).copy() for p in container.demux(video=0)
                for f in decoder.decode(p)]
    for a, b in zip(luma_planes(source), luma, strict=True):
        np.testing.assert_array_equal(a, b)


def test_codec_option_still_overrides(clip, tmp_path, model_path, ffprobe):
    output = tmp_path / "out.webm"
    run(clip(ClipSpec(frames=4)), output, model_path, codec="libvpx")
    assert [s["codec_name"] for s in streams(ffprobe, output)] == ["vp8"]


def test_cli_names_the_encoder_and_each_conversion(mixed, tmp_path, model_path, capsys, ffprobe):
    output = tmp_path / "out.webm"
    assert main(["colorize", str(mixed), "-o", str(output), "--model", str(model_path),
                 "--provider", "cpu"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "libvpx-vp9" in lines[0]
    conversions = [line for line in lines if "converting" in line]
    assert len(conversions) == 3, lines
    assert any("audio stream #1 (aac" in c and "libopus" in c for c in conversions)
    assert any("audio stream #2 (ac3" in c and "libopus" in c for c in conversions)
    assert any("subtitle stream #3 (subrip" in c and "webvtt" in c for c in conversions)
    names = [(s["codec_type"], s["codec_name"]) for s in streams(ffprobe, output)]
    assert names == [("video", "vp9"), ("audio", "opus"), ("audio", "opus"),
                     ("subtitle", "webvtt")]


# -- streams the container cannot hold -------------------------------------------------------
def _events(path) -> list[tuple[float, str]]:
    """(start seconds, text) of every subtitle event, read with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        out = []
        for packet in container.demux(stream):
            events = stream.decode2(packet) if packet.size else None
            if events:  # MP4 fills the gaps between events with empty samples
                text = b"".join(r.ass for r in events).decode()
                out.append((round(float(packet.pts * packet.time_base), 3),
                            text.rsplit(",", 1)[-1]))
        return out


def _audio_span(path, index: int) -> tuple[float, float]:
    """(first sample time, seconds of sound) of one audio stream, decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        first, samples, rate = None, 0, None
        for frame in container.decode(stream):
            first = float(frame.pts * frame.time_base) if first is None else first
            samples, rate = samples + frame.samples, frame.sample_rate
        return first, samples / rate


def test_webm_converts_audio_and_subtitles_keeping_time(mixed, tmp_path, model_path):
    output = tmp_path / "out.webm"
    notes = []
    summary = run(mixed, output, model_path, notes)
    assert summary.frames == 30 and len(video_pts(output)) == 30
    assert sum("converting" in n for n in notes) == 3
    for index in (0, 1):
        (start_in, length_in), (start_out, length_out) = (_audio_span(mixed, index),
                                                         _audio_span(output, index))
        assert abs(length_out - length_in) < 0.05 and abs(start_out - start_in) < 0.02
    got, want = _events(output), _events(mixed)
    assert [t for _, t in got] == [t for _, t in want] == ["hello", "second line"]
    for (a, _), (b, _) in zip(got, want, strict=True):
        assert abs(a - b) < 0.02  # WebM shifts every stream by Opus's pre-skip at most


@pytest.mark.parametrize("layout", ["5.1(side)", "5.1", "quad"])
def test_surround_audio_converts_to_opus(layout, clip, tmp_path, model_path, ffprobe):
    source = clip(ClipSpec(frames=10, audio=(AudioTrack(codec="ac3", layout=layout),)))
    output = tmp_path / "out.webm"
    assert run(source, output, model_path).frames == 10
    audio = streams(ffprobe, output)[1]
    channels = av.AudioLayout(layout).nb_channels
    assert audio["codec_name"] == "opus" and audio["channels"] == channels
    assert abs(_audio_span(output, 0)[1] - _audio_span(source, 0)[1]) < 0.05


def test_mp4_copies_what_it_holds_and_converts_subrip(mixed, tmp_path, model_path, ffprobe):
    output = tmp_path / "out.mp4"
    notes = []
    run(mixed, output, model_path, notes)
    assert [n for n in notes if "converting" in n] == [
        ".mp4 cannot hold subtitle stream #3 (subrip, language eng): converting it to mov_text"]
    names = [s["codec_name"] for s in streams(ffprobe, output)]
    assert names == ["h264", "aac", "ac3", "mov_text"]
    assert _events(output) == _events(mixed)
    with av.open(str(mixed)) as a, av.open(str(output)) as b:
        want = [bytes(p) for p in a.demux(a.streams.audio[1]) if p.size]
        got = [bytes(p) for p in b.demux(b.streams.audio[1]) if p.size]
    assert got == want, "AC-3 is copied packet for packet"


def test_two_outputs_each_get_what_their_container_holds(mixed, tmp_path, model_path, ffprobe):
    webm, mp4 = tmp_path / "out.webm", tmp_path / "out.mp4"
    summary = colorize(mixed, [webm, mp4], model=cpu(model_path), live=False)
    assert summary.frames == 30
    assert [s["codec_name"] for s in streams(ffprobe, webm)] == ["vp9", "opus", "opus", "webvtt"]
    assert [s["codec_name"] for s in streams(ffprobe, mp4)] == ["h264", "aac", "ac3", "mov_text"]
    with av.open(str(mixed)) as a, av.open(str(mp4)) as b:
        want = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        got = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert got == want
    assert _events(mp4) == _events(mixed)


def test_copy_strict_makes_a_conversion_an_error(mixed, tmp_path, model_path):
    output = tmp_path / "out.mp4"
    with pytest.raises(IncompatibleStreamError) as caught:
        run(mixed, output, model_path, incompatible="strict")
    message = str(caught.value)
    assert "subtitle stream #3 (subrip" in message and "--copy-strict" in message
    assert "mov_text" in message and ".mkv" in message and "Invalid argument" not in message
    assert not output.exists()


@pytest.fixture
def with_font(clip, tmp_path):
    """An MKV with a font attachment, which MP4 can neither hold nor convert."""
    plain = clip(ClipSpec(frames=6), "plain.mkv")
    path = tmp_path / "font.mkv"
    with av.open(str(plain)) as src, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        out.add_attachment("font.ttf", "font/ttf", b"\0\1\0\0" + bytes(200))
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = video
                out.mux(packet)
    return path


def test_stream_that_cannot_be_converted_is_named(with_font, tmp_path, model_path):
    output = tmp_path / "out.mp4"
    with pytest.raises(IncompatibleStreamError) as caught:
        run(with_font, output, model_path)
    message = str(caught.value)
    assert "attachment stream #1" in message and "--drop-incompatible" in message
    assert ".mkv" in message and "Invalid argument" not in message
    assert not output.exists()


def test_drop_incompatible_leaves_it_out_and_says_so(with_font, tmp_path, model_path, ffprobe):
    output = tmp_path / "out.mp4"
    notes = []
    summary = run(with_font, output, model_path, notes, incompatible="drop")
    assert summary.frames == 6
    assert any("attachment stream #1" in n and "left out" in n for n in notes)
    assert [s["codec_type"] for s in streams(ffprobe, output)] == ["video"]


# -- QuickTime timecode tracks --------------------------------------------------------------
def _camera_mov(maker: str, clip, tmp_path):
    """A MOV with a tmcd track at 01:00:00:00, written by PyAV or by the ffmpeg CLI."""
    if maker == "pyav":
        return clip(ClipSpec(frames=10, audio=(AudioTrack(),),
                             metadata=(("timecode", "01:00:00:00"),)), "camera.mov")
    ffmpeg = shutil.which("ffmpeg")
    require(ffmpeg is not None, "needs the ffmpeg command-line tool (apt-get install ffmpeg)")
    path = tmp_path / "camera.mov"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-frames:v", "10", "-t", "0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-timecode", "01:00:00:00", str(path)], check=True)
    return path


@pytest.mark.parametrize("maker", ["pyav", "ffmpeg-cli"])
@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mkv"])
def test_timecode_track_is_kept(suffix, maker, clip, tmp_path, model_path, ffprobe):
    source = _camera_mov(maker, clip, tmp_path)
    tmcd = [s for s in streams(ffprobe, source) if s.get("codec_tag_string") == "tmcd"]
    assert tmcd, "the generated source has a tmcd track"
    output = tmp_path / f"out{suffix}"
    notes = []
    assert run(source, output, model_path, notes).frames == 10
    assert not [n for n in notes if "data stream" in n], notes  # kept, not "left out"
    found = streams(ffprobe, output)
    if suffix == ".mkv":
        video = found[0]
        assert {k.lower(): v for k, v in video.get("tags", {}).items()}["timecode"] == \
            "01:00:00:00"
    else:
        tracks = [s for s in found if s.get("codec_tag_string") == "tmcd"]
        assert len(tracks) == 1 and tracks[0]["tags"]["timecode"] == "01:00:00:00"
    assert [s["codec_type"] for s in found if s["codec_type"] != "data"] == ["video", "audio"]


@pytest.mark.parametrize(("suffix", "codec"), [(".avi", "mpeg4"), (".mpg", "mpeg1video"),
                                               (".mxf", "mpeg2video")])
def test_encoders_without_crf_keep_the_picture(suffix, codec, clip, tmp_path, model_path):
    """The MPEG-1/2/4 encoders have no CRF: left alone they aim at 200 kb/s, which smears a
    film. They get a fixed quantizer instead, so the luma comes through nearly as it was."""
    ffmpeg = shutil.which("ffmpeg")
    require(ffmpeg is not None, "needs the ffmpeg command-line tool (apt-get install ffmpeg)")
    source = tmp_path / "grain.mkv"  # a grainy film: what a low rate smears
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=640x360:r=25,noise=alls=12:allf=t+u,format=yuv420p", "-t", "1",
                    "-c:v", "ffv1", str(source)], check=True)
    output = tmp_path / f"out{suffix}"
    notes = []
    run(source, output, model_path, notes)
    assert f"encoder {codec}" in notes
    errors = [np.mean((a.astype(np.float64) - b) ** 2)
              for a, b in zip(luma_planes(output), luma_planes(source), strict=True)]
    assert 10 * np.log10(255**2 / np.mean(errors)) > 38  # 40-44 dB; at 200 kb/s 33 dB


# -- chapters of MP4/MOV ---------------------------------------------------------------------
@pytest.mark.parametrize("film_job", [False, True])
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_mp4_chapters_are_kept(suffix, film_job, clip, tmp_path, model_path, ffprobe):
    """An MP4 with chapters (HandBrake, FFmpeg, camera apps) has a QuickTime chapter track:
    a data stream FFmpeg reads into the chapters, with no packets. The chapters are copied;
    the track is not (MP4/MOV make it again), and it is no reason to stop."""
    source = clip(ClipSpec(frames=20, audio=(AudioTrack(),),
                           chapters=((0.0, 0.4, "Reel 1"), (0.4, 0.8, "Reel 2"))), "chap.mp4")
    assert [s["codec_type"] for s in streams(ffprobe, source)] == ["video", "audio", "data"]
    output = tmp_path / f"out{suffix}"
    args = ["colorize", str(source), "-o", str(output), "--model", str(model_path)]
    assert main([*args, *(() if film_job else ("--no-segments",))]) == 0
    chapters = lambda path: [(c["start_time"], c["end_time"], c["tags"]["title"])  # noqa: E731
                             for c in ffprobe(path, "-show_chapters")["chapters"]]
    assert chapters(output) == chapters(source) and len(chapters(source)) == 2
    kinds = [s["codec_type"] for s in streams(ffprobe, output)]
    assert kinds == (["video", "audio"] if suffix == ".mkv" else ["video", "audio", "data"])
    # the sound's bytes (Matroska moves every stream's times alike: see test_fidelity)
    assert [b for _, b in packets(output, 1)] == [b for _, b in packets(source, 1)]


# -- old formats: WMV, DVD VOB ---------------------------------------------------------------
def _ffmpeg_file(path, *args: str):
    ffmpeg = shutil.which("ffmpeg")
    require(ffmpeg is not None, "needs the ffmpeg command-line tool (apt-get install ffmpeg)")
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.8", *args, str(path)],
                   check=True)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_wma_sound_is_converted(suffix, tmp_path, model_path, ffprobe):
    """WMA needs stream parameters PyAV cannot hand a decoder of its own (block_align), and
    its header gives a channel count without a layout, which the AAC encoder refuses."""
    source = _ffmpeg_file(tmp_path / "old.wmv", "-c:v", "wmv2", "-c:a", "wmav2", "-ac", "1")
    output = tmp_path / f"out{suffix}"
    notes = []
    assert run(source, output, model_path, notes).frames == 20
    assert any("audio stream #1 (wmav2): converting it to aac" in n for n in notes), notes
    audio = [s for s in streams(ffprobe, output) if s["codec_type"] == "audio"]
    assert [(s["codec_name"], s["channel_layout"]) for s in audio] == [("aac", "mono")]
    with av.open(str(source)) as before, av.open(str(output)) as after:
        counts = [sum(f.samples for f in c.decode(audio=0)) for c in (before, after)]
    assert abs(counts[1] - counts[0]) <= 2048, counts  # the sound, not a part of it


def test_dvd_navigation_packets_are_left_out(tmp_path, model_path, ffprobe):
    source = _ffmpeg_file(tmp_path / "old.vob", "-c:v", "mpeg2video", "-c:a", "ac3", "-f",
                          "dvd")
    assert streams(ffprobe, source)[0]["codec_name"] == "dvd_nav_packet"
    output = tmp_path / "out.mkv"
    notes = []
    assert run(source, output, model_path, notes).frames == 20
    assert any("data stream #0 (dvd_nav_packet) holds DVD navigation" in n for n in notes), notes
    assert [s["codec_name"] for s in streams(ffprobe, output)] == ["h264", "ac3"]
    assert [b for _, b in packets(output, 1)] == [b for _, b in packets(source, 2)]


# -- cover art ------------------------------------------------------------------------------
def _with_cover(clip, tmp_path) -> tuple[pathlib.Path, bytes]:
    """An MP4 with cover art (a PNG picture stream marked attached_pic), as yt-dlp's
    --embed-thumbnail and music tools write them; and the picture's bytes."""
    ffmpeg = shutil.which("ffmpeg")
    require(ffmpeg is not None, "needs the ffmpeg command-line tool (apt-get install ffmpeg)")
    cover = tmp_path / "cover.png"
    picture = np.arange(16 * 24 * 3, dtype=np.uint8).reshape(16, 24, 3)
    av.VideoFrame.from_ndarray(picture, format="rgb24").save(str(cover))
    video = clip(ClipSpec(frames=10, audio=(AudioTrack(),)), "plain.mp4")
    source = tmp_path / "with_cover.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(video), "-i", str(cover), "-map", "0",
                    "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", str(source)],
                   check=True)
    return source, cover.read_bytes()


def _cover(ffprobe, path) -> tuple[list, bytes | None]:
    """(codec type and attached_pic of each stream, the cover's bytes or None)."""
    found = [(s["codec_type"], s["disposition"]["attached_pic"]) for s in streams(ffprobe, path)]
    with av.open(str(path)) as container:
        covers = [s for s in container.streams.video
                  if s.disposition & av.stream.Disposition.attached_pic]
        data = next((bytes(p) for p in container.demux(covers) if p.size), None) if covers \
            else None
    return found, data


@pytest.mark.parametrize("film_job", [False, True])
def test_cover_art_is_kept_in_mp4(film_job, clip, tmp_path, model_path, ffprobe):
    source, picture = _with_cover(clip, tmp_path)
    assert _cover(ffprobe, source) == ([("video", 0), ("audio", 0), ("video", 1)], picture)
    output = tmp_path / "out.mp4"
    args = ["colorize", str(source), "-o", str(output), "--model", str(model_path)]
    assert main([*args, *(() if film_job else ("--no-segments",))]) == 0
    assert _cover(ffprobe, output) == _cover(ffprobe, source)
    assert packets(output, 1) == packets(source, 1)


@pytest.mark.parametrize("suffix", [".mov", ".ts", ".webm"])
def test_cover_art_where_the_container_keeps_none(suffix, clip, tmp_path, model_path, ffprobe):
    source, _ = _with_cover(clip, tmp_path)
    output = tmp_path / f"out{suffix}"
    notes = []
    assert run(source, output, model_path, notes).frames == 10
    assert any(f"{suffix} keeps no cover art: video stream #2" in n for n in notes), notes
    found, data = _cover(ffprobe, output)
    assert data is None and [kind for kind, _ in found if kind != "data"] == ["video", "audio"]
    # --copy-strict: leaving it out is an error too (WebM would refuse the AAC audio first)
    match = "cannot hold audio" if suffix == ".webm" else "keeps no cover art .* --copy-strict"
    with pytest.raises(IncompatibleStreamError, match=match):
        run(source, tmp_path / f"strict{suffix}", model_path, incompatible="strict")
    assert not (tmp_path / f"strict{suffix}").exists()


# -- elementary streams without timestamps --------------------------------------------------
def _elementary(path, codec: str, fmt: str, frames: int) -> None:
    spec = ClipSpec(frames=frames)
    with av.open(str(path), "w", format=fmt) as out:
        options = {"bf": "2"} if codec != "libx265" else {"x265-params": "log-level=none"}
        stream = out.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            frame = _grey_frame(_pattern(index, spec), "yuv420p")
            frame.pts, frame.time_base = index, fractions.Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@pytest.mark.parametrize(("name", "codec", "fmt"), [("raw.264", "libx264", "h264"),
                                                    ("raw.h265", "libx265", "hevc"),
                                                    ("raw.m2v", "mpeg2video", "mpeg2video")])
def test_elementary_stream_gets_timestamps(name, codec, fmt, tmp_path, model_path, ffprobe):
    source = tmp_path / name
    _elementary(source, codec, fmt, 31)
    output = tmp_path / "out.mkv"
    notes = []
    summary = run(source, output, model_path, notes, codec="ffv1")
    assert summary.frames == 31
    frames = ffprobe(output, "-select_streams", "v", "-show_frames",
                     "-show_entries", "frame=pts")["frames"]
    pts = [f["pts"] for f in frames]
    assert len(pts) == 31 and all(b > a for a, b in zip(pts, pts[1:], strict=False))
    steps = {round(b - a) for a, b in zip(pts, pts[1:], strict=False)}
    assert steps == {40}, "25 fps in Matroska's milliseconds"
    if fmt != "mpeg2video":  # the MPEG-2 demuxer may time frames itself
        assert any("no timestamps" in n and "25 fps" in n for n in notes)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)


def test_elementary_stream_with_start_and_duration(tmp_path, model_path):
    """No timestamps to seek by: frames before --start are decoded and skipped."""
    source = tmp_path / "raw.264"
    _elementary(source, "libx264", "h264", 31)
    output = tmp_path / "out.mkv"
    summary = colorize_file(source, output, model=cpu(model_path),
                            encode=EncodeConfig(codec="ffv1"),
                            pipeline=PipelineConfig(start=0.4, duration=0.4))
    assert summary.frames == 10 and video_pts(output) == [i * 40 for i in range(10)]
    for a, b in zip(luma_planes(source)[10:20], luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)


# -- alpha ----------------------------------------------------------------------------------
def _alpha_pattern(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 4 + y + index * 7) % 256).astype(np.uint8)


def _write_alpha(path, codec: str, pix_fmt: str, frames: int = 5, **options) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for index in range(frames):
            grey = _alpha_pattern(index + 3)
            rgba = np.dstack([grey, grey, grey, _alpha_pattern(index)])
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _frames(path):
    """Every decoded video frame of ``path``; VP9 through libvpx, which reads alpha."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = None
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(stream):
            yield from (decoder.decode(packet) if decoder else packet.decode())


def _planes(path, which: int) -> list[np.ndarray]:
    """Plane ``which`` of every frame."""
    out = []
    for frame in _frames(path):
        dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
        assert len(frame.planes) > which, f"{frame.format.name} has no plane {which}"
        out.append(plane_array(frame.planes[which], dtype).copy())
    return out


ALPHA_SOURCES = {
    "vp9.webm": ("libvpx-vp9", "yuva420p", {"lossless": "1"}),
    "prores4444.mov": ("prores_ks", "yuva444p10le", {"profile": "4444"}),
    "png.mov": ("png", "rgba", {}),
    "qtrle.mov": ("qtrle", "argb", {}),
}


@pytest.mark.parametrize("name", ALPHA_SOURCES)
def test_alpha_is_kept_bit_exact_in_ffv1(name, tmp_path, model_path):
    codec, pix_fmt, options = ALPHA_SOURCES[name]
    source = tmp_path / name
    _write_alpha(source, codec, pix_fmt, **options)
    output = tmp_path / "out.mkv"
    notes = []
    assert run(source, output, model_path, notes, codec="ffv1").frames == 5
    assert not any("alpha" in n for n in notes)
    with av.open(str(output)) as container:
        assert next(container.decode(video=0)).format.name.startswith("yuva")
    alpha_in = _planes(source, 3) if pix_fmt.startswith("yuva") else None
    for index, got in enumerate(_planes(output, 3)):
        want = alpha_in[index] if alpha_in else _alpha_pattern(index)
        np.testing.assert_array_equal(got, want)
    if pix_fmt.startswith("yuva"):  # planar Y'CbCr sources: luma passes through too
        for a, b in zip(_planes(source, 0), _planes(output, 0), strict=True):
            np.testing.assert_array_equal(a, b)


def _alpha(path) -> list[np.ndarray]:
    """The alpha of every frame in 0..1: plane 3 of planar Y'CbCrA (VP9 through libvpx,
    which reads alpha), the A byte of each pixel of packed argb/rgba."""
    out = []
    for frame in _frames(path):
        name = frame.format.name
        bits = frame.format.components[0].bits
        if name.startswith("yuva"):
            dtype = np.uint8 if bits <= 8 else np.uint16
            values = plane_array(frame.planes[3], dtype)
        else:
            assert name in ("argb", "rgba", "abgr", "bgra"), f"{name}: where is alpha?"
            values = frame.to_ndarray()[..., name.index("a")]
        out.append(values.astype(np.float64) / ((1 << bits) - 1))
    return out


@pytest.mark.parametrize(("suffix", "codec", "options", "fmt", "step"), [
    (".webm", None, (("lossless", "1"),), "yuva420p", 0),  # lossless: bit for bit
    (".mov", "prores_ks", (), "yuva444p", 1),  # 8 -> 10 -> 16 -> 12 bits: within a level
    (".mov", "qtrle", (), "argb", 0),  # lossless RLE
    (".mov", "png", (), "rgba", 0),  # lossless
])
def test_alpha_into_codecs_that_hold_it(suffix, codec, options, fmt, step, tmp_path,
                                        model_path, ffprobe):
    source = tmp_path / "vp9.webm"
    _write_alpha(source, "libvpx-vp9", "yuva420p", lossless="1")
    output = tmp_path / f"out{suffix}"
    run(source, output, model_path, codec=codec, options=options)
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == "vp9":
            assert stream.metadata.get("alpha_mode") == "1"
            assert ffprobe(output, "-show_streams")["streams"][0]["tags"]["alpha_mode"] == "1"
    if suffix != ".webm":  # FFmpeg's own VP9 decoder ignores alpha; libvpx reads it below
        with av.open(str(output)) as container:
            assert next(container.decode(video=0)).format.name.startswith(fmt[:5])
    got, want = _alpha(output), [a.astype(np.float64) / 255 for a in _planes(source, 3)]
    assert len(got) == len(want) == 5
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.ptp(b) > 0.9, "the source's alpha varies across the picture"
        error = np.abs(a * 255 - b * 255).max()
        assert error <= step, f"frame {index}: alpha off by {error:.2f} of 255"


def test_codec_without_alpha_says_so(tmp_path, model_path, ffprobe):
    source = tmp_path / "vp9.webm"
    _write_alpha(source, "libvpx-vp9", "yuva420p", lossless="1")
    output = tmp_path / "out.mp4"
    notes = []
    assert run(source, output, model_path, notes).frames == 5
    assert sum("cannot hold alpha" in n for n in notes) == 1
    video = streams(ffprobe, output)[0]
    assert video["pix_fmt"] == "yuv420p" and "alpha_mode" not in video.get("tags", {})


def test_advice_for_a_stream_the_output_cannot_hold():
    """Writing .mkv is the way out, unless the output is .mkv already."""
    from streamcolor.media.streamplan import elsewhere

    assert elsewhere("mp4", "pass X").startswith("write to .mkv")
    assert elsewhere("matroska", "pass X") == "pass X"


def test_a_quantizer_only_where_the_user_set_no_rate():
    from streamcolor.media.encoders import DEFAULT_QSCALE, encoder_options

    fixed = {"flags": "+qscale", "global_quality": str(DEFAULT_QSCALE * 118)}
    assert fixed.items() <= encoder_options("mpeg4", EncodeConfig(), None).items()
    assert encoder_options("mpeg2video", EncodeConfig(), None, interlaced=True)["flags"] == \
        "+qscale+ildct+ilme"
    for own in (EncodeConfig(bitrate=4_000_000), EncodeConfig(options=(("b", "4M"),)),
                EncodeConfig(options=(("q", "5"),))):
        assert "global_quality" not in encoder_options("mpeg4", own, None)
    assert "global_quality" not in encoder_options("libx264", EncodeConfig(), None)


def test_a_second_video_stream_is_copied_and_said_so(clip, tmp_path, model_path, ffprobe):
    ffmpeg = shutil.which("ffmpeg")
    require(ffmpeg is not None, "needs the ffmpeg command-line tool (apt-get install ffmpeg)")
    first, second = clip(ClipSpec(frames=10), "a.mkv"), clip(ClipSpec(frames=10, width=32,
                                                                      height=24), "b.mkv")
    source = tmp_path / "two.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(first), "-i", str(second), "-map", "0",
                    "-map", "1", "-c", "copy", str(source)], check=True)
    output = tmp_path / "out.mkv"
    notes = []
    assert run(source, output, model_path, notes).frames == 10
    assert "video stream #1 (h264) is copied as it is: only stream #0 is colorized" in notes
    assert packets(output, 1) == packets(source, 1)

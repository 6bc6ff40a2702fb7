"""Image sequences as input: a film scanned to numbered pictures, colorized like a video file.
Pictures written here with PyAV (16-bit grey PNG, DPX); read back by PyAV and ffprobe."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from helpers import luma_planes
from streamcolor import EncodeConfig, ModelConfig, PipelineConfig, colorize_file
from streamcolor.cli.main import main
from streamcolor.errors import InputError, InputNotFoundError
from streamcolor.media.sequences import find_sequence, is_sequence, pattern_in
from streamcolor.testing import AudioTrack, ClipSpec


def _pictures(folder, name: str, numbers, *, codec: str = "png", pix_fmt: str = "gray16be",
              size=(40, 24)) -> list[np.ndarray]:
    """Write one picture per number (``name`` a %-pattern); return their grey values."""
    folder.mkdir(exist_ok=True)
    width, height = size
    grey = []
    for number in numbers:
        y, x = np.mgrid[0:height, 0:width]
        values = ((x * 1500 + y * 700 + number * 4099) % 65536).astype(np.uint16)
        frame = av.VideoFrame.from_ndarray(values, format="gray16le")
        with av.open(str(folder / (name % number)), "w", format="image2") as out:
            stream = out.add_stream(codec)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            out.mux(stream.encode(frame.reformat(format=pix_fmt)))
            out.mux(stream.encode(None))
        grey.append(values)
    return grey


def _colorize(args) -> int:
    return main(["colorize", *map(str, args)])


def test_a_png_sequence_is_a_video_with_every_picture_in_order(tmp_path, model_path, ffprobe,
                                                               capsys):
    grey = _pictures(tmp_path / "scans", "reel1_%06d.png", range(101, 131))
    output = tmp_path / "reel1.mkv"
    assert _colorize([tmp_path / "scans" / "reel1_%06d.png", "-o", output, "--model",
                      model_path, "--input-rate", "18", "--codec", "ffv1"]) == 0
    assert "reel1_%06d.png: 30 pictures from number 101, timed at 18 fps" in \
        capsys.readouterr().err
    stream = ffprobe(output, "-show_streams", "-count_frames")["streams"][0]
    assert (stream["r_frame_rate"], int(stream["nb_read_frames"])) == ("18/1", 30)
    planes = luma_planes(output)
    assert len(planes) == 30
    for picture, plane in zip(grey, planes, strict=True):  # luma passes through, 16 bits
        np.testing.assert_array_equal(plane, picture)


def test_the_rate_defaults_to_24_and_the_api_takes_one(tmp_path, model_path, ffprobe):
    _pictures(tmp_path / "s", "f%d.png", range(0, 6))
    pattern = tmp_path / "s" / "f%d.png"
    colorize_file(pattern, tmp_path / "a.mkv", model=ModelConfig(model=str(model_path)))
    colorize_file(pattern, tmp_path / "b.mkv", model=ModelConfig(model=str(model_path)),
                  pipeline=PipelineConfig(sequence_rate=Fraction(24000, 1001)))
    rates = [ffprobe(tmp_path / n, "-show_streams")["streams"][0]["r_frame_rate"]
             for n in ("a.mkv", "b.mkv")]
    assert rates == ["24/1", "24000/1001"]


def test_a_dpx_scan_sequence(tmp_path, model_path, ffprobe):
    _pictures(tmp_path / "dpx", "scan.%07d.dpx", range(86400, 86408), codec="dpx",
              pix_fmt="rgb48le")
    output = tmp_path / "scan.mp4"
    assert _colorize([tmp_path / "dpx" / "scan.%07d.dpx", "-o", output, "--model",
                      model_path]) == 0
    stream = ffprobe(output, "-show_streams", "-count_frames")["streams"][0]
    assert int(stream["nb_read_frames"]) == 8 and stream["codec_name"] == "h264"


@pytest.mark.parametrize(("make", "pattern", "message"), [
    (lambda d: _pictures(d, "p%03d.png", [1, 2, 4, 5]), "p%03d.png",
     "picture p003.png is missing (the sequence runs p001.png to p005.png)"),
    (lambda d: _pictures(d, "p%03d.png", [1]), "q%03d.png", "no pictures in"),
    (lambda d: None, "none/p%03d.png", "(no folder"),
])
def test_a_sequence_that_cannot_be_read_whole_is_named(make, pattern, message, tmp_path,
                                                       model_path, capsys):
    make(tmp_path / "in")
    output = tmp_path / "out.mkv"
    assert _colorize([tmp_path / "in" / pattern, "-o", output, "--model", model_path]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*out*"))


def test_a_sequence_runs_alone(tmp_path, model_path, clip, capsys):
    _pictures(tmp_path / "s", "f%02d.png", range(3))
    with pytest.raises(SystemExit) as exit_:
        _colorize([tmp_path / "s" / "f%02d.png", clip(), "-o", f"{tmp_path / 'out'}/",
                   "--model", model_path])
    assert exit_.value.code == 2
    assert "is an image sequence: it runs alone" in capsys.readouterr().err


def test_patterns(tmp_path):
    _pictures(tmp_path, "a_%04d_100%%.png", [7, 8, 9])
    found = find_sequence(tmp_path / "a_%04d_100%%.png")
    assert (found.first, found.count) == (7, 3)
    literal = tmp_path / "50%d.png"  # a file of that very name is a file
    literal.write_bytes(b"x")
    assert not is_sequence(literal) and is_sequence(tmp_path / "x%d.png")
    assert not is_sequence(tmp_path / "plain.png") and not is_sequence(tmp_path / "%d_%d.png")
    with pytest.raises(InputNotFoundError):
        find_sequence(tmp_path / "b_%04d.png")
    _pictures(tmp_path, "c%d.png", [1, 3])
    with pytest.raises(InputError, match="picture c2.png is missing"):
        find_sequence(tmp_path / "c%d.png")


def test_the_pattern_of_a_folder_of_pictures(tmp_path):
    """A user who gives the folder of a scan is told its pattern; the pattern found reads
    every picture back."""
    for folder, name, numbers, expected in (("plain", "frame_%d.png", range(1, 12), "frame_%d.png"),
                                            ("padded", "r1_%06d.dpx", range(5), "r1_%06d.dpx"),
                                            ("wide", "s%d.tif", range(100, 103), "s%d.tif"),
                                            ("pct", "50%%_%03d.png", range(2), "50%%_%03d.png")):
        _pictures(tmp_path / folder, name, numbers)  # PNG inside: the names are what counts
        (tmp_path / folder / "notes.txt").write_text("x")
        (tmp_path / folder / "poster_1.jpg").write_bytes(b"x")  # a smaller set
        found = pattern_in(tmp_path / folder)
        assert found == str(tmp_path / folder / expected), found
        assert find_sequence(found).count == len(numbers)
    lone = tmp_path / "lone"
    _pictures(lone, "only_%d.png", [1])
    assert pattern_in(lone) is None and pattern_in(tmp_path / "plain" / "..") is None


@pytest.mark.parametrize("output", ["out.mkv", "outdir/"])
def test_a_folder_of_pictures_is_answered_with_its_pattern(output, tmp_path, model_path, capsys):
    _pictures(tmp_path / "scans", "frame_%d.png", range(1, 4))
    assert _colorize([tmp_path / "scans", "-o", f"{tmp_path}/{output}", "--model",
                      model_path]) == 1
    err = capsys.readouterr().err
    assert f"give the pattern '{tmp_path / 'scans' / 'frame_%d.png'}'" in err, err


def test_frames_keep_the_encoders_own_settings(tmp_path, model_path, ffprobe):
    """A sequence into a film-like delivery: 10-bit H.264 from 16-bit scans."""
    _pictures(tmp_path / "s", "f%03d.png", range(5))
    output = tmp_path / "out.mp4"
    colorize_file(tmp_path / "s" / "f%03d.png", output, model=ModelConfig(model=str(model_path)),
                  encode=EncodeConfig(codec="libx264"))
    stream = ffprobe(output, "-show_streams")["streams"][0]
    assert (stream["pix_fmt"], stream["color_range"]) == ("yuv420p10le", "pc")


# -- numbered pictures as output ------------------------------------------------------------
def _rgb48(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(format="rgb48le").to_ndarray().astype(int)


@pytest.mark.parametrize(("suffix", "codec", "pix_fmt"), [
    (".png", "png", "rgb48be"), (".tif", "tiff", "rgb48le"), (".dpx", "dpx", "rgb48le"),
    (".jpg", "mjpeg", "yuvj420p")])
def test_a_video_into_numbered_pictures(suffix, codec, pix_fmt, tmp_path, model_path, clip,
                                        ffprobe, capsys):
    """Each frame a picture, numbered from 1, R'G'B' as deep as the 16-bit source (JPEG: its
    own full-range Y'CbCr); the sound left out, and said; the same colours as the video."""
    source = clip(ClipSpec(width=40, height=24, frames=6, pix_fmt="gray16le", codec="ffv1",
                           codec_options=(), audio=(AudioTrack(),)), "in.mkv")
    folder = tmp_path / "out"
    folder.mkdir()
    args = [source, "--model", model_path, "--temporal", "off"]
    assert _colorize([*args[:1], "-o", folder / f"f_%04d{suffix}", *args[1:]]) == 0
    assert "pictures hold no audio: 1 stream(s) of the input are left out" in \
        capsys.readouterr().err
    pictures = sorted(folder.iterdir())
    assert [p.name for p in pictures] == [f"f_{n:04d}{suffix}" for n in range(1, 7)]
    stream = ffprobe(pictures[0], "-show_streams")["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"]) == (codec, pix_fmt)
    video = tmp_path / "v.mkv"
    assert _colorize([source, "-o", video, "--codec", "ffv1", "--no-segments", *args[1:]]) == 0
    with av.open(str(video)) as container:
        frames = [_rgb48(f) for f in container.decode(video=0)]
    for picture, frame in zip(pictures, frames, strict=True):
        with av.open(str(picture)) as container:
            error = np.abs(_rgb48(next(container.decode(video=0))) - frame) / 257  # 8-bit codes
        if codec == "mjpeg":  # lossy: on average
            assert error.mean() <= 4, (picture.name, error.mean())
        else:
            assert error.max() <= 2, (picture.name, error.max())


def test_pictures_of_a_failed_run_are_not_left(tmp_path, model_path, clip, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    source = clip(ClipSpec(frames=4))
    target = folder / "f_%03d.png"
    assert _colorize([source, "-o", target, "--model", model_path,
                      "--encoder-option", "no_such_option=1"]) == 1
    assert "has no option 'no_such_option'" in capsys.readouterr().err
    assert not list(folder.iterdir())
    assert _colorize([source, "-o", folder / "f_%03d.exr", "--model", model_path]) == 1
    assert "an image sequence is written as .bmp, .dpx, .jpeg, .jpg, .png, .tif, .tiff " \
           "pictures, not .exr" in capsys.readouterr().err
    assert not list(folder.iterdir())


def test_numbered_pictures_take_one_input(tmp_path, model_path, clip, capsys):
    with pytest.raises(SystemExit) as exit_:
        _colorize([clip(), clip(ClipSpec(frames=3), "b.mkv"), "-o", tmp_path / "f_%03d.png",
                   "--model", model_path])
    assert exit_.value.code == 2
    assert "numbers the pictures of one video, in one pass" in capsys.readouterr().err
    assert not list(tmp_path.glob("f_*"))

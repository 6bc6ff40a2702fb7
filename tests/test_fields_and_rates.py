"""Two kinds of source that archives are full of: interlaced video (TV, DV tapes), coded as
fields again where the encoder can; and frame rates the MPEG-1/2 encoders do not hold (silent
films at 16 or 18 fps, 12.5 fps web video), timed on the encoder's grid. Both through a
single pass and a film job; sources made by FFmpeg's own command line, read back by ffprobe."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import av
import pytest

from helpers import require
from streamcolor.cli.main import main
from streamcolor.media.encoders import FrameGrid


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    require(exe is not None, "needs FFmpeg's command line (apt-get install ffmpeg)")
    subprocess.run([exe, "-v", "error", "-y", *args], check=True)


def _interlaced(path, order: str, size: str = "96x64") -> str:
    """Interlaced H.264 whose frames say ``order`` (tff or bff) field first."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r=50:d=0.4", "-vf",
            f"interlace=scan={order},format=yuv420p,setfield={order}", "-flags", "+ildct+ilme",
            "-c:v", "libx264", "-preset", "ultrafast", "-x264opts", f"{order}=1", str(path))
    return str(path)


def _fields(ffprobe, path) -> list[tuple[int, int]]:
    """(interlaced_frame, top_field_first) of each decoded frame."""
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries",
                     "frame=interlaced_frame,top_field_first")["frames"]
    return [(f["interlaced_frame"], f["top_field_first"]) for f in frames]


def _times(ffprobe, path, grid: Fraction | None = None) -> list[float]:
    """Each decoded frame's time, from the first frame's. MPEG-PS times a frame only now and
    then, and a player counts the slots between: a frame without a time is one ``grid`` slot
    after the one before."""
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries",
                     "frame=best_effort_timestamp_time")["frames"]
    times: list[float] = []
    for frame in frames:
        if "best_effort_timestamp_time" in frame:
            times.append(float(frame["best_effort_timestamp_time"]))
        else:
            assert grid and times, f"{path}: a frame without a time"
            times.append(times[-1] + float(1 / grid))
    return [t - times[0] for t in times]


def _colorize(source, output, model_path, film_job: bool, *extra: str) -> None:
    args = ["colorize", str(source), "-o", str(output), "--model", str(model_path), *extra]
    assert main([*args, *(() if film_job else ("--no-segments",))]) == 0


@pytest.mark.parametrize("order", ["tff", "bff"])
@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", None), (".ts", None),
                                               (".mkv", "mpeg2video"), (".mov", "prores_ks")])
def test_interlaced_source_is_coded_as_fields(order, suffix, codec, tmp_path, model_path,
                                             ffprobe):
    source = _interlaced(tmp_path / "in.mkv", order)
    before = _fields(ffprobe, source)
    assert before and all(f == (1, int(order == "tff")) for f in before), before
    output = tmp_path / f"out{suffix}"
    _colorize(source, output, model_path, True, *(("--codec", codec) if codec else ()))
    assert _fields(ffprobe, output) == before


def test_progressive_stays_progressive_and_the_user_decides(tmp_path, model_path, ffprobe):
    progressive = tmp_path / "p.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=0.4", "-c:v", "libx264", "-preset",
            "ultrafast", "-pix_fmt", "yuv420p", str(progressive))
    _colorize(progressive, tmp_path / "p_out.mp4", model_path, False)
    assert {f[0] for f in _fields(ffprobe, tmp_path / "p_out.mp4")} == {0}
    source = _interlaced(tmp_path / "i.mkv", "tff")
    _colorize(source, tmp_path / "i_out.mp4", model_path, False,
              "--encoder-option", "flags=-ildct-ilme")
    assert {f[0] for f in _fields(ffprobe, tmp_path / "i_out.mp4")} == {0}


def test_an_encoder_without_fields_says_so(tmp_path, model_path, capsys):
    source = _interlaced(tmp_path / "in.mkv", "bff")
    _colorize(source, tmp_path / "out.webm", model_path, False)
    err = capsys.readouterr().err
    assert "the source is interlaced and libvpx-vp9 codes whole frames" in err, err
    _colorize(source, tmp_path / "out.mkv", model_path, False)
    assert "interlaced" not in capsys.readouterr().err


def _rate_clip(path, rate: str, seconds: float = 2) -> str:
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=96x64:r={rate}:d={seconds}", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    return str(path)


@pytest.mark.parametrize(("suffix", "codec", "rate"), [
    (".mkv", "mpeg2video", "16"), (".mkv", "mpeg2video", "18"), (".mkv", "mpeg2video", "12.5"),
    (".mp4", "mpeg2video", "16"), (".mkv", "mpeg1video", "16"), (".mpg", None, "25"),
    (".mpg", None, "30000/1001"), (".mkv", "mpeg2video", "25")])
@pytest.mark.parametrize("film_job", [True, False], ids=["film-job", "single-pass"])
def test_mpeg_video_keeps_each_frame_time(suffix, codec, rate, film_job, tmp_path, model_path,
                                          ffprobe):
    """Each frame within half a slot of the encoder's grid of its own time: a 16 fps film in
    MPEG-2 (16 fps) or MPEG-1 (24000/1001 fps) keeps its length and every frame."""
    source = _rate_clip(tmp_path / "in.mp4", rate)
    output = tmp_path / f"out{suffix}"
    _colorize(source, output, model_path, film_job, *(("--codec", codec) if codec else ()))
    stream = ffprobe(output, "-show_streams", "-select_streams", "v:0")["streams"][0]
    grid = Fraction(stream["r_frame_rate"])
    assert grid >= Fraction(rate), grid  # no two frames in one slot
    before, after = _times(ffprobe, source), _times(ffprobe, output, grid)
    assert len(after) == len(before)
    worst = max(abs(a - b) for a, b in zip(after, before, strict=True))
    assert worst <= 0.5 / grid + 1e-3, (before, after)


@pytest.mark.parametrize("rate", ["16", "12.5", "120"])
def test_a_program_stream_at_another_rate_is_a_clear_error(rate, tmp_path, model_path, capsys):
    """MPEG-PS times a frame only now and then (a player counts slots between): a source
    whose frames do not fill the grid cannot be written there, and the user is told so."""
    source = _rate_clip(tmp_path / "in.mp4", rate, 0.4)
    args = ["colorize", source, "-o", str(tmp_path / "out.mpg"), "--model", str(model_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert (f"the source has {float(Fraction(rate)):g} fps: write .mkv or .mp4, which time each "
            "frame") in err, err
    assert ".mpg holds mpeg1video only at a standard frame rate (23.976, 24, 25" in err, err
    assert not list(tmp_path.glob("*out*"))


def test_frames_closer_than_a_slot_get_the_next_ones():
    """Variable rate: frames 10 ms apart would share a 25 fps slot; each gets its own, in
    order, and the frame's own time is back once it is encoded."""
    grid, slots = FrameGrid(Fraction(25)), []
    for stamp in (0, 10, 20, 200, 240, 250, 400):  # ms
        frame = av.VideoFrame(16, 16, "yuv420p")
        frame.pts, frame.time_base = stamp, Fraction(1, 1000)
        with grid.placed(frame):
            slots.append((frame.pts, frame.time_base))
        assert (frame.pts, frame.time_base) == (stamp, Fraction(1, 1000))
    assert slots == [(n, Fraction(1, 25)) for n in (0, 1, 2, 5, 6, 7, 10)]


def test_a_variable_rate_above_the_grid_and_frames_that_outrun_it(tmp_path, model_path,
                                                                  ffprobe, capsys):
    """A variable-rate file says 100 fps (its time base) and has 43 frames a second: MPEG-1
    in MKV takes it on its fastest grid (60), every frame kept in order and about on time.
    A real 120 fps source outruns that grid: one line, nothing written."""
    source = tmp_path / "vfr.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=100:d=2", "-vf",
            "select='not(mod(n\\,3))+not(mod(n\\,7))'", "-fps_mode", "passthrough",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source))
    output = tmp_path / "out.mkv"
    _colorize(source, output, model_path, False, "--codec", "mpeg1video")
    assert "the 100 fps frames are timed on a 60 fps grid" in capsys.readouterr().err
    before, after = _times(ffprobe, source), _times(ffprobe, output)
    assert len(after) == len(before) and after == sorted(set(after))
    assert max(abs(a - b) for a, b in zip(after, before, strict=True)) <= 0.1
    fast = _rate_clip(tmp_path / "fast.mp4", "120", 2)
    args = ["colorize", fast, "-o", str(tmp_path / "fast.mkv"), "--model", str(model_path),
            "--codec", "mpeg1video", "--no-segments"]
    assert main(args) == 1
    assert "the frames come faster than the encoder's 60 fps: choose another --codec" in \
        capsys.readouterr().err
    assert not list(tmp_path.glob("*fast*.mkv"))


@pytest.mark.parametrize("order", ["tff", "bff"])
@pytest.mark.parametrize("source_format", ["yuv411p", "gray"])
def test_frames_made_anew_keep_their_field_order(order, source_format, tmp_path, model_path,
                                                 ffprobe):
    """A frame whose format is not the one encoded (DV's 4:1:1, grey) is built anew, and keeps
    its field order: without it, libx264 codes it bottom field first, and a top-first source
    plays with its fields swapped."""
    if source_format == "yuv411p":  # DV in AVI: no field order but the frames'
        source, codec = tmp_path / "in.avi", ("-c:v", "dvvideo")
    else:
        source, codec = tmp_path / "in.mkv", ("-c:v", "libx264", "-x264opts", f"{order}=1")
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=720x480:r=30000/1001:d=0.2", "-vf",
            f"interlace=scan={order},format={source_format},setfield={order}", "-flags",
            "+ildct+ilme", *codec, str(source))
    before = _fields(ffprobe, source)
    assert before and all(f == (1, int(order == "tff")) for f in before), before
    for suffix in (".mkv", ".mp4"):
        output = tmp_path / f"out{suffix}"
        _colorize(source, output, model_path, False)
        assert _fields(ffprobe, output) == before

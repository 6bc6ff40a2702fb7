"""Damaged media (issue 19): what can be read is colorized by default, copied streams' broken
timestamps never end a run, nothing is left behind after a failure that cannot resume."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from fractions import Fraction

import av
import pytest

from helpers import video_pts
from streamcolor.cli.main import main
from streamcolor.config import EncodeConfig
from streamcolor.errors import OutputError
from streamcolor.media.copytimes import CopyTimes
from streamcolor.media.demux import packets
from streamcolor.media.sinks import FileSink
from streamcolor.media.sources import FileSource
from streamcolor.testing import AudioTrack, ClipSpec, make_clip

FRAMES = 50
SPEC = ClipSpec(width=64, height=48, frames=FRAMES, audio=(AudioTrack(),),
                codec_options=(("preset", "ultrafast"), ("g", "25"), ("bf", "0")))


def _damage_packets(path: pathlib.Path, indices: set[int]) -> pathlib.Path:
    """Zero the payload of the video packets ``indices`` (in file order), in place."""
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        places = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    for index in indices:
        pos, size = places[index]
        data[pos + 4: pos + size] = bytes(size - 4)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def damaged(tmp_path) -> pathlib.Path:
    """A clip whose second keyframe and two P-frames are zeroed: the decoder fails on them
    and drops the frames that refer to them."""
    clip = make_clip(tmp_path / "damaged.mkv", SPEC)
    return _damage_packets(clip, {7, 25, 30})


@pytest.fixture
def truncated(tmp_path) -> pathlib.Path:
    """A clip cut off at 30% of its bytes (it declares more than it holds)."""
    clip = make_clip(tmp_path / "cut.mkv", SPEC)
    data = clip.read_bytes()
    clip.write_bytes(data[: int(len(data) * 0.3)])
    return clip


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    status = main(argv)
    return status, capsys.readouterr().err.strip().splitlines()


def _leftovers(folder: pathlib.Path, *allowed: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in allowed)


@pytest.mark.parametrize("segments", [True, False], ids=["job", "single-pass"])
def test_damaged_video_is_colorized_by_default(segments, damaged, tmp_path, model_path,
                                               capsys):
    out = tmp_path / "out.mkv"
    metrics = tmp_path / "metrics.json"
    argv = ["colorize", str(damaged), "-o", str(out), "--model", str(model_path),
            "--metrics-json", str(metrics)] + ([] if segments else ["--no-segments"])
    status, lines = _run(argv, capsys)
    assert status == 0, lines
    warnings = [line for line in lines if line.startswith("streamcolor: warning:")]
    assert warnings and all("stream #0 (video) at 00:00:0" in w for w in warnings), lines
    written = video_pts(out)
    assert 10 < len(written) < FRAMES and written == sorted(set(written))
    assert "decode error" in lines[-1] and "skipped" in lines[-1]
    assert json.loads(metrics.read_text().splitlines()[-1])["decode_errors"] >= 1
    assert _leftovers(tmp_path, damaged, out, metrics) == []


def test_truncated_file_is_colorized_up_to_its_end(truncated, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    status, lines = _run(["colorize", str(truncated), "-o", str(out), "--model",
                          str(model_path)], capsys)
    assert status == 0, lines
    assert any("truncated" in line for line in lines if "warning" in line), lines
    assert 0 < len(video_pts(out)) < FRAMES


@pytest.mark.parametrize("segments", [True, False], ids=["job", "single-pass"])
def test_a_frame_cut_in_half_is_kept_and_named(segments, tmp_path, model_path, capsys):
    """A TS cut in the middle of its last frame (a keyframe): the decoder gives that frame,
    marked corrupt. It is kept and warned about, at its own time, by a job as by a single
    pass."""
    spec = dataclasses.replace(SPEC, width=320, height=240, frames=51)  # 50: a keyframe
    clip = make_clip(tmp_path / "cut.ts", spec)
    with av.open(str(clip)) as container:
        places = [(p.pos, p.size, float(p.pts * p.time_base))
                  for p in container.demux(video=0) if p.size]
    pos, size, last = places[-1]
    clip.write_bytes(clip.read_bytes()[: pos + size // 2])
    out = tmp_path / "out.mkv"
    status, lines = _run(["colorize", str(clip), "-o", str(out), "--model", str(model_path)]
                         + ([] if segments else ["--no-segments"]), capsys)
    assert status == 0, lines
    warnings = [line for line in lines if "warning" in line]
    at = f"{int(last // 60):02d}:{last % 60:06.3f}"
    assert len(warnings) == 1 and f"corrupt video frame in stream #0 (video) at 00:{at}" in \
        warnings[0], (at, lines)
    assert "1 decode error skipped" in lines[-1] and len(video_pts(out)) == 51, lines


@pytest.mark.parametrize("flag", [["--strict"], ["--on-decode-error", "stop"]])
def test_strict_stops_at_the_first_damage(flag, damaged, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    status, lines = _run(["colorize", str(damaged), "-o", str(out), "--model",
                          str(model_path), "-q", *flag], capsys)
    assert status == 1
    assert len(lines) == 1 and "00:00:0" in lines[0] and "damaged.mkv" in lines[0], lines
    assert _leftovers(tmp_path, damaged) == []


def _audio_sink(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", ClipSpec(frames=5, audio=(AudioTrack(),)))
    source = FileSource(clip)
    sink = FileSink(tmp_path / "out.mkv", source, EncodeConfig(preset="ultrafast"))
    audio = [p for p in source.container.demux(source.container.streams.audio[0]) if p.size]
    return source, sink, audio


def test_copied_packets_with_broken_timestamps_are_repaired_or_dropped(tmp_path):
    source, sink, audio = _audio_sink(tmp_path)
    try:
        start = audio[0].pts
        stamps = [(start, start), (start, start), (start - 5, None), (None, None),
                  (start + 2000, start + 2000)]
        for packet, (pts, dts) in zip(audio, stamps, strict=False):
            packet.pts, packet.dts = pts, dts
            sink.copy(packet)  # the muxer would refuse the 2nd, 3rd and 4th as they are
        sink.finish()
        sink.commit()
    finally:
        source.close()
    assert sink.copy_times.dropped == 1 and sink.copy_times.repaired >= 2
    with av.open(str(tmp_path / "out.mkv")) as output:
        dts = [p.dts for p in output.demux(audio=0) if p.size]
    assert len(dts) == 4 and dts == sorted(set(dts))


def test_copy_times_work_in_the_output_time_base():
    class Stream:
        index, time_base = 1, Fraction(1, 1000)

    times = CopyTimes()
    fitted = []
    for value in (90000, 90040, 90090):  # 1/90000: the first two are one millisecond apart
        packet = av.Packet(b"x")
        packet.time_base, packet.pts, packet.dts = Fraction(1, 90000), value, value
        assert times.fit(packet, Stream)
        fitted.append(packet.dts)
    assert fitted == [1000, 1001, 1002] and times.repaired == 2


def test_a_stream_that_appears_mid_file_is_passed_over():
    class Container:
        calls = 0

        def demux(self, *streams):
            self.calls += 1
            yield from ["a", "b"] if self.calls == 1 else ["d"]
            if self.calls == 1:
                raise IndexError("list index out of range")  # PyAV, on a new stream

    assert list(packets(Container())) == ["a", "b", "d"]


def test_unreadable_data_ends_the_packets_where_asked():
    class Container:
        def demux(self, *streams):
            yield "a"
            raise av.error.InvalidDataError(1094995529, "Invalid data")

    seen = []
    assert list(packets(Container(), on_error=seen.append)) == ["a"] and len(seen) == 1
    with pytest.raises(av.error.InvalidDataError):
        list(packets(Container()))


def test_a_failure_that_cannot_resume_leaves_no_job_folder(damaged, tmp_path, model_path,
                                                           capsys, monkeypatch):
    from streamcolor.jobs import job

    def refuse(*args, **kwargs):
        raise OutputError("cannot write out.mkv audio stream #1 (aac) at 00:00:01.000")

    monkeypatch.setattr(job, "join_segments", refuse)
    out = tmp_path / "out.mkv"
    status, lines = _run(["colorize", str(damaged), "-o", str(out), "--model",
                          str(model_path), "-q"], capsys)
    assert status == 1 and len(lines) == 1 and "audio stream #1" in lines[0], lines
    assert _leftovers(tmp_path, damaged) == []


def test_a_lost_worker_keeps_the_job_folder_and_says_how_to_resume(damaged, tmp_path,
                                                                   model_path, capsys,
                                                                   monkeypatch):
    from streamcolor.errors import StreamcolorError
    from streamcolor.jobs import job

    def lost(*args, **kwargs):
        error = StreamcolorError("segment 2: its worker died 3 times (exit status -9); "
                                 "finished segments are kept: the same command resumes")
        error.resumable = True
        raise error

    monkeypatch.setattr(job, "join_segments", lost)
    out = tmp_path / "out.mkv"
    status, lines = _run(["colorize", str(damaged), "-o", str(out), "--model",
                          str(model_path), "-q"], capsys)
    assert status == 1 and "the same command resumes" in lines[-1]
    assert (tmp_path / ".out.mkv.streamcolor" / "manifest.json").is_file()


def test_an_untranslated_library_error_is_still_one_line(tmp_path, model_path, capsys,
                                                         monkeypatch):
    import importlib

    cli = importlib.import_module("streamcolor.cli.main")  # the module, not its main()

    def fail(args):
        raise IndexError("list index out of range")  # e.g. PyAV on a stream it never saw

    monkeypatch.setattr(cli, "_dispatch", fail)
    monkeypatch.setattr(cli, "_debug_logging", lambda: None)  # FFmpeg's log stays off
    argv = ["colorize", str(tmp_path / "in.mkv"), "-o", str(tmp_path / "out.mkv")]
    status, lines = _run(argv, capsys)
    assert status == 1 and len(lines) == 1 and "list index out of range" in lines[0], lines
    with pytest.raises(IndexError):
        main([*argv, "--debug"])


def test_repeated_damage_is_summarized(caplog):
    from streamcolor.media.damage import SHOWN, DamageLog

    damage = DamageLog("film.mkv")
    with caplog.at_level("WARNING", logger="streamcolor"):
        for second in range(SHOWN + 7):
            damage.note("undecodable video data", "stream #0 (video)", float(second))
        damage.note("undecodable audio data", "stream #1 (audio)", 3.0)
        damage.close()
    lines = [r.getMessage() for r in caplog.records]
    assert damage.count == SHOWN + 8 and len(lines) == SHOWN + 2, lines
    assert "7 more damaged places in stream #0 (video) up to 00:00:11.000" in lines[SHOWN + 1]

"""Film jobs: segments, the join, resume (faults: test_jobs_faults.py; Ray: test_jobs_ray.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from helpers import packets, partial_of, video_pts
from streamcolor.cli.main import main
from streamcolor.config import EncodeConfig, ModelConfig
from streamcolor.jobs import JobConfig, job_folder, run_films
from streamcolor.jobs import segment as segment_module
from streamcolor.jobs.manifest import Manifest, write_atomic
from streamcolor.jobs.plan import WARMUP_FRAMES, FilmIndex, plan_segments, scan
from streamcolor.jobs.segment import SegmentTask, colorize_segment
from streamcolor.runtime import ModelRunner
from streamcolor.testing import AudioTrack, ClipSpec, interrupt_after_segments, make_clip

# B-frames (x264 medium), audio, subtitles, chapters, tags: everything a join can break.
RICH = ClipSpec(frames=100, audio=(AudioTrack(language="eng"),),
                subtitles=((0.5, 1.5, "one"), (2.2, 3.1, "two")),
                chapters=((0.0, 2.0, "First"), (2.0, 4.0, "Second")),
                metadata=(("title", "Film"),), codec_options=(("preset", "medium"),))
LOSSLESS = EncodeConfig(codec="ffv1")


def _cli(source, out, model_path, *extra: str) -> int:
    return main(["colorize", str(source), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu", "--segment-seconds", "1", *extra])


def _ffmpeg_errors(path) -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("needs Debian's ffmpeg")
    done = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    return done.stdout + done.stderr


def _chroma(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [np.concatenate([frame.to_ndarray()[frame.height:].ravel()])
                for frame in container.decode(video=0)]


@pytest.mark.parametrize("name", ["out.mkv", "out.mp4"])
def test_segmented_output_keeps_every_guarantee(name, clip, tmp_path, model_path, ffprobe,
                                                capsys):
    spec = RICH if name.endswith("mkv") else ClipSpec(
        frames=100, time_base=Fraction(1, 12800), audio=(AudioTrack(),),
        codec_options=(("preset", "medium"),))
    source = clip(spec, name="in" + name[3:])
    out = tmp_path / name
    assert _cli(source, out, model_path) == 0
    err = capsys.readouterr().err
    assert "4 segments on 1 node" in err
    assert video_pts(out) == video_pts(source)  # each frame once, input pts
    with av.open(str(source)) as container:
        others = [s.index for s in container.streams if s.type != "video"]
    for index in others:
        assert packets(out, index) == packets(source, index), f"stream {index} changed"
    assert _ffmpeg_errors(out) == ""
    with av.open(str(out)) as container:
        dts = [p.dts for p in container.demux(video=0) if p.size and p.dts is not None]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False)), "DTS not increasing"
    if name.endswith("mkv"):
        probe = ffprobe(out, "-show_chapters", "-show_format")
        assert [c["tags"]["title"] for c in probe["chapters"]] == ["First", "Second"]
        assert probe["format"]["tags"]["title"] == "Film"
    assert not job_folder(out).exists() and not partial_of(out).exists()


def test_segments_equal_a_single_pass_bit_for_bit(clip, tmp_path, model_path):
    """Without the stabilizer (no state across frames) and with a lossless encoder the joined
    film is the single pass, frame by frame: no seam."""
    source = clip(RICH)
    joined, single = tmp_path / "joined.mkv", tmp_path / "single.mkv"
    off = ("--codec", "ffv1", "-q", "--temporal", "off")
    assert _cli(source, joined, model_path, *off) == 0
    assert _cli(source, single, model_path, *off, "--no-segments") == 0
    a, b = _chroma(joined), _chroma(single)
    assert len(a) == len(b) == 100
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_stabilizer_warm_up_hides_the_joins(clip, tmp_path, model_path):
    """The stabilizer carries colour across frames: each segment starts it early enough that
    the joined film is the single pass within a small fraction of a chroma level (without a
    warm-up the first frame of a segment is off by about 0.3 levels on average)."""
    source = clip(ClipSpec(width=96, height=64, frames=200))
    joined, single = tmp_path / "joined.mkv", tmp_path / "single.mkv"
    assert _cli(source, joined, model_path, "--codec", "ffv1", "-q", "--segment-seconds",
                "2") == 0
    assert _cli(source, single, model_path, "--codec", "ffv1", "-q", "--no-segments") == 0
    a, b = _chroma(joined), _chroma(single)
    differences = [float(np.abs(x.astype(float) - y).mean()) for x, y in zip(a, b, strict=True)]
    assert max(differences[i] for i in (50, 100, 150)) < 0.05, differences
    assert max(differences) < 0.05


def test_variable_frame_rate_survives_the_join(clip, tmp_path, model_path):
    pts = tuple(sorted({int(i * 40 + (i % 7) * 9) for i in range(90)}))
    source = clip(ClipSpec(frames=len(pts), pts=pts, codec_options=(("preset", "medium"),)))
    out = tmp_path / "out.mkv"
    assert _cli(source, out, model_path, "-q") == 0
    assert video_pts(out) == video_pts(source) == list(pts)


def test_short_film_is_one_segment(clip, model_path):
    source = clip(ClipSpec(frames=10))
    with av.open(str(source)) as container:
        index = scan(source, container.streams.video[0].index)
    segments = plan_segments(index, 60.0)
    assert len(segments) == 1 and segments[0].count == 10 and segments[0].end_pts is None


def _shot_clip(path, cut_at: int, frames: int = 100) -> None:
    """Keyframes every 10 frames (no scene-cut keyframes); a hard cut at ``cut_at``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "10", "sc_threshold": "0",
                                                              "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(1)
        scenes = [rng.integers(20, 235, (48, 64), dtype=np.uint8) for _ in range(2)]
        for i in range(frames):
            picture = np.roll(scenes[i >= cut_at], i, axis=1)
            frame = av.VideoFrame.from_ndarray(picture, format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_cuts_prefer_a_shot_change_then_a_keyframe(tmp_path):
    cut = tmp_path / "cut.mkv"
    _shot_clip(cut, cut_at=55)
    index = scan(cut, 0)
    assert [index.pts[k] for k in index.keyframes][:7] == [0, 400, 800, 1200, 1600, 2000, 2400]
    with_shots = plan_segments(index, 2.0, path=cut, video_index=0)
    assert with_shots[1].first == 55, "the cut ignored the shot change"
    without = plan_segments(index, 2.1)  # no decoding: nearest keyframe to 2.1 s is frame 50
    assert without[1].first == 50
    assert all(s.warm_pts == index.pts[max(0, s.first - WARMUP_FRAMES)] for s in with_shots)
    assert sum(s.count for s in with_shots) == 100


def test_plan_covers_every_frame_once():
    index = FilmIndex(pts=list(range(0, 40 * 1000, 40)), keyframes=list(range(0, 1000, 48)),
                      time_base=Fraction(1, 1000))
    segments = plan_segments(index, 3.0)
    firsts = [s.first for s in segments]
    assert firsts[0] == 0 and sum(s.count for s in segments) == 1000
    assert all(a.first + a.count == b.first for a, b in zip(segments, segments[1:],
                                                            strict=False))
    assert all(2.0 <= s.count / 25 <= 4.6 for s in segments)


class _CountingRunner:
    def __init__(self, inner: ModelRunner) -> None:
        self.inner, self.frames = inner, 0
        self.input_size, self.provider = inner.input_size, inner.provider

    def run(self, lightness):
        self.frames += len(lightness)
        return self.inner.run(lightness)


def test_warm_up_frames_go_through_the_model_but_are_not_written(clip, tmp_path, model_path,
                                                                 monkeypatch):
    source = clip(RICH)
    index = scan(source, 0)
    segment = plan_segments(index, 1.0)[2]
    spy = _CountingRunner(ModelRunner(model_path, provider="cpu"))
    config = ModelConfig(model=str(model_path), provider="cpu")
    monkeypatch.setitem(segment_module._RUNNERS, config, spy)
    task = SegmentTask(input=str(source), segment=segment, model=config)
    result = colorize_segment(task, tmp_path / "s.packets")
    assert spy.frames == segment.count + WARMUP_FRAMES
    assert result.frames == segment.count and result.first_pts == segment.first_pts


def _interrupted_run(source, out, model_path, segments: int) -> None:
    """A run stopped by Ctrl-C right after its ``segments``-th segment was recorded."""
    with interrupt_after_segments(segments), pytest.raises(KeyboardInterrupt):
        run_films([(source, out)], model=ModelConfig(model=str(model_path), provider="cpu"),
                  encode=LOSSLESS, job=JobConfig(segment_seconds=1.0))


def test_resume_redoes_only_what_is_missing(clip, tmp_path, model_path):
    source, out = clip(RICH), tmp_path / "out.mkv"
    _interrupted_run(source, out, model_path, segments=2)
    folder = job_folder(out)
    manifest = Manifest.load(folder / "manifest.json")
    assert sorted(manifest.done) == [0, 1] and not out.exists()
    notes = []
    summary = run_films([(source, out)], model=ModelConfig(model=str(model_path),
                                                           provider="cpu"),
                        encode=LOSSLESS, job=JobConfig(segment_seconds=1.0), notify=notes.append)
    assert "resuming: 2 of 4 segments done (in.mkv)" in notes
    assert summary.resumed == 2 and sum(n["segments"] for n in summary.nodes.values()) == 2
    assert video_pts(out) == video_pts(source) and not folder.exists()


def test_corrupt_segment_is_detected_and_redone(clip, tmp_path, model_path):
    source, out = clip(RICH), tmp_path / "out.mkv"
    _interrupted_run(source, out, model_path, segments=2)
    folder = job_folder(out)
    damaged = folder / Manifest.load(folder / "manifest.json").done[1]["file"]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    notes = []
    run_films([(source, out)], model=ModelConfig(model=str(model_path), provider="cpu"),
              encode=LOSSLESS, job=JobConfig(segment_seconds=1.0), notify=notes.append)
    assert any("segment 2 is missing or damaged" in n for n in notes), notes
    assert "resuming: 1 of 4 segments done (in.mkv)" in notes
    assert video_pts(out) == video_pts(source)


@pytest.mark.parametrize("change", ["settings", "input", "no-resume"])
def test_changed_job_starts_over(change, clip, tmp_path, model_path):
    source, out = clip(RICH), tmp_path / "out.mkv"
    _interrupted_run(source, out, model_path, segments=2)
    encode, resume = LOSSLESS, True
    if change == "settings":
        encode = EncodeConfig(codec="ffv1", options=(("level", "3"),))
    elif change == "input":
        make_clip(source, RICH.__class__(**{**RICH.__dict__, "frames": 90}))
    else:
        resume = False
    notes = []
    summary = run_films([(source, out)], model=ModelConfig(model=str(model_path),
                                                           provider="cpu"),
                        encode=encode, job=JobConfig(segment_seconds=1.0, resume=resume),
                        notify=notes.append)
    assert summary.resumed == 0
    if change != "no-resume":
        assert any("changed since the last run; starting over" in n for n in notes), notes
    assert video_pts(out) == video_pts(source)


def test_manifest_is_replaced_whole(tmp_path):
    target = tmp_path / "manifest.json"
    write_atomic(target, b'{"a": 1}')
    write_atomic(target, json.dumps({"b": 2}).encode())
    assert json.loads(target.read_bytes()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_several_films_into_a_folder(clip, tmp_path, model_path, capsys):
    a = clip(ClipSpec(frames=50), name="a.mkv")
    b = clip(ClipSpec(frames=30, audio=(AudioTrack(),)), name="b.mkv")
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    argv = ["colorize", str(a), str(b), "-o", str(outdir), "--model", str(model_path),
            "--provider", "cpu", "--segment-seconds", "1", "--metrics-json",
            str(tmp_path / "m.json")]
    assert main(argv) == 0
    assert "3 segments on 1 node" in capsys.readouterr().err
    assert video_pts(outdir / "a.mkv") == video_pts(a)
    assert packets(outdir / "b.mkv", 1) == packets(b, 1)
    metrics = json.loads((tmp_path / "m.json").read_text().splitlines()[-1])
    assert metrics["segments"] == 3 and metrics["frames"] == 80
    (node,) = metrics["nodes"].values()
    assert node["segments"] == 3 and node["fps"] > 0


def test_mpeg_ts_input_matches_the_single_pass(tmp_path, model_path):
    """MPEG-TS has no index: seeks are approximate, and the segment start must still be exact."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian's ffmpeg")
    source = tmp_path / "in.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=64x48:rate=25,format=gray", "-f", "lavfi", "-i",
                    "sine=sample_rate=48000", "-t", "8", "-c:v", "libx264", "-c:a", "aac",
                    str(source)], check=True)
    joined, single = tmp_path / "joined.mkv", tmp_path / "single.mkv"
    assert _cli(source, joined, model_path, "-q") == 0
    assert _cli(source, single, model_path, "-q", "--no-segments") == 0
    assert len(video_pts(joined)) == 200 and video_pts(joined) == video_pts(single)
    assert packets(joined, 1) == packets(single, 1)
    as_ts = tmp_path / "joined.ts"  # headers in-band, not global: segments encoded alike
    assert _cli(source, as_ts, model_path, "-q") == 0
    assert video_pts(as_ts) == video_pts(source) and _ffmpeg_errors(as_ts) == ""


def test_workers_get_one_gpu_each_or_share_the_cores(monkeypatch):
    from streamcolor.jobs.local import LocalScheduler

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    gpus = LocalScheduler(2, provider="auto")
    assert [gpus._environment(slot)["CUDA_VISIBLE_DEVICES"] for slot in range(2)] == ["3", "5"]
    assert gpus.threads == 0  # the GPU does the work: onnxruntime's own default
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    notes = []
    cpus = LocalScheduler(8, provider="auto", notify=notes.append)
    assert cpus.workers == 4 and cpus.threads == 1 and notes == ["8 workers on 4 cores: using 4"]
    two = LocalScheduler(2, provider="cpu")
    assert two.workers * two.threads <= 4 and two._environment(0) == {"OMP_NUM_THREADS": "2"}


def test_a_folder_of_films_into_a_folder(clip, tmp_path, model_path, capsys):
    films = tmp_path / "films"
    films.mkdir()
    make_clip(films / "one.mkv", ClipSpec(frames=30))
    make_clip(films / "two.mp4", ClipSpec(frames=20))
    (films / "notes.txt").write_text("not a film")
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert main(["colorize", str(films), "-o", str(outdir), "--model", str(model_path),
                 "--provider", "cpu", "-q"]) == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["one.mkv", "two.mp4"]
    assert len(video_pts(outdir / "two.mp4")) == 20
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["colorize", str(empty), "-o", str(outdir), "--model", str(model_path)]) == 1
    assert "no video files in" in capsys.readouterr().err


def test_a_stream_without_timestamps_runs_the_single_pass(tmp_path, model_path, capsys):
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian's ffmpeg")
    raw = tmp_path / "raw.h264"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=64x48:rate=25,format=gray", "-t", "2", "-c:v", "libx264",
                    "-f", "h264", str(raw)], check=True)
    out = tmp_path / "out.mkv"
    assert _cli(raw, out, model_path) == 0
    err = capsys.readouterr().err
    assert "segments on" not in err and "has no timestamps" in err
    assert len(video_pts(out)) == 50 and not job_folder(out).exists()

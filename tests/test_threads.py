"""The run's thread budget (streamcolor.runtime.threads): it fits the cores the process may use,
the user's --threads wins, and the plan reaches onnxruntime, the encoder and OpenCV."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import cv2
import pytest

from streamcolor.api import colorize_file
from streamcolor.config import EncodeConfig, ModelConfig
from streamcolor.media.sinks import FileSink
from streamcolor.media.sources import FileSource
from streamcolor.runtime import ModelRunner, threads
from streamcolor.testing import ClipSpec


def _cores(monkeypatch, count: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)), raising=False)


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
@pytest.mark.parametrize("provider", ["cpu", "cuda", "tensorrt"])
def test_plan_fits_the_cores(cores, provider):
    plan = threads.plan(provider=provider, codec="libx264", cores=cores)
    counts = (plan.inference, plan.encoder, plan.opencv, plan.decoder)
    assert all(count >= 1 for count in counts), plan  # no "all cores" left to a library
    model = plan.inference if provider == "cpu" else 0  # on a GPU its CPU threads wait
    assert plan.busy == model + plan.encoder
    # the model and the encoder take turns: on one or two cores each may use them all
    assert plan.busy <= (cores if cores > 2 else 2 * cores), plan
    assert sum(counts) <= cores + threads.STAGE_THREADS, plan
    assert plan.total == sum(counts) + threads.STAGE_THREADS

def test_plan_uses_the_affinity_not_the_machine(monkeypatch):
    _cores(monkeypatch, 3)
    assert threads.usable_cores() == 3
    plan = threads.plan()
    assert plan.cores == 3
    _cores(monkeypatch, 1)
    assert threads.plan().cores == 1


def test_users_threads_win():
    for cores in (1, 2, 16):
        plan = threads.plan(threads=7, cores=cores)
        assert plan.inference == 7 and plan.inference_from_user
        assert "onnxruntime 7 (user)" in plan.describe()
    assert not threads.plan(cores=2).inference_from_user


def test_describe_is_one_line():
    line = threads.plan(provider="cpu", codec="libx264", cores=4).describe()
    assert "\n" not in line
    assert line.startswith("threads on 4 cores:") and "libx264" in line and "onnxruntime" in line


def _session_threads(runner: ModelRunner) -> int:
    return runner._session.get_session_options().intra_op_num_threads


def test_runner_applies_the_plan(monkeypatch, model_path):
    _cores(monkeypatch, 4)
    runner = ModelRunner(model_path, provider="cpu")
    planned = threads.plan(provider="cpu", cores=4)
    assert runner.threads == planned
    assert _session_threads(runner) == planned.inference != 0
    user = ModelRunner(model_path, provider="cpu", threads=3)
    assert _session_threads(user) == 3
    assert threads.of(user) is user.threads
    assert threads.of(object()) == planned  # a stand-in runner: the plan for its provider


def test_runner_stops_onnxruntime_spinning(monkeypatch, model_path):
    _cores(monkeypatch, 2)
    runner = ModelRunner(model_path, provider="cpu")
    assert not runner.threads.spin
    options = runner._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_sink_sets_the_encoders_threads(tmp_path, clip):
    source_path = clip(ClipSpec(frames=2))
    with FileSource(source_path) as source:
        sink = FileSink(tmp_path / "a.mp4", source, EncodeConfig(threads=1))
        try:
            assert sink.video.codec_context.thread_count == 1
        finally:
            sink.abort()
        own = EncodeConfig(threads=1, options=(("threads", "3"),))
        sink = FileSink(tmp_path / "b.mp4", source, own)
        try:  # the user's encoder option wins (the encoder is open: the header is written)
            assert sink.video.codec_context.thread_count == 3
        finally:
            sink.abort()


def test_colorize_applies_the_plan(monkeypatch, tmp_path, clip, model_path):
    _cores(monkeypatch, 4)
    seen = {}

    def on_start(runner, sink):
        seen["runner"], seen["encoder"] = runner, sink.video.codec_context.thread_count

    before = cv2.getNumThreads()
    try:
        colorize_file(clip(ClipSpec(frames=3)), tmp_path / "out.mp4",
                      model=ModelConfig(model=str(model_path), provider="cpu"),
                      on_start=on_start)
        plan = threads.plan(provider="cpu", codec="libx264", cores=4)
        assert seen["encoder"] == plan.encoder
        assert _session_threads(seen["runner"]) == plan.inference
        assert cv2.getNumThreads() == plan.opencv
    finally:
        cv2.setNumThreads(before)
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.video[0].codec_context.name == "h264"


def test_decoder_and_opencv_get_the_plan(monkeypatch, clip, model_path):
    _cores(monkeypatch, 4)
    runner = ModelRunner(model_path, provider="cpu")
    before = cv2.getNumThreads()
    try:
        with FileSource(clip(ClipSpec(frames=2))) as source:
            assert threads.for_run(runner, EncodeConfig(), source.video)[0] is runner.threads
            assert source.video.codec_context.thread_count == runner.threads.decoder == 2
            assert any(isinstance(item, av.VideoFrame) for item in source.items())
        assert cv2.getNumThreads() == runner.threads.opencv
    finally:
        cv2.setNumThreads(before)


@pytest.mark.parametrize("mode", [[], ["--no-segments"]])  # a film job; one pass
def test_debug_prints_the_plan(mode, tmp_path, clip, model_path):
    source = clip(ClipSpec(frames=4))
    command = [sys.executable, "-m", "streamcolor", "colorize", str(source), "-o",
               str(tmp_path / "out.mp4"), "--model", str(model_path), "--provider", "cpu",
               "--debug", *mode]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = threads.plan(provider="cpu", codec="libx264").describe()
    assert f"streamcolor: note: {line}" in done.stderr
    quiet = subprocess.run(command[:-1 - len(mode)] + mode, capture_output=True, text=True,
                           timeout=120)
    assert "threads on" not in quiet.stderr

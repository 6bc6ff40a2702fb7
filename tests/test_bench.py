"""The benchmark tools measure what they say: cells, shares, plot, JSON, seed baseline."""

from __future__ import annotations

import json
import pathlib
import sys

import av
import cv2
import pytest

from streamcolor.cli.main import main
from streamcolor.config import EncodeConfig, ModelConfig
from streamcolor.diagnostics.bench import (
    encode_only_fps,
    limit_fps,
    model_alone,
    model_only_fps,
    run_bench,
)
from streamcolor.runtime import threads
from streamcolor.testing import ClipSpec, make_clip

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def test_cells_have_consistent_figures(tmp_path, model_path):
    cells = run_bench(input=None, model=ModelConfig(model=str(model_path), provider="cpu"),
                      batch_sizes=[1, 4], resolutions=["480p"], frames=12, tmp=tmp_path)
    assert [(c.resolution, c.batch_size) for c in cells] == [("480p", 1), ("480p", 4)]
    for cell in cells:
        # (that the model alone is faster than the whole run is a measurement, bench's own
        # e2e/m column, not something a test on a shared machine can promise)
        assert cell.frames == 12 and cell.e2e_fps > 0 and cell.model_fps > 0
        assert set(cell.stage_share) == {"decode", "preprocess", "inference", "postprocess",
                                         "encode", "mux"}
        assert sum(cell.stage_share.values()) == pytest.approx(1.0)
        assert len(cell.queue_occupancy) == 4
        assert all(0 <= q <= 1 for q in cell.queue_occupancy)
        assert cell.cpu_percent > 0 and cell.peak_rss_mib > 50
        assert cell.gpu_memory_mib is None or cell.gpu_memory_mib >= 0
        assert cell.encode_fps > 0
        assert cell.limit_fps == pytest.approx(1 / (1 / cell.encode_fps + 1 / cell.model_fps))
        assert cell.e2e_vs_limit == pytest.approx(cell.e2e_fps / cell.limit_fps)


class _TimedRunner:
    """A model that takes exactly ``seconds`` per batch on a fake clock (no real timing)."""

    input_size, provider = 32, "cpu"

    def __init__(self, clock: list[float], seconds: float) -> None:
        self.clock, self.seconds, self.batches = clock, seconds, []

    def run(self, lightness):
        self.batches.append(lightness.shape)
        self.clock[0] += self.seconds
        return lightness[:, :1].repeat(2, axis=1)


def test_model_only_fps_counts_frames_per_second_of_the_model(monkeypatch):
    """Frames (batch x runs) over the model's time, after a warm-up run that is not
    counted. (Which real model is faster is a benchmark's figure: benchmarks/models_cpu.py.)"""
    import streamcolor.diagnostics.bench as bench

    clock = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    for batch, seconds in ((4, 0.01), (1, 0.01), (4, 0.04)):
        runner = _TimedRunner(clock, seconds)
        fps = model_only_fps(runner, batch, seconds=0.5, repeats=3)
        assert fps == pytest.approx(batch / seconds), (batch, seconds, fps)
        assert set(runner.batches) == {(batch, 1, 32, 32)} and len(runner.batches) > 3


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_the_model_alone_gets_every_core(monkeypatch, model_path, cores):
    """The limit's t_model is the model at its fastest alone, not at the share of the cores a
    run's plan gives it beside the encoder (one thread on two cores): that would lower the
    limit and flatter the run. A user's own thread count is kept."""
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    config = ModelConfig(model=str(model_path), provider="cpu")
    alone = model_alone(config)
    assert threads.of(alone).inference == cores
    assert alone._session.get_session_options().intra_op_num_threads == cores
    assert threads.plan(provider="cpu", cores=cores).inference <= cores
    mine = model_alone(ModelConfig(model=str(model_path), provider="cpu", threads=1))
    assert threads.of(mine).inference == 1 and threads.of(mine).inference_from_user


def test_cli_bench_writes_table_json_and_plot(tmp_path, model_path, capsys):
    clip = make_clip(tmp_path / "in.mkv", ClipSpec(width=96, height=64, frames=10))
    status = main(["bench", str(clip), "--model", str(model_path), "--provider", "cpu",
                   "--batch-sizes", "2", "--json", str(tmp_path / "b.json"), "--plot",
                   str(tmp_path / "b.png")])
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["res", "batch", "e2e"] and out[2].split()[:2] == ["in.mkv", "2"]
    results = json.loads((tmp_path / "b.json").read_text())
    assert results[0]["batch_size"] == 2 and results[0]["frames"] == 10
    picture = cv2.imread(str(tmp_path / "b.png"))
    assert picture is not None and picture.shape == (520, 1200, 3)
    assert picture.std() > 10, "the plot has content"


def test_seed_baseline_writes_every_frame(tmp_path, model_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from seed_baseline import seed_colorize
    finally:
        sys.path.remove(str(BENCHMARKS))
    clip = make_clip(tmp_path / "in.mp4", ClipSpec(width=96, height=64, frames=9))
    frames, seconds = seed_colorize(str(clip), str(tmp_path / "seed.mp4"), str(model_path),
                                    size=32)
    assert frames == 9 and seconds > 0
    with av.open(str(tmp_path / "seed.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 9


def test_limit_is_encode_and_model_back_to_back():
    assert limit_fps(100.0, 100.0) == pytest.approx(50.0)
    assert limit_fps(84.0, 170.0) == pytest.approx(1 / (1 / 84 + 1 / 170))
    assert limit_fps(0.0, 170.0) == 0.0 and limit_fps(84.0, 0.0) == 0.0


def test_bench_shows_encode_alone_the_limit_and_the_share_of_it(tmp_path, model_path, capsys):
    clip = make_clip(tmp_path / "in.mkv", ClipSpec(width=96, height=64, frames=10))
    status = main(["bench", str(clip), "--model", str(model_path), "--provider", "cpu",
                   "--batch-sizes", "2", "--json", str(tmp_path / "b.json")])
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("threads on ") and "onnxruntime" in out[0]  # the thread plan
    header = out[1].split()
    assert header[:9] == ["res", "batch", "e2e", "fps", "model", "e2e/m", "encode", "limit",
                          "e2e/lim"]
    row = out[2].split()
    e2e, model, encode, limit, share = (float(row[i]) for i in (2, 3, 5, 6, 7))
    assert encode > 0 and model > 0 and e2e > 0
    # the table's figures agree with each other within its rounding (one decimal)
    assert limit == pytest.approx(1 / (1 / encode + 1 / model), abs=0.1 + 0.05 * limit / encode
                                  + 0.05 * limit / model)
    assert share == pytest.approx(e2e / limit, abs=0.01 + 0.05 * share * (1 / e2e + 1 / limit))
    legend = next((line for line in out if line.startswith("model:")), "")
    assert "encode:" in legend and "limit:" in legend, "the columns are explained"
    if threads.plan(provider="cpu").inference < threads.usable_cores():
        assert f"the model alone: onnxruntime {threads.usable_cores()}" in out[0]
    cell = json.loads((tmp_path / "b.json").read_text())[0]
    assert cell["encode_fps"] == pytest.approx(encode, abs=0.051)
    assert cell["limit_fps"] == pytest.approx(1 / (1 / cell["encode_fps"]
                                                   + 1 / cell["model_fps"]))
    assert cell["e2e_vs_limit"] == pytest.approx(cell["e2e_fps"] / cell["limit_fps"])
    assert cell["limit_fps"] < min(cell["encode_fps"], cell["model_fps"])


def test_encode_only_fps_encodes_every_frame_with_the_runs_settings(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", ClipSpec(width=96, height=64, frames=8))
    fps = encode_only_fps(clip, EncodeConfig(preset="veryfast"), tmp_path)
    assert fps > 0
    assert not (tmp_path / "bench_encode_only.mkv").exists(), "the scratch output is removed"

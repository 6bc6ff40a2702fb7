"""The pipeline with every kind of contract-obeying model, batch sizes, windows, backpressure."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from helpers import luma_planes, packets, video_pts
from streamcolor import (
    EncodeConfig,
    FileSink,
    FileSource,
    ModelConfig,
    ModelContract,
    ModelRunner,
    Pipeline,
    PipelineConfig,
    colorize_file,
)
from streamcolor.testing import AudioTrack, ClipSpec, make_model

MODELS = {
    "fixed-batch-1": dict(fixed_batch=1),
    "half-size-output": dict(output_stride=2),
    "dynamic-spatial": dict(input_size=None),
    "gray-rgb-input": dict(contract=ModelContract(input_kind="gray_rgb", input_size=24)),
    "rgb-output": dict(contract=ModelContract(output_kind="rgb", input_size=24)),
    "no-metadata": dict(write_contract=False),
}


@pytest.mark.parametrize("kind", MODELS)
def test_every_contract_variant_colorizes_every_frame(kind, clip, tmp_path):
    model = make_model(tmp_path / f"{kind}.onnx", **MODELS[kind])
    source = clip(ClipSpec(frames=11, codec="ffv1", codec_options=()))
    output = tmp_path / "out.mkv"
    summary = colorize_file(source, output, model=ModelConfig(model=str(model), batch_size=4),
                            encode=EncodeConfig(codec="ffv1"))
    assert summary.frames == 11 and video_pts(output) == video_pts(source)
    for a, b in zip(luma_planes(source), luma_planes(output), strict=True):
        np.testing.assert_array_equal(a, b)
    with av.open(str(output)) as c:
        chroma = next(c.decode(video=0)).planes[1]
        assert np.frombuffer(chroma, np.uint8).std() > 1, "no colour"


def test_runner_reads_contract_and_sizes(tmp_path):
    runner = ModelRunner(make_model(tmp_path / "a.onnx", input_size=None))
    assert runner.input_size == 256 and runner.fixed_batch is None and runner.provider == "cpu"
    fixed = ModelRunner(make_model(tmp_path / "b.onnx", input_size=40, fixed_batch=1))
    assert fixed.input_size == 40 and fixed.fixed_batch == 1
    ab = fixed.run(np.full((3, 1, 40, 40), 60, np.float32))
    assert ab.shape == (3, 2, 40, 40) and ab.dtype == np.float32
    np.testing.assert_allclose(ab[0], ab[2])


@pytest.mark.parametrize("batch_size", [1, 3, 8, 32])
def test_batch_sizes_give_the_same_output(batch_size, clip, tmp_path, model_path):
    source = clip(ClipSpec(frames=10, codec="ffv1", codec_options=()))
    output = tmp_path / f"out{batch_size}.mkv"
    colorize_file(source, output, model=ModelConfig(model=str(model_path), batch_size=batch_size),
                  encode=EncodeConfig(codec="ffv1"))
    reference = tmp_path / "reference.mkv"
    colorize_file(source, reference, model=ModelConfig(model=str(model_path), batch_size=5),
                  encode=EncodeConfig(codec="ffv1"))
    with av.open(str(output)) as a, av.open(str(reference)) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True):
            np.testing.assert_array_equal(fa.to_ndarray(), fb.to_ndarray())


def test_start_and_duration_cut_every_stream_in_sync(clip, tmp_path, model_path, ffprobe):
    spec = ClipSpec(frames=75, audio=(AudioTrack(),))  # 3 s at 25 fps
    source = clip(spec)
    output = tmp_path / "cut.mkv"
    summary = colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                            pipeline=PipelineConfig(start=1.0, duration=1.0))
    assert summary.frames == 25
    assert video_pts(output) == [40 * i for i in range(25)]
    audio = packets(output, 1)
    first, last = audio[0][0], audio[-1][0]
    assert -30 <= first <= 30 and 900 <= last < 1000  # ms: the audio follows the cut


class _SlowSink:
    """A real FileSink that takes 3 ms per frame, recording how many frames were in flight."""

    def __init__(self, sink, decoded):
        self._sink, self._decoded, self.written, self.most_in_flight = sink, decoded, 0, 0
        self.plan = sink.plan

    def write(self, frame):
        time.sleep(0.003)
        self.written += 1
        self.most_in_flight = max(self.most_in_flight, self._decoded[0] - self.written)
        self._sink.write(frame)

    def copy(self, packet):
        self._sink.copy(packet)

    def finish(self):
        self._sink.finish()

    def commit(self):
        self._sink.commit()

    def abort(self):
        self._sink.abort()


def test_backpressure_bounds_frames_in_flight(clip, tmp_path, model_path):
    source_path = clip(ClipSpec(frames=300, width=32, height=24))
    batch, depth = 4, 2
    with FileSource(source_path) as source:
        decoded = [0]
        items = source.items

        def counting_items():
            for item in items():
                if isinstance(item, av.VideoFrame):
                    decoded[0] += 1
                yield item

        source.items = counting_items
        sink = _SlowSink(FileSink(tmp_path / "out.mkv", source, EncodeConfig()), decoded)
        runner = ModelRunner(model_path)
        summary = Pipeline(source, runner, sink, batch_size=batch, queue_batches=depth).run()
    assert summary.frames == 300 == sink.written
    # decode->preprocess queue, one batch being built, three batch queues, one batch per stage
    bound = batch * depth + batch + 3 * depth * batch + 3 * batch + 1
    assert sink.most_in_flight <= bound, (sink.most_in_flight, bound)
    assert sink.most_in_flight >= batch * depth, "the slow sink should have filled the queues"



def test_output_gets_ordinary_file_permissions(clip, tmp_path, model_path):
    """The output is an ordinary file (the umask applies), not mkstemp's private 0600."""
    import os

    mask = os.umask(0o022)
    try:
        output = tmp_path / "out.mkv"
        colorize_file(clip(ClipSpec(frames=3)), output, model=ModelConfig(model=str(model_path)))
    finally:
        os.umask(mask)
    assert output.stat().st_mode & 0o777 == 0o644


def test_live_queue_drops_stale_and_excess_frames_but_never_packets():
    import queue

    import av

    from streamcolor.live.backlog import drop_frames

    def frame(arrival):
        f = av.VideoFrame(16, 16, "yuv420p")
        f.opaque = arrival
        return f

    q = queue.Queue()
    old, packet, fresh = frame(1.0), av.Packet(b"audio"), [frame(10.0 + i) for i in range(5)]
    for item in (old, packet, *fresh):
        q.put(item)
    assert drop_frames(q, arrived_before=5.0, keep=3) == 3  # the stale one, then 2 oldest
    assert list(q.queue) == [packet, *fresh[2:]]
    assert drop_frames(q, arrived_before=5.0, keep=3) == 0


@pytest.mark.parametrize("stage, started", [(0, False), (2, False), (2, True), (4, True)])
def test_ctrl_c_while_the_stages_start_does_not_hang(stage, started, clip, tmp_path,
                                                     model_path, monkeypatch):
    """Ctrl-C can come while the stage threads are being started (a film job starts a pipeline
    a second): the stages that never started count as done, one that did start is waited
    for, and the run stops with the interrupt, its partial file removed."""
    import threading

    source_path = clip(ClipSpec(frames=20, width=32, height=24))
    real_start, calls = threading.Thread.start, []

    def start(thread):
        if not thread.name.startswith("streamcolor-"):
            return real_start(thread)
        calls.append(thread.name)
        if len(calls) == stage + 1:
            if started:
                real_start(thread)
            raise KeyboardInterrupt
        real_start(thread)

    raised: list[BaseException] = []

    def run(pipeline) -> None:  # in a thread of its own: a hang fails the test, not the suite
        try:
            pipeline.run()
        except BaseException as error:  # noqa: BLE001 - what the run raised is the result
            raised.append(error)

    with FileSource(source_path) as source:
        sink = FileSink(tmp_path / "out.mkv", source, EncodeConfig())
        pipeline = Pipeline(source, ModelRunner(model_path), sink, batch_size=4)
        monkeypatch.setattr(threading.Thread, "start", start)  # the stages' starts only
        runner = threading.Thread(target=run, args=(pipeline,), daemon=True)
        runner.start()
        runner.join(timeout=30)
        monkeypatch.undo()
        assert not runner.is_alive(), "the run hangs after Ctrl-C during its start"
    assert len(raised) == 1 and isinstance(raised[0], KeyboardInterrupt), raised
    assert calls[-1].startswith("streamcolor-") and len(calls) == stage + 1
    assert not (tmp_path / "out.mkv").exists()

"""Bad input, failing stages and interruption: the right error, one line, no partial output.

Every failure must leave OUTPUT as it was before the run (absent, or byte-identical) and
must not leave the hidden temporary file ``.{stem}.partial{suffix}`` beside it, nor any
``streamcolor-*`` thread. All media is generated here; nothing of the media stack is mocked.
Stage failures are injected by wrapping a real source/runner/sink or by patching one
function the pipeline calls, so the failure happens inside the real threaded pipeline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest

import streamcolor.pipeline as pipeline_module
from helpers import gpu_driver_loads, partial_of, require, video_pts, write_audio_only
from streamcolor import (
    EncodeConfig,
    FileSink,
    FileSource,
    ModelConfig,
    ModelRunner,
    Pipeline,
    PipelineConfig,
    colorize_file,
)
from streamcolor.errors import (
    DecodeError,
    EncoderError,
    IncompatibleStreamError,
    InputError,
    InputNotFoundError,
    ModelError,
    NotMediaError,
    NoVideoStreamError,
    OutputError,
    ProviderUnavailableError,
    StageError,
    StreamcolorError,
)
from streamcolor.testing import AudioTrack, ClipSpec, make_clip

PREVIOUS = b"the previous output: a failed run must leave these bytes alone\n"
FAST = EncodeConfig(preset="ultrafast")
CLIP_FRAMES = 75  # 3 s at 25 fps


# -- helpers ---------------------------------------------------------------------------------
def cpu(model, **options) -> ModelConfig:
    """The model on the CPU provider: the same, fast and deterministic, on every machine."""
    return ModelConfig(model=str(model), provider="cpu", **options)


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message.strip(), f"{type(error).__name__} has an empty message"
    assert "\n" not in message and "\r" not in message, f"message is not one line: {message!r}"
    return message


def assert_left_alone(output, previous: bytes | None) -> None:
    assert not partial_of(output).exists(), "the temporary file was left behind"
    if previous is None:
        assert not output.exists(), "a failed run created OUTPUT"
    else:
        assert output.read_bytes() == previous, "a failed run changed the existing OUTPUT"


def stage_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("streamcolor-")]


@pytest.fixture(params=["no-output-yet", "output-exists"])
def output(request, tmp_path):
    """(OUTPUT path, its bytes before the run or None)."""
    path = tmp_path / "out" / "result.mkv"
    path.parent.mkdir()
    previous = None
    if request.param == "output-exists":
        path.write_bytes(PREVIOUS)
        previous = PREVIOUS
    return path, previous


STOP = PipelineConfig(on_decode_error="stop")  # damaged input stops the run (--strict)


def fails(error_type, source, output, previous, **kwargs):
    """Run colorize_file, expect ``error_type``, check nothing was written; return the error."""
    if "model_path" in kwargs:
        kwargs["model"] = cpu(kwargs.pop("model_path"))
    kwargs.setdefault("encode", FAST)
    with pytest.raises(error_type) as caught:
        colorize_file(source, output, **kwargs)
    assert isinstance(caught.value, StreamcolorError)
    one_line(caught.value)
    assert_left_alone(output, previous)
    assert stage_threads() == []
    return caught.value


def corrupt_packet(source, target, fill: bytes = b"\xff") -> float:
    """Copy ``source`` to ``target`` with the middle of its middle video packet overwritten.

    Returns the time of the damaged packet. Only packet payload is touched, so the container
    still parses and it is the decoder that meets the garbage.
    """
    with av.open(str(source)) as container:
        found = [(p.pos, p.size, float(p.pts * p.time_base))
                 for p in container.demux(video=0) if p.size]
    pos, size, seconds = found[len(found) // 2]
    data = bytearray(source.read_bytes())
    start, length = pos + size // 4, size // 2
    data[start : start + length] = fill * length
    target.write_bytes(bytes(data))
    return seconds


# -- media, made once per module ------------------------------------------------------------
@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    files = {}
    files["good"] = make_clip(folder / "good.mkv", ClipSpec(frames=12, audio=(AudioTrack(),)))
    full = make_clip(folder / "three_seconds.mkv",
                     ClipSpec(frames=CLIP_FRAMES, audio=(AudioTrack(),)))
    files["three_seconds"] = full
    data = full.read_bytes()
    files["truncated"] = folder / "truncated.mkv"
    files["truncated"].write_bytes(data[: len(data) // 2])
    for codec, pix_fmt in (("ffv1", "yuv420p"), ("mjpeg", "yuvj420p")):
        clean = make_clip(folder / f"clean_{codec}.mkv",
                          ClipSpec(frames=CLIP_FRAMES, codec=codec, pix_fmt=pix_fmt,
                                   codec_options=(), audio=(AudioTrack(),)))
        files[f"corrupt_{codec}"] = folder / f"corrupt_{codec}.mkv"
        files[f"corrupt_{codec}_at"] = corrupt_packet(clean, files[f"corrupt_{codec}"])
    files["subtitled"] = make_clip(
        folder / "subtitled.mkv",
        ClipSpec(frames=12, audio=(AudioTrack(),), subtitles=((0.0, 0.3, "hello"),)))
    files["text"] = folder / "text.mkv"
    files["text"].write_text("this is a text file, not a video\n" * 20)
    files["random"] = folder / "random.mkv"
    files["random"].write_bytes(np.random.default_rng(7).bytes(20_000))
    files["empty"] = folder / "empty.mkv"
    files["empty"].write_bytes(b"")
    mp4 = make_clip(folder / "full.mp4", ClipSpec(frames=CLIP_FRAMES))
    files["truncated_mp4"] = folder / "truncated.mp4"
    files["truncated_mp4"].write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    files["audio_only"] = write_audio_only(folder / "audio_only.mka", frames=30)
    return files


def tiny_conv_model(path, in_channels: int, out_channels: int, metadata=None):
    """An ONNX model whose shapes are those given, made with onnx.helper."""
    onnx = pytest.importorskip("onnx", reason="the onnx package builds the wrong-contract models")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((out_channels, in_channels, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_channels, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_channels, 32, 32])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# -- A. bad input ----------------------------------------------------------------------------
def test_missing_input_is_input_not_found(tmp_path, output, model_path):
    path, previous = output
    missing = tmp_path / "no_such_film.mkv"
    error = fails(InputNotFoundError, missing, path, previous, model_path=model_path)
    assert isinstance(error, FileNotFoundError) and isinstance(error, InputError)
    assert "not found" in str(error) and "no_such_film.mkv" in str(error)


@pytest.mark.parametrize("kind", ["text", "random", "empty", "truncated_mp4"])
def test_not_media(kind, media, output, model_path):
    path, previous = output
    error = fails(NotMediaError, media[kind], path, previous, model_path=model_path)
    assert media[kind].name in str(error) and "not a media file" in str(error)


def test_audio_only_has_no_video_stream(media, output, model_path):
    path, previous = output
    error = fails(NoVideoStreamError, media["audio_only"], path, previous, model_path=model_path)
    assert "audio_only.mka" in str(error) and "no video stream" in str(error)


def test_truncated_file_stops_with_position(media, output, model_path):
    path, previous = output
    error = fails(StageError, media["truncated"], path, previous, model_path=model_path,
                  pipeline=STOP)
    assert error.stage == "decode"
    assert isinstance(error.error, DecodeError) and error.__cause__ is error.error
    assert error.error.position is not None and 0.5 < error.error.position < 2.5
    message = str(error)
    assert "truncated" in message and "--on-decode-error skip" in message
    assert "00:00:0" in message, "the message names no time position"


def test_truncated_file_skip_finishes_and_counts(media, tmp_path, model_path):
    out = tmp_path / "skipped.mkv"
    summary = colorize_file(media["truncated"], out, model=cpu(model_path),
                            encode=FAST, pipeline=PipelineConfig(on_decode_error="skip"))
    assert summary.decode_errors >= 1
    written = video_pts(out)
    assert 0 < len(written) < CLIP_FRAMES and summary.frames == len(written)
    assert not partial_of(out).exists()


@pytest.mark.parametrize("codec", ["ffv1", "mjpeg"])
def test_corrupt_frame_stops_with_position(codec, media, output, model_path):
    path, previous = output
    error = fails(StageError, media[f"corrupt_{codec}"], path, previous, model_path=model_path,
                  pipeline=STOP)
    assert error.stage == "decode" and isinstance(error.__cause__, DecodeError)
    damaged_at = media[f"corrupt_{codec}_at"]
    position = error.__cause__.position
    assert position is not None and damaged_at - 0.2 <= position <= damaged_at + 0.2
    assert "--on-decode-error skip" in str(error) and "00:00:01." in str(error)


@pytest.mark.parametrize("codec", ["ffv1", "mjpeg"])
def test_corrupt_frame_skip_finishes_and_counts(codec, media, tmp_path, model_path):
    out = tmp_path / "skipped.mkv"
    summary = colorize_file(media[f"corrupt_{codec}"], out,
                            model=cpu(model_path), encode=FAST,
                            pipeline=PipelineConfig(on_decode_error="skip"))
    assert summary.decode_errors >= 1
    written = video_pts(out)
    assert CLIP_FRAMES - 5 <= len(written) < CLIP_FRAMES and summary.frames == len(written)


def test_output_folder_missing(media, tmp_path, model_path):
    out = tmp_path / "no_such_folder" / "out.mkv"
    error = fails(OutputError, media["good"], out, None, model_path=model_path)
    assert "no_such_folder" in str(error) and "does not exist" in str(error)
    assert not out.parent.exists()


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder nobody may write into: chmod 555 for a user; for root (CI), whom
    permissions do not stop, the folder bind-mounted onto itself read-only."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)],
                             capture_output=True, text=True)
    require(mounted.returncode == 0, f"needs a read-only bind mount as root "
            f"(mount --bind -o ro: {mounted.stderr.strip()})")
    try:
        # older mount(8) ignores ro on the first bind: remount to be sure
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True,
                       capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False, capture_output=True)


def test_output_folder_read_only(media, read_only_folder, model_path):
    folder = read_only_folder
    with pytest.raises(OSError):  # the folder really refuses a new file, to this user too
        (folder / "probe").write_bytes(b"")
    error = fails(OutputError, media["good"], folder / "out.mkv", None, model_path=model_path)
    assert "not writable" in str(error) and str(folder) in str(error)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("spelling", ["same", "via-dotdot"])
def test_output_is_input(spelling, media, tmp_path, model_path):
    before = media["good"].read_bytes()
    target = media["good"]
    if spelling == "via-dotdot":
        (tmp_path / "sub").mkdir()
        target = tmp_path / "sub" / os.path.relpath(media["good"], tmp_path / "sub")
    with pytest.raises(OutputError) as caught:
        colorize_file(media["good"], target, model=cpu(model_path))
    assert "is the input" in one_line(caught.value)
    assert media["good"].read_bytes() == before
    assert not partial_of(media["good"]).exists()


def test_output_is_a_directory(media, tmp_path, model_path):
    taken = tmp_path / "taken.mkv"
    taken.mkdir()
    with pytest.raises(OutputError) as caught:
        colorize_file(media["good"], taken, model=cpu(model_path))
    assert "directory" in one_line(caught.value)
    assert taken.is_dir() and list(taken.iterdir()) == []
    assert not partial_of(taken).exists()


def test_unknown_output_container(media, output, model_path):
    path, previous = output
    path = path.with_suffix(".nosuchformat")
    if previous is not None:
        path.write_bytes(previous)
    error = fails(OutputError, media["good"], path, previous, model_path=model_path)
    assert ".nosuchformat" in str(error)


def test_unknown_codec(media, output, model_path):
    path, previous = output
    error = fails(EncoderError, media["good"], path, previous, model_path=model_path,
                  encode=EncodeConfig(codec="nosuchcodec"))
    assert "nosuchcodec" in str(error) and "unknown" in str(error)


def test_audio_codec_is_not_a_video_encoder(media, output, model_path):
    path, previous = output
    error = fails(EncoderError, media["good"], path, previous, model_path=model_path,
                  encode=EncodeConfig(codec="aac"))
    assert "'aac'" in str(error) and "video encoder" in str(error)


def test_unknown_encoder_option(media, output, model_path):
    path, previous = output
    error = fails(EncoderError, media["good"], path, previous, model_path=model_path,
                  encode=EncodeConfig(options=(("crff", "20"),)))
    assert "'crff'" in str(error) and "libx264" in str(error)


def test_encoder_rejects_option_value(media, output, model_path):
    path, previous = output
    error = fails(EncoderError, media["good"], path, previous, model_path=model_path,
                  encode=EncodeConfig(preset="nosuchpreset"))
    assert "result.mkv" in str(error)
    assert "nosuchpreset" in str(error), "the rejected value is named"


def test_missing_model(media, tmp_path, output):
    path, previous = output
    error = fails(ModelError, media["good"], path, previous,
                  model=cpu(tmp_path / "absent.onnx"))
    assert "absent.onnx" in str(error) and "not found" in str(error)


@pytest.mark.parametrize("content", ["text", "random"])
def test_corrupt_model(content, media, tmp_path, output):
    path, previous = output
    bad = tmp_path / "broken.onnx"
    if content == "text":
        bad.write_text("this is not an ONNX model\n" * 10)
    else:
        bad.write_bytes(np.random.default_rng(3).bytes(4096))
    error = fails(ModelError, media["good"], path, previous, model=cpu(bad))
    assert "broken.onnx" in str(error) and "cannot load model" in str(error)


@pytest.mark.parametrize("shape", ["3-channel-input", "5-channel-output", "gray_rgb-tag-on-L"])
def test_wrong_contract_model(shape, media, tmp_path, output):
    path, previous = output
    channels = {"3-channel-input": (3, 2, None), "5-channel-output": (1, 5, None),
                "gray_rgb-tag-on-L": (1, 2, {"streamcolor.input": "gray_rgb"})}[shape]
    model = tiny_conv_model(tmp_path / "wrong.onnx", *channels)
    error = fails(ModelError, media["good"], path, previous, model=cpu(model))
    assert "contract" in str(error) and "wrong.onnx" in str(error)


def test_bad_contract_metadata(media, tmp_path, output):
    path, previous = output
    model = tiny_conv_model(tmp_path / "tagged.onnx", 1, 2, {"streamcolor.input": "XYZ"})
    error = fails(ModelError, media["good"], path, previous, model=cpu(model))
    assert "contract" in str(error) and "XYZ" in str(error)



@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_gpu_provider_without_gpu(provider, media, output, model_path):
    if gpu_driver_loads():
        pytest.skip("an NVIDIA driver (libcuda.so.1) loads here, so the provider may run")
    path, previous = output
    error = fails(ProviderUnavailableError, media["good"], path, previous,
                  model=ModelConfig(model=str(model_path), provider=provider))
    assert f"'{provider}'" in str(error) and "cpu" in str(error)
    with pytest.raises(ProviderUnavailableError):
        ModelRunner(model_path, provider=provider)


def test_subtitles_into_mp4_is_incompatible_with_copy_strict(media, tmp_path, model_path):
    """By default SubRip is converted to mov_text (tests/test_containers.py); --copy-strict
    makes it an error that names the stream."""
    out = tmp_path / "out.mp4"
    error = fails(IncompatibleStreamError, media["subtitled"], out, None, model_path=model_path,
                  encode=EncodeConfig(preset="ultrafast", incompatible="strict"))
    assert isinstance(error, OutputError)
    message = str(error)
    assert "subtitle stream #2" in message and ".mkv" in message and ".mp4" in message


def test_start_past_the_end_is_an_input_error(media, output, model_path):
    path, previous = output
    error = fails(StreamcolorError, media["three_seconds"], path, previous,
                  model_path=model_path, pipeline=PipelineConfig(start=10))
    assert isinstance(error, InputError) or isinstance(error.__cause__, InputError)
    assert "start" in str(error) or "00:00:10" in str(error)


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_damaged_first_frame(mode, tmp_path, output, model_path):
    path, previous = output
    clean = make_clip(tmp_path / "clean.mkv", ClipSpec(frames=25, codec="mjpeg",
                                                       pix_fmt="yuvj420p", codec_options=()))
    with av.open(str(clean)) as container:
        pos, size = next((p.pos, p.size) for p in container.demux(video=0) if p.size)
    data = bytearray(clean.read_bytes())
    data[pos + size // 4 : pos + size // 4 + size // 2] = b"\xff" * (size // 2)
    damaged = tmp_path / "damaged_start.mkv"
    damaged.write_bytes(bytes(data))
    with av.open(str(damaged)) as container:  # only the first frame is damaged
        decodable = 0
        for packet in container.demux(video=0):
            try:
                decodable += len(packet.decode())
            except av.FFmpegError:
                pass
    assert decodable == 24
    if mode == "skip":
        summary = colorize_file(damaged, path, model=cpu(model_path),
                                encode=FAST, pipeline=PipelineConfig(on_decode_error="skip"))
        assert summary.decode_errors >= 1 and summary.frames == len(video_pts(path)) == 24
    else:
        error = fails(StreamcolorError, damaged, path, previous, model_path=model_path,
                      pipeline=STOP)
        if isinstance(error, StageError):
            error = error.__cause__
        assert isinstance(error, DecodeError) and error.position is not None
        assert "--on-decode-error skip" in str(error)


def test_input_named_like_the_temp_file_survives(media, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    # e.g. what a killed run left behind, now used as input
    leftover = out.with_name(f".{out.stem}.a1b2c3d4.partial{out.suffix}")
    leftover.write_bytes(media["three_seconds"].read_bytes())
    before = leftover.read_bytes()
    failure = None
    try:
        colorize_file(leftover, out, model=cpu(model_path), encode=FAST)
    except StreamcolorError as error:
        failure = error
    assert leftover.exists() and leftover.read_bytes() == before, (
        f"the input was destroyed (the run ended with {failure!r})")
    if failure is not None:  # refusing is fine, with a one-line OutputError and no output
        assert isinstance(failure, OutputError), repr(failure)
        one_line(failure)
        assert not out.exists()


# -- B. a failure in each pipeline stage -----------------------------------------------------
class Injected(RuntimeError):
    """The failure a test plants in one stage."""


class _Wrapper:
    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


class CountingSource(_Wrapper):
    """A real FileSource that counts the items the decode stage pulled, and can fail."""

    def __init__(self, inner, fail_at=None, before_failing=None) -> None:
        super().__init__(inner)
        self.pulled = 0
        self.fail_at, self.before_failing = fail_at, before_failing

    def items(self):
        for item in self._inner.items():
            self.pulled += 1
            if self.pulled == self.fail_at:
                raise self.before_failing()
            yield item


class FailingRunner(_Wrapper):
    def __init__(self, inner, fail_at, before_failing) -> None:
        super().__init__(inner)
        self.calls, self.fail_at, self.before_failing = 0, fail_at, before_failing

    def run(self, lightness):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.before_failing()
        return self._inner.run(lightness)


class FailingSink(_Wrapper):
    def __init__(self, inner, fail_at, before_failing) -> None:
        super().__init__(inner)
        self.calls, self.fail_at, self.before_failing = 0, fail_at, before_failing

    def write(self, frame):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.before_failing()
        self._inner.write(frame)


def _failing_function(original, fail_at, before_failing):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(None)
        if len(calls) == fail_at:
            raise before_failing()
        return original(*args, **kwargs)

    return wrapper


def run_guarded(pipeline: Pipeline, timeout: float = 20.0) -> dict:
    """Run the pipeline in a thread; fail (rather than hang the suite) if it does not return."""
    box: dict = {}

    def target() -> None:
        try:
            box["summary"] = pipeline.run()
        except BaseException as error:  # noqa: BLE001 - inspected by the test
            box["error"] = error
        box["returned"] = time.monotonic()

    thread = threading.Thread(target=target, name="test-pipeline-run", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"Pipeline.run did not return within {timeout} s (a hang)"
    return box


SCENARIOS = {
    # name: (clip frames, batch size, queue batches, pre-existing output, wait for backpressure)
    "short": (24, 8, 2, False, False),
    "backpressure": (120, 2, 1, True, True),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", pipeline_module.STAGES)
def test_failure_in_stage(stage, scenario, clip, tmp_path, model_path, monkeypatch):
    frames, batch, depth, existing, backpressure = SCENARIOS[scenario]
    source_path = clip(ClipSpec(frames=frames, audio=(AudioTrack(),)))
    out = tmp_path / "out.mkv"
    previous = PREVIOUS if existing else None
    if existing:
        out.write_bytes(PREVIOUS)
    planted = Injected(f"planted failure in the {stage} stage")
    seen: dict = {}

    def before_failing():
        """Runs in the failing stage's thread, just before it raises."""
        if backpressure and stage != "decode":
            # Hold this stage until the decoder stops getting items: the queues upstream
            # are full and every earlier stage is blocked in a put.
            deadline, last, still_since = time.monotonic() + 10, -1, time.monotonic()
            while time.monotonic() < deadline:
                if counting.pulled != last:
                    last, still_since = counting.pulled, time.monotonic()
                elif time.monotonic() - still_since > 0.3:
                    break
                time.sleep(0.02)
            seen["pulled"] = counting.pulled
        seen["partial_existed"] = partial_of(out).exists()
        seen["raised"] = time.monotonic()
        return planted

    with FileSource(source_path) as real_source:
        with FileSource(source_path) as again:
            total_items = sum(1 for _ in again.items())
        runner = ModelRunner(model_path, provider="cpu")
        sink = FileSink(out, real_source, FAST)
        counting = CountingSource(real_source)
        source = counting
        if stage == "decode":
            counting.fail_at, counting.before_failing = 5, before_failing
        elif stage == "preprocess":
            monkeypatch.setattr(pipeline_module, "model_input", _failing_function(
                pipeline_module.model_input, 5, before_failing))
        elif stage == "inference":
            runner = FailingRunner(runner, 3, before_failing)
        elif stage == "postprocess":
            monkeypatch.setattr(pipeline_module, "colorize_frame", _failing_function(
                pipeline_module.colorize_frame, 5, before_failing))
        elif stage == "encode":
            sink = FailingSink(sink, 5, before_failing)
        pipeline = Pipeline(source, runner, sink, batch_size=batch, queue_batches=depth)
        box = run_guarded(pipeline)

    assert "error" in box, f"the planted failure did not fail the run: {box}"
    error = box["error"]
    assert isinstance(error, StageError), repr(error)
    assert error.stage == stage
    assert error.__cause__ is planted and error.error is planted
    assert one_line(error) == f"{stage} stage failed: planted failure in the {stage} stage"
    assert box["returned"] - seen["raised"] < 5, "the run took too long to stop"
    assert seen["partial_existed"], "the sink was not writing when the stage failed"
    assert stage_threads() == []
    assert_left_alone(out, previous)
    if backpressure and stage != "decode":
        assert seen["pulled"] < total_items / 2, (
            f"decode was not held back: {seen['pulled']} of {total_items} items pulled")


# -- C. interruption -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """Long enough that a run takes a few seconds (with a slow encoder preset)."""
    folder = tmp_path_factory.mktemp("long")
    return make_clip(folder / "long.mkv", ClipSpec(width=640, height=360, frames=300))


@pytest.mark.parametrize("existing", [False, True])
def test_keyboard_interrupt_from_progress_callback(existing, clip, tmp_path, model_path):
    # long enough (about a second) that the run spans several progress polls
    source = clip(ClipSpec(width=640, height=360, frames=200, audio=(AudioTrack(),)))
    out = tmp_path / "out.mkv"
    previous = PREVIOUS if existing else None
    if existing:
        out.write_bytes(PREVIOUS)
    calls = []

    def on_progress(progress):
        calls.append((progress.frames, partial_of(out).exists(), sorted(stage_threads())))
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        colorize_file(source, out, model=cpu(model_path, batch_size=2),
                      encode=FAST, on_progress=on_progress)
    assert time.monotonic() - started < 10
    assert len(calls) == 1
    frames, partial_existed, threads_then = calls[0]
    assert partial_existed and threads_then, "the callback did not run mid-run"
    assert stage_threads() == []
    assert_left_alone(out, previous)


def test_interrupt_is_all_or_nothing(clip, tmp_path, model_path):
    """Ctrl-C at the last moment (every stage done, the final progress figures given, the
    output not yet committed) still leaves OUTPUT as it was."""
    source = clip(ClipSpec(width=160, height=120, frames=100))
    out = tmp_path / "out.mkv"
    out.write_bytes(PREVIOUS)
    calls = []

    def on_progress(progress):
        calls.append(progress.frames)
        if progress.frames < 100:
            return  # not yet: interrupt on the final figures, before the commit
        deadline = time.monotonic() + 10
        while "streamcolor-encode" in stage_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt  # after the encode stage has finished its work

    with pytest.raises(KeyboardInterrupt):
        colorize_file(source, out, model=cpu(model_path), encode=FAST, on_progress=on_progress)
    assert calls and calls[-1] == 100, "the interrupt came after every frame was written"
    assert not partial_of(out).exists()
    assert out.read_bytes() == PREVIOUS, "KeyboardInterrupt, yet OUTPUT was replaced"
    assert stage_threads() == []


class _SlowSink(_Wrapper):
    """A real FileSink that, on its 5th frame, sends Ctrl-C to the main thread, waits until the
    run is stopping, then sends a second Ctrl-C while the main thread waits for this stage."""

    def __init__(self, inner, interrupted: threading.Event) -> None:
        super().__init__(inner)
        self.interrupted = interrupted
        self.written = 0
        self.second_sent = False
        self.partial_existed = False

    def write(self, frame):
        self.written += 1
        if self.written == 5:
            self.partial_existed = partial_of(self._inner.path).exists()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            self.interrupted.wait(5)  # the main thread took the first Ctrl-C
            time.sleep(0.2)  # ... and is now joining the stages
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            self.second_sent = True
            time.sleep(0.5)
        self._inner.write(frame)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals (pthread_kill)")
def test_second_interrupt_during_cleanup_still_cleans_up(clip, tmp_path, model_path):
    source_path = clip(ClipSpec(width=160, height=120, frames=150))
    out = tmp_path / "out.mkv"
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with FileSource(source_path) as source:
            sink = _SlowSink(FileSink(out, source, FAST), interrupted)
            pipeline = Pipeline(source, ModelRunner(model_path, provider="cpu"), sink,
                                batch_size=2, queue_batches=1)
            with pytest.raises(KeyboardInterrupt):
                pipeline.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sink.partial_existed and sink.second_sent
    deadline = time.monotonic() + 5
    while stage_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not partial_of(out).exists(), "a second Ctrl-C left the temp file behind"
    assert not out.exists()


def _start_cli(source, out, model_path):
    command = [sys.executable, "-m", "streamcolor", "colorize", str(source), "-o", str(out),
               "--model", str(model_path), "--provider", "cpu", "--preset", "veryslow",
               "--no-segments"]  # the single pass (film jobs: tests/test_jobs_faults.py)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 30
    while not partial_of(out).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the run never started writing (exit {process.returncode}): {err}")
        time.sleep(0.02)
    time.sleep(0.3)  # well into the run, which takes several seconds
    assert process.poll() is None, "the run ended before it could be interrupted"
    return process


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "terminated")])
def test_cli_signal_exits_and_cleans_up(signum, status, word, long_clip, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    process = _start_cli(long_clip, out, model_path)
    process.send_signal(signum)
    sent = time.monotonic()
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the CLI did not exit within 20 s of {signum.name}")
    try:
        assert time.monotonic() - sent < 10
        assert process.returncode == status, err
        assert word in err and "Traceback" not in err
        assert not out.exists()
        assert not partial_of(out).exists(), f"{signum.name} left the temp file behind"
    finally:
        partial_of(out).unlink(missing_ok=True)

"""The temporal chroma stabilizer: less flicker, resets at cuts, no ghosts, same output for
every batch size, causal, and ``--temporal off`` is the frame-by-frame output."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

from streamcolor import EncodeConfig, ModelConfig, TemporalConfig, colorize_file
from streamcolor.color.lab import PlaneSpec, chroma_planes, model_input
from streamcolor.color.temporal import Stabilizer
from streamcolor.media.frames import plane_array
from streamcolor.runtime import ModelRunner

LOSSLESS = EncodeConfig(codec="ffv1")
SIZE = (96, 64)  # width, height
FULL_RANGE = PlaneSpec(full_range=True)


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    """A smooth random grey texture in 0..1 (something optical flow can follow)."""
    import cv2

    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2))
    big = cv2.resize(noise, (width + 8, height + 8), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.15 + 0.7 * (big - big.min()) / np.ptp(big), 0, 1)


def _pan(seed: int, frames: int, step: int = 1) -> list[np.ndarray]:
    """A camera pan over a texture: ``step`` pixels a frame."""
    width, height = SIZE
    texture = _texture(seed, width + frames * step, height)
    return [texture[4 : 4 + height, i * step : i * step + width] for i in range(frames)]


def _write(path, pictures: list[np.ndarray]) -> None:
    """Lossless grey video (full-range gray in FFV1) of pictures in 0..1."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "gray"
        for picture in pictures:
            frame = av.VideoFrame(SIZE[0], SIZE[1], "gray")
            plane_array(frame.planes[0], np.uint8)[:] = np.rint(picture * 255)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _chroma(path) -> list[np.ndarray]:
    """(2, h, w) int arrays of the Cb and Cr planes of every frame."""
    with av.open(str(path)) as container:
        return [np.stack([plane_array(f.planes[i], np.uint8).astype(int) for i in (1, 2)])
                for f in container.decode(video=0)]


def _jitter_model(path, amplitude: float = 12.0):
    """A tiny model whose colour jumps from frame to frame: a tint from lightness plus a
    random a*b* offset drawn per frame (ONNX RandomUniformLike), like a flickering colorizer."""
    import onnx
    from onnx import TensorProto, helper

    from streamcolor.contract import ModelContract

    n = helper.make_node
    nodes = [
        n("Constant", [], ["scale"], value=helper.make_tensor("s", TensorProto.FLOAT, [], [0.4])),
        n("Constant", [], ["shift"], value=helper.make_tensor("h", TensorProto.FLOAT, [], [-20.])),
        n("Mul", ["lightness", "scale"], ["tint_a"]),
        n("Add", ["tint_a", "shift"], ["a"]),
        n("Neg", ["a"], ["b"]),
        n("Concat", ["a", "b"], ["tint"], axis=1),
        n("ReduceMean", ["tint"], ["per_frame"], axes=[2, 3], keepdims=1),
        n("RandomUniformLike", ["per_frame"], ["noise"], low=-amplitude, high=amplitude),
        n("Add", ["tint", "noise"], ["ab"]),
    ]
    graph = helper.make_graph(
        nodes, "jitter",
        [helper.make_tensor_value_info("lightness", TensorProto.FLOAT, ["N", 1, 32, 32])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, 32, 32])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in ModelContract(input_size=32).to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def _flicker(chroma: list[np.ndarray]) -> float:
    """Mean frame-to-frame change of the mean chroma (the jitter is spatially constant)."""
    means = np.array([c.reshape(2, -1).mean(axis=1) for c in chroma])
    return float(np.abs(np.diff(means, axis=0)).mean())


def test_stabilizer_cuts_the_flicker_of_a_jittering_model(tmp_path):
    clip = tmp_path / "pan.mkv"
    _write(clip, _pan(1, 30))
    model = ModelConfig(model=str(_jitter_model(tmp_path / "jitter.onnx")))
    flicker = {}
    for mode in ("off", "on"):
        out = tmp_path / f"{mode}.mkv"
        colorize_file(clip, out, model=model, encode=LOSSLESS,
                      temporal=TemporalConfig(enabled=mode == "on"))
        flicker[mode] = _flicker(_chroma(out))
    assert flicker["off"] > 2.0  # the model really flickers
    assert flicker["on"] < 0.4 * flicker["off"], flicker


def test_the_frame_after_a_cut_is_the_frame_by_frame_output(tmp_path, model_path):
    clip = tmp_path / "cut.mkv"
    _write(clip, _pan(1, 12) + _pan(2, 12))
    out = {}
    for mode in ("off", "on"):
        out[mode] = tmp_path / f"{mode}.mkv"
        colorize_file(clip, out[mode], model=ModelConfig(model=str(model_path)),
                      encode=LOSSLESS, temporal=TemporalConfig(enabled=mode == "on"))
    on, off = _chroma(out["on"]), _chroma(out["off"])
    assert np.array_equal(on[12], off[12])  # nothing of the first shot carried across
    assert np.array_equal(on[0], off[0])  # the first frame of all is the model's own
    assert any(not np.array_equal(a, b) for a, b in zip(on[1:12], off[1:12], strict=True))


def _runner(model_path) -> ModelRunner:
    return ModelRunner(str(model_path), provider="cpu")


def _model_batch(runner: ModelRunner, pictures: list[np.ndarray],
                 spec: PlaneSpec = FULL_RANGE):
    lightness = np.stack([model_input(np.rint(p * 255).astype(np.uint8), runner.input_size,
                                      spec) for p in pictures])[:, None]
    return lightness, runner.run(lightness)


def test_within_a_shot_no_reset_and_a_pan_carries_colour():
    """A pan of 3 px a frame (1 px at the model's 32x32). The model colours a patch of the
    first frame red and everything after grey: the red rides along with the pan, to where
    the patch's texture went, and does not stay where the patch was."""
    pictures = _pan(3, 9, step=3)
    lightness = np.stack([model_input(np.rint(p * 255).astype(np.uint8), 32, FULL_RANGE)
                          for p in pictures])[:, None]
    rows, start = slice(10, 22), 18  # the patch: 8 model pixels wide, from column 18
    ab = np.zeros((len(pictures), 2, 32, 32), np.float32)
    ab[0, 0, rows, start : start + 8] = 60.0
    stabilizer = Stabilizer(TemporalConfig())
    out = np.stack(stabilizer(lightness, ab))
    assert stabilizer.cuts == 0, "a pan is one shot"
    last = len(pictures) - 1  # the texture has moved `last` model pixels to the left
    inner = (slice(rows.start + 2, rows.stop - 2),)
    moved = out[last, 0][inner][:, start - last + 2 : start - last + 6]
    left = out[last, 0][inner][:, start + 2 : start + 6]  # the patch's first place, now left
    assert moved.mean() > 0.3 * 60, f"the colour moved with the pan ({moved.mean():.1f})"
    assert np.abs(left).max() < 0.25 * moved.mean(), "no colour stays where the pan left"
    assert np.abs(out[last, 0][:, : start - last - 4]).max() < 0.1 * 60, "nor ahead of it"


def test_an_object_entering_takes_its_own_colour_without_a_trail():
    """A bright square enters a still scene; the model colours bright things red: within
    a few frames the square is as red as frame by frame, and where it was is not."""
    width, height = SIZE
    background = _texture(5, width, height)[4 : 4 + height, :width] * 0.5
    pictures, squares = [], []
    for i in range(16):
        picture = background.copy()
        left = -16 + 6 * i
        if left + 16 > 0:
            picture[24:40, max(0, left) : left + 16] = 0.95
        pictures.append(picture)
        squares.append((slice(24 * 32 // height, 40 * 32 // height),
                        slice(max(0, left) * 32 // width, max(0, left + 16) * 32 // width)))

    def bright_is_red(lightness):  # a*: 60 where L* > 80, else 0; b*: 0
        a = np.where(lightness > 80, 60.0, 0.0).astype(np.float32)
        return np.concatenate([a, np.zeros_like(a)], axis=1)

    spec = PlaneSpec(full_range=True)
    lightness = np.stack([model_input(np.rint(p * 255).astype(np.uint8), 32, spec)
                          for p in pictures])[:, None]
    out = np.stack(Stabilizer(TemporalConfig())(lightness, bright_is_red(lightness)))
    last = squares[-1]
    inner = (slice(last[0].start + 1, last[0].stop - 1), slice(last[1].start + 1, last[1].stop - 1))
    assert out[-1, 0][inner].mean() > 0.8 * 60  # the square's own colour
    trail = out[-1, 0][:, : max(1, last[1].start - 3)]  # behind the square, where it was
    assert np.abs(trail).max() < 0.25 * 60


def test_output_is_the_same_for_every_batch_size(tmp_path, model_path):
    clip = tmp_path / "pan.mkv"
    _write(clip, _pan(4, 21))
    results = []
    for batch in (1, 4, 8):
        out = tmp_path / f"b{batch}.mkv"
        colorize_file(clip, out, model=ModelConfig(model=str(model_path), batch_size=batch),
                      encode=LOSSLESS)
        results.append(_chroma(out))
    for other in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(results[0], other, strict=True))


def test_the_stabilizer_is_causal(model_path):
    """Live mode sees no future: each frame's output depends on it and earlier frames only,
    so nothing waits for a later frame (no added latency)."""
    runner = _runner(model_path)
    lightness, ab = _model_batch(runner, _pan(6, 12, step=2))
    whole = np.stack(Stabilizer(TemporalConfig())(lightness, ab))
    for k in (1, 5, 9):
        prefix = np.stack(Stabilizer(TemporalConfig())(lightness[:k], ab[:k]))
        assert np.array_equal(prefix, whole[:k])


def test_live_mode_runs_the_stabilizer(tmp_path):
    clip = tmp_path / "pan.mkv"
    _write(clip, _pan(1, 25))
    model = str(_jitter_model(tmp_path / "jitter.onnx"))
    out = tmp_path / "live.mkv"
    from streamcolor import LiveConfig, colorize

    colorize(clip, [out], model=ModelConfig(model=model, batch_size=1), encode=LOSSLESS,
             live=LiveConfig(max_latency=2.0))
    chroma = _chroma(out)
    assert len(chroma) == 25
    assert _flicker(chroma) < 4.0  # the off output of this model changes by about 12 a frame


def test_temporal_off_is_the_frame_by_frame_output(tmp_path, model_path):
    pictures = _pan(7, 10, step=3)
    clip = tmp_path / "pan.mkv"
    _write(clip, pictures)
    out = tmp_path / "off.mkv"
    colorize_file(clip, out, model=ModelConfig(model=str(model_path), batch_size=3),
                  encode=LOSSLESS, temporal=TemporalConfig(enabled=False))
    runner = _runner(model_path)
    spec = PlaneSpec(full_range=True)  # untagged grey: full range (as FFmpeg reads it), BT.601
    _, ab = _model_batch(runner, pictures, spec)
    got = _chroma(out)
    for picture, predicted, chroma in zip(pictures, ab, got, strict=True):
        luma = np.rint(picture * 255).astype(np.uint8)
        cb, cr = chroma_planes(luma, predicted, chroma.shape[1:], spec)
        assert np.array_equal(chroma, np.stack([cb, cr]).astype(int))


def test_cli_temporal_options(tmp_path, model_path):
    clip = tmp_path / "pan.mkv"
    _write(clip, _pan(1, 6))
    base = [sys.executable, "-m", "streamcolor", "colorize", str(clip), "--model",
            str(model_path), "--codec", "ffv1", "-q"]
    off = subprocess.run(base + ["-o", str(tmp_path / "off.mkv"), "--temporal", "off"],
                         capture_output=True, text=True)
    assert off.returncode == 0, off.stderr
    bad = subprocess.run(base + ["-o", str(tmp_path / "x.mkv"), "--temporal-strength", "1.5"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
    assert not (tmp_path / "x.mkv").exists()
    with pytest.raises(ValueError, match="between 0 and 1"):
        TemporalConfig(strength=-0.1)


def test_a_flash_is_no_cut_and_does_not_jolt_the_colour(model_path):
    """A one-frame flash (the picture 35% brighter) inside a pan: no reset, and the colour
    moves much less than the model's own answer does."""
    pictures = _pan(8, 12, step=1)
    pictures[6] = np.clip(pictures[6] * 1.35, 0, 1)
    lightness, ab = _model_batch(_runner(model_path), pictures)
    stabilizer = Stabilizer(TemporalConfig())
    out = np.stack(stabilizer(lightness, ab))
    assert stabilizer.cuts == 0
    jump_off = np.abs(ab[6] - ab[5]).mean()
    jump_on = np.abs(out[6] - out[5]).mean()
    assert jump_off > 1.0
    assert jump_on < 0.5 * jump_off


def _fast_scene(frames: int, step: int, seed: int = 11):
    """Model-resolution (128) L* and the true a*b* of a fast pan (``step`` pixels a frame, a
    twentieth of the width or more) under a flat sky: the sky is the top third, the ground a
    texture whose colour moves with it. Returns (L* (N,1,S,S), truth (N,2,S,S), ground mask)."""
    import cv2

    size = 128
    world = _texture(seed, size + frames * step, size)
    rng = np.random.default_rng(seed)
    tint = cv2.resize(rng.uniform(-30, 30, (2, 6, 6 + frames * step // 16)).transpose(1, 2, 0),
                      (world.shape[1], world.shape[0]), interpolation=cv2.INTER_CUBIC)
    lightness, truth = [], []
    for i in range(frames):
        view = slice(4, 4 + size), slice(i * step, i * step + size)
        picture = 20 + 60 * world[view]
        colour = tint[view].transpose(2, 0, 1).copy()
        picture[: size // 3], colour[:, : size // 3] = 75.0, np.array([-5.0, -25.0])[:, None, None]
        lightness.append(picture)
        truth.append(colour)
    ground = np.zeros((size, size), bool)
    ground[size // 3 + 8 : -8, 8 : -8 - step] = True
    return (np.stack(lightness)[:, None].astype(np.float32), np.stack(truth).astype(np.float32),
            ground)


@pytest.mark.parametrize("step", [6, 10])
def test_fast_motion_and_flat_sky_are_steadied(step):
    """A model that flickers (per-frame smooth noise on the true colour) on a fast pan under
    a flat sky: the stabilizer removes most of the flicker in both, measured along the true
    motion, and is no further from the true colour than the frame-by-frame prediction (no
    lag smears the ground). With 32x32 flow and fb checks on the flat sky, the 10-pixel pan
    kept 0.75 of the ground's flicker and 0.46 of the sky's."""
    import cv2

    lightness, truth, ground = _fast_scene(24, step)
    rng = np.random.default_rng(5)
    noise = np.stack([cv2.resize(rng.normal(0, 8, (2, 4, 4)).transpose(1, 2, 0), (128, 128),
                                 interpolation=cv2.INTER_CUBIC).transpose(2, 0, 1)
                      for _ in truth])
    prediction = truth + noise.astype(np.float32)
    out = np.stack(Stabilizer(TemporalConfig())(lightness, prediction))
    sky = np.zeros_like(ground)
    sky[8 : 128 // 3 - 8, 8:-8] = True

    def flicker(ab, where, shift):  # along the true motion: the ground moves `step` left
        now, before = ab[1:], ab[:-1]
        if shift:
            before = np.roll(before, -shift, axis=3)
        return float(np.abs(now - before).sum(1)[:, where].mean())

    for where, shift in ((ground, step), (sky, 0)):
        off, on = flicker(prediction, where, shift), flicker(out, where, shift)
        assert on < 0.35 * off, (where is sky, on / off)
    error = np.abs(out[8:] - truth[8:]).sum(1)[:, ground].mean()
    assert error < np.abs(noise[8:]).sum(1)[:, ground].mean(), error


def test_frames_of_different_sizes_are_each_stabilized_at_their_own():
    """A frame with finer hints comes at the hints' size among frames at the model's: each
    keeps its size, and colour carries across the change (a still scene: the red of the
    first frames holds the fine frame's prediction back, and the fine frame's the next)."""
    picture = _texture(3, 64, 64).astype(np.float32) * 100.0
    lightness = np.repeat(picture[None, None], 3, axis=0)
    red, grey = np.full((2, 8, 8), 0.0, np.float32), np.zeros((2, 32, 32), np.float32)
    red[0] = 40.0
    out = Stabilizer(TemporalConfig())(lightness, [red, grey, red * 0])
    assert [o.shape for o in out] == [(2, 8, 8), (2, 32, 32), (2, 8, 8)]
    assert out[1][0].mean() > 20 and out[2][0].mean() > 10  # carried through the change

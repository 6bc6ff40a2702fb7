"""Edges of the in-memory API and of the photo colour path: empty pictures, a source that
fails mid-batch, and large pictures done in row bands (same colours, bounded memory)."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from streamcolor import Colorizer, InputError, TemporalConfig, arrays, colorize_image
from streamcolor.color.lab import ab_columns, ab_rows, chroma_codes, chroma_planes, model_input
from streamcolor.runtime import ModelRunner


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from streamcolor.testing import make_model

    return make_model(tmp_path_factory.mktemp("m") / "tiny.onnx")


@pytest.fixture(scope="module")
def colorizer(model):
    return Colorizer(model=model, provider="cpu", batch_size=3)


def _grey(h, w, dtype=np.uint8, seed=0):
    top = np.iinfo(dtype).max
    ramp = np.linspace(0.1, 0.9, h * w, dtype=np.float32).reshape(h, w)
    noise = np.random.default_rng(seed).uniform(-0.05, 0.05, (h, w)).astype(np.float32)
    return (np.clip(ramp + noise, 0, 1) * top).astype(dtype)


def _picture(layout, h, w, dtype):
    grey = _grey(h, w, dtype)
    if layout == "grey":
        return grey
    tint = np.dstack([grey, np.maximum(grey, 40), grey // 2 + grey // 3])  # real colour
    if layout == "bgr":
        return tint.astype(dtype)
    return np.dstack([tint, np.full_like(grey, 99)]).astype(dtype)


# -- (a) empty pictures ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 0), (0, 7), (7, 0), (0, 0, 3), (0, 5, 4), (5, 0, 1)])
def test_an_empty_picture_is_a_one_line_input_error(colorizer, shape):
    with pytest.raises(InputError, match="empty picture") as caught:
        colorizer.colorize(np.zeros(shape, np.uint8))
    assert "\n" not in str(caught.value) and str(shape) in str(caught.value)


def test_an_empty_frame_in_a_stream_is_an_input_error(colorizer):
    with pytest.raises(InputError, match="empty picture"):
        list(colorizer.stream([_grey(8, 8), np.zeros((0, 8), np.uint8)]))


# -- (b) a source that fails mid-batch ---------------------------------------------------------
class CameraGone(RuntimeError):
    pass


def _failing(frames, error):
    yield from frames
    raise error


@pytest.mark.parametrize("count", [1, 4, 5, 6])  # batch_size 3: partial, partial, full
def test_stream_yields_the_frames_taken_then_raises_the_source_error(colorizer, count):
    frames = [_grey(16, 24, seed=i) for i in range(count)]
    got = []
    with pytest.raises(CameraGone, match="unplugged"):
        for colour in colorizer.stream(_failing(frames, CameraGone("unplugged")),
                                       temporal=TemporalConfig(enabled=False)):
            got.append(colour)
    assert len(got) == count, "every frame taken before the failure comes out"
    for frame, colour in zip(frames, got, strict=True):
        assert np.array_equal(colour, colorizer.colorize(frame))


def test_a_bad_frame_mid_stream_comes_after_the_good_ones(colorizer):
    frames = [_grey(16, 16, seed=i) for i in range(4)] + [np.zeros((16, 16), np.float32)]
    got = []
    with pytest.raises(InputError, match="uint8 or uint16"):
        got.extend(colorizer.stream(frames))
    assert len(got) == 4


# -- (c) large pictures in bands: the same colours, bounded memory ------------------------------
def _old_compose(luma, ab, alpha, spec):
    """The whole-picture composition this module replaced: the reference for the bands."""
    cb, cr = chroma_planes(luma, ab, luma.shape, spec)
    scale = np.float32(spec.max_code)
    ycrcb = cv2.merge([luma, cr, cb]).astype(np.float32) / scale
    bgr = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)
    bgr = arrays._into_gamut(bgr, ycrcb[..., :1]) * scale + 0.5
    bgr = np.clip(bgr, 0, spec.max_code).astype(luma.dtype)
    return bgr if alpha is None else np.dstack([bgr, alpha])


def _old_luma(picture):
    if picture.ndim == 2:
        return picture
    return cv2.cvtColor(np.ascontiguousarray(picture[..., :3]), cv2.COLOR_BGR2YCrCb)[..., 0]


def _strong_ab(size=64):
    rng = np.random.default_rng(7)
    ab = cv2.resize((rng.random((12, 12, 2), dtype=np.float32) - 0.5) * 180, (size, size))
    return np.ascontiguousarray(ab.transpose(2, 0, 1))  # strong colours, some out of gamut


def _assert_same_colours(new, old):
    """The same picture but where a chroma code moved by one (B moves 1.772x as far as Cb,
    plus rounding); alpha identical; almost every pixel identical."""
    assert new.shape == old.shape and new.dtype == old.dtype
    if new.shape[2] == 4:
        assert np.array_equal(new[..., 3], old[..., 3]), "alpha untouched"
    step = 2 if new.dtype == np.uint8 else 3
    assert np.abs(new.astype(np.int64) - old).max() <= step
    assert (new != old).any(axis=2).mean() < 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_chroma_in_bands_is_the_whole_picture_chroma_within_one_code(dtype):
    luma = _grey(301, 517, dtype)
    spec = arrays.picture_spec(luma)
    ab = _strong_ab()
    whole = chroma_planes(luma, ab, luma.shape, spec)
    columns = ab_columns(ab, luma.shape[1])
    bands = [chroma_codes(luma[top:top + 7], *ab_rows(columns, 301, top, min(top + 7, 301)),
                          spec) for top in range(0, 301, 7)]
    for plane, banded in zip(whole, zip(*bands, strict=True), strict=True):
        diff = np.abs(np.vstack(banded).astype(np.int64) - plane)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", ["grey", "bgr", "bgra"])
def test_bands_give_the_whole_picture_colours(monkeypatch, layout, dtype):
    monkeypatch.setattr(arrays, "_BAND_PIXELS", 4096, raising=False)  # ~8 rows a band
    picture = _picture(layout, 301, 517, dtype)
    luma, alpha = arrays.split_luma(picture)
    assert np.array_equal(luma, _old_luma(picture)), "luma bit for bit"
    ab = _strong_ab()
    spec = arrays.picture_spec(picture)
    new = arrays.compose(luma, ab, alpha, spec)
    _assert_same_colours(new, _old_compose(luma, ab, alpha, spec))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", ["grey", "bgr", "bgra"])
def test_colorize_image_matches_the_whole_picture_path(tmp_path, model, layout, dtype):
    runner = ModelRunner(model, provider="cpu")
    picture = _picture(layout, 203, 331, dtype)
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    cv2.imwrite(str(source), picture)
    colorize_image(source, target, runner=runner)
    luma, alpha = _old_luma(picture), picture[..., 3] if layout == "bgra" else None
    spec = arrays.picture_spec(picture)
    ab = runner.run(model_input(luma, runner.input_size, spec)[None, None])[0]
    old = _old_compose(luma, ab, alpha, spec)
    _assert_same_colours(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), old)


def test_colorize_leaves_the_callers_picture_alone(colorizer):
    picture = _picture("bgra", 40, 60, np.uint8)
    before = picture.copy()
    colorizer.colorize(picture)
    assert np.array_equal(picture, before)


def _traced_peak_mib(work) -> float:
    """Peak of the memory numpy and OpenCV's Python arrays hold while ``work`` runs."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_a_large_picture_costs_its_output_plus_bands_not_dozens_of_float_copies():
    luma = _grey(2500, 2500)  # 6 MiB of luma, 18 MiB of BGR out
    ab = np.zeros((2, 32, 32), np.float32)
    ab[0], ab[1] = 30, -40
    spec = arrays.picture_spec(luma)
    peak = _traced_peak_mib(lambda: arrays.compose(luma, ab, None, spec))
    assert peak < 18 + 60, f"compose held {peak:.0f} MiB (the whole-picture way: ~450)"
    bgr = np.dstack([luma] * 3)
    peak = _traced_peak_mib(lambda: arrays.split_luma(bgr))
    assert peak < 6 + 6, f"split_luma held {peak:.0f} MiB (the whole-picture way: ~24)"

"""The in-memory API: Colorizer.colorize for one array, Colorizer.stream for an iterator."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

import streamcolor
from streamcolor import Colorizer, InputError


@pytest.fixture(scope="module")
def colorizer(tmp_path_factory):
    from streamcolor.testing import make_model

    path = make_model(tmp_path_factory.mktemp("m") / "tiny.onnx")
    return Colorizer(model=path, provider="cpu", batch_size=3)


def _grey(h, w, dtype=np.uint8, seed=0):
    top = np.iinfo(dtype).max
    ramp = np.linspace(0.1, 0.9, h * w).reshape(h, w)
    noise = np.random.default_rng(seed).uniform(-0.05, 0.05, (h, w))
    return (np.clip(ramp + noise, 0, 1) * top).astype(dtype)


def _luma(picture):
    if picture.ndim == 2:
        return picture.astype(np.int64)
    return cv2.cvtColor(picture[..., :3], cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.int64)


def _has_colour(bgr) -> bool:
    return np.abs(bgr[..., 0].astype(np.int64) - bgr[..., 2]).max() > 0


def test_colorizer_is_public():
    assert "Colorizer" in streamcolor.__all__ and streamcolor.Colorizer is Colorizer


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", ["grey", "grey1", "bgr", "bgra"])
def test_layout_dtype_and_luma_are_kept(colorizer, layout, dtype):
    grey = _grey(41, 57, dtype)
    picture = {"grey": grey, "grey1": grey[..., None],
               "bgr": np.dstack([grey] * 3),
               "bgra": np.dstack([grey] * 3 + [np.full_like(grey, 123)])}[layout]
    out = colorizer.colorize(picture)
    channels = 4 if layout == "bgra" else 3
    assert out.shape == (41, 57, channels) and out.dtype == dtype
    assert _has_colour(out), "the picture got colour"
    step = 1 if dtype == np.uint8 else 257
    assert np.abs(_luma(out) - grey).max() <= step, "luma is the input's within rounding"
    if layout == "bgra":
        assert (out[..., 3] == 123).all(), "alpha untouched"


def test_a_colour_picture_keeps_its_luma(colorizer):
    rng = np.random.default_rng(1)
    bgr = rng.integers(40, 200, (32, 48, 3), dtype=np.uint8)
    out = colorizer.colorize(bgr)
    assert np.abs(_luma(out) - _luma(bgr)).max() <= 1


def test_stream_yields_every_frame_in_order(colorizer):
    frames = [_grey(24, 32, seed=i) for i in range(10)]  # 10 = 3 full batches + 1
    out = list(colorizer.stream(iter(frames)))
    assert len(out) == 10
    for source, colour in zip(frames, out, strict=True):  # each output matches its own input
        assert np.abs(_luma(colour) - source).max() <= 1
    from streamcolor import TemporalConfig

    plain = colorizer.stream(iter(frames), temporal=TemporalConfig(enabled=False))
    assert all(np.array_equal(a, colorizer.colorize(f)) for a, f in zip(plain, frames,
                                                                         strict=True))


def test_stream_is_lazy_and_holds_one_batch(colorizer):
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield _grey(16, 16, seed=i)

    stream = colorizer.stream(endless())
    first = next(stream)
    assert first.shape == (16, 16, 3)
    assert len(pulled) == colorizer.batch_size, "only one batch was read to yield the first"
    for _ in range(5):
        next(stream)
    assert len(pulled) <= 2 * colorizer.batch_size
    stream.close()


def _pan(count: int) -> list[np.ndarray]:
    texture = cv2.resize(np.random.default_rng(3).random((10, 40)), (120, 30)) * 200 + 20
    return [texture[:, 2 * i : 2 * i + 40].astype(np.uint8) for i in range(count)]


def test_stream_is_stabilized_and_the_same_for_every_batch_size(tmp_path):
    from streamcolor import TemporalConfig
    from streamcolor.testing import make_model

    path = make_model(tmp_path / "tiny.onnx")
    frames = _pan(9)
    steady = [list(Colorizer(model=path, provider="cpu", batch_size=b).stream(frames))
              for b in (1, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(*steady, strict=True))
    plain = list(Colorizer(model=path, provider="cpu").stream(
        frames, temporal=TemporalConfig(enabled=False)))
    single = Colorizer(model=path, provider="cpu")
    assert all(np.array_equal(a, single.colorize(f)) for a, f in zip(plain, frames, strict=True))
    assert np.array_equal(steady[0][0], plain[0])  # the first frame is the model's own
    assert any(not np.array_equal(a, b) for a, b in zip(steady[0], plain, strict=True))


def test_bad_arrays_are_clear_errors(colorizer):
    with pytest.raises(InputError, match="uint8 or uint16"):
        colorizer.colorize(np.zeros((8, 8), np.float32))
    with pytest.raises(InputError, match="got shape"):
        colorizer.colorize(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(InputError, match="numpy arrays"):
        colorizer.colorize([[1, 2], [3, 4]])

"""Colour math: L* for the model, chroma from ab, adapters between contract kinds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamcolor.color.lab import (
    PlaneSpec,
    chroma_planes,
    lightness_lut,
    lightness_to_gray_rgb,
    model_input,
    rgb_to_ab,
)


@pytest.mark.parametrize("bits, full", [(8, False), (8, True), (10, False), (10, True), (16, True)])
def test_lightness_lut_spans_0_to_100_monotonically(bits, full):
    lut = lightness_lut(PlaneSpec(bits=bits, full_range=full))
    assert len(lut) == 1 << bits and lut.dtype == np.float32
    assert np.all(np.diff(lut) >= 0)
    low = 0 if full else 16 << (bits - 8)
    high = (1 << bits) - 1 if full else 235 << (bits - 8)
    assert lut[low] == pytest.approx(0, abs=1e-4) and lut[high] == pytest.approx(100, abs=1e-3)


def test_lightness_matches_opencv_lab_of_grey():
    values = np.arange(256, dtype=np.uint8)
    grey = np.repeat(values[None, :, None], 3, axis=2).astype(np.float32) / 255
    expected = cv2.cvtColor(grey, cv2.COLOR_RGB2Lab)[0, :, 0]
    # OpenCV's float Lab uses an interpolated gamma table (about 0.2 L* off); ours is exact.
    np.testing.assert_allclose(lightness_lut(PlaneSpec(bits=8, full_range=True)), expected,
                               atol=0.25)


def test_model_input_shape_and_range():
    luma = np.linspace(16, 235, 720 * 1280).reshape(720, 1280).astype(np.uint8)
    picture = model_input(luma, 64, PlaneSpec(bits=8))
    assert picture.shape == (64, 64) and picture.dtype == np.float32
    assert 0 <= picture.min() < 5 and 95 < picture.max() <= 100


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("full", [False, True])
def test_neutral_ab_gives_neutral_chroma(bits, full):
    spec = PlaneSpec(bits=bits, full_range=full)
    dtype = spec.dtype
    luma = np.random.default_rng(0).integers(0, 1 << bits, (20, 30)).astype(dtype)
    cb, cr = chroma_planes(luma, np.zeros((2, 7, 7), np.float32), (10, 15), spec)
    mid = 1 << (bits - 1)
    assert cb.shape == cr.shape == (10, 15) and cb.dtype == dtype
    assert np.abs(cb.astype(int) - mid).max() <= 1 and np.abs(cr.astype(int) - mid).max() <= 1


@pytest.mark.parametrize("kr_kb", [(0.299, 0.114), (0.2126, 0.0722), (0.2627, 0.0593)])
def test_chroma_decodes_back_to_the_lab_colour(kr_kb):
    """Y'CbCr made of (original luma, our chroma) decodes to the Lab colour the model asked for."""
    spec = PlaneSpec(bits=8, full_range=True, kr_kb=kr_kb)
    luma = np.full((4, 4), 140, np.uint8)
    ab = np.stack([np.full((2, 2), 25.0), np.full((2, 2), -30.0)]).astype(np.float32)
    cb, cr = chroma_planes(luma, ab, (4, 4), spec)
    kr, kb = kr_kb
    y, u, v = 140 / 255, (cb[0, 0] - 128) / 255, (cr[0, 0] - 128) / 255
    r, b = y + 2 * (1 - kr) * v, y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    lab = cv2.cvtColor(np.array([[[r, g, b]]], np.float32), cv2.COLOR_RGB2Lab)[0, 0]
    assert lab[0] == pytest.approx(lightness_lut(spec)[140], abs=1.5)
    assert lab[1] == pytest.approx(25, abs=3) and lab[2] == pytest.approx(-30, abs=3)


def test_chroma_follows_ab_spatially():
    spec = PlaneSpec(bits=8)
    luma = np.full((8, 8), 128, np.uint8)
    ab = np.zeros((2, 2, 2), np.float32)
    ab[0, :, 1] = 40.0  # right half reddish
    cb, cr = chroma_planes(luma, ab, (4, 4), spec)
    assert cr[:, -1].mean() > cr[:, 0].mean() + 10


def test_gray_rgb_and_rgb_adapters_round_trip():
    lightness = np.linspace(0, 100, 64, dtype=np.float32).reshape(1, 1, 8, 8)
    rgb = lightness_to_gray_rgb(lightness)
    assert rgb.shape == (1, 3, 8, 8) and rgb.min() >= 0 and rgb.max() <= 1
    back = cv2.cvtColor(np.ascontiguousarray(rgb[0].transpose(1, 2, 0)), cv2.COLOR_RGB2Lab)
    np.testing.assert_allclose(back[..., 0], lightness[0, 0], atol=0.25)
    np.testing.assert_allclose(rgb_to_ab(rgb), 0, atol=0.2)  # OpenCV float Lab precision
    red = np.zeros((1, 3, 2, 2), np.float32)
    red[:, 0] = 1.0
    a, b = rgb_to_ab(red)[0, :, 0, 0]
    assert a > 70 and b > 50  # sRGB red is a* ~80, b* ~67


def _reference_chroma(luma, ab, shape, spec):
    """Today's chroma, written out plainly in float64: whole planes, no bands, no buffers."""
    height, width = shape
    if luma.shape != shape:
        luma = cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)
    a, b = (cv2.resize(np.ascontiguousarray(p, np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR) for p in ab)
    lab = np.dstack([lightness_lut(spec)[luma], a, b]).astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).astype(np.float64)
    kr, kb = spec.kr_kb
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb, cr = (rgb[..., 2] - y) / (2 * (1 - kb)), (rgb[..., 0] - y) / (2 * (1 - kr))
    step = 1 << (spec.bits - 8)
    scale, mid = ((spec.max_code, 1 << (spec.bits - 1)) if spec.full_range
                  else (224 * step, 128 * step))
    low, high = spec.chroma_limits()
    return [np.clip(np.floor(c * scale + mid + 0.5), low, high).astype(spec.dtype)
            for c in (cb, cr)]


@pytest.mark.parametrize("bits, full, shape, chroma", [
    (8, False, (720, 1280), (360, 640)),   # 4:2:0, five full bands and a part
    (8, True, (301, 199), (301, 199)),     # 4:4:4, odd sizes
    (10, False, (270, 482), (135, 241)),   # 10 bits, a band and a part
])
def test_chroma_in_bands_is_the_whole_picture_colour(bits, full, shape, chroma):
    """Chroma is made in bands of rows on reused buffers; every band, the last partial one
    included, gives the colour the whole-picture formula gives, within one code value."""
    rng = np.random.default_rng(bits + shape[0])
    spec = PlaneSpec(bits=bits, full_range=full, kr_kb=(0.2126, 0.0722))
    luma = cv2.GaussianBlur(rng.integers(0, spec.max_code + 1, shape).astype(spec.dtype),
                            (0, 0), 2)
    ab = rng.normal(0, 35, (2, 56, 56)).astype(np.float32)
    got = chroma_planes(luma, ab, chroma, spec)
    for mine, expected in zip(got, _reference_chroma(luma, ab, chroma, spec), strict=True):
        assert mine.shape == chroma and mine.dtype == spec.dtype
        difference = np.abs(mine.astype(np.int64) - expected)
        assert difference.max() <= 1
        assert (difference > 0).mean() < 1e-3  # float rounding at .5, not a shifted band


def test_chroma_buffers_are_per_thread_and_per_width():
    """Pictures of other widths in between, and other threads at the same time, do not change
    a picture's chroma (each thread's buffers are its own, remade for a new width)."""
    import concurrent.futures

    rng = np.random.default_rng(5)
    spec = PlaneSpec(bits=8)
    jobs = [(rng.integers(0, 256, (h, w)).astype(np.uint8),
             rng.normal(0, 40, (2, 14, 14)).astype(np.float32), (h // 2, w // 2))
            for h, w in ((260, 320), (200, 180), (130, 320), (260, 320))]
    alone = [_reference_chroma(luma, ab, shape, spec) for luma, ab, shape in jobs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: chroma_planes(job[0], job[1], job[2], spec),
                                 jobs * 8))
    for i, planes in enumerate(together):
        for mine, expected in zip(planes, alone[i % len(jobs)], strict=True):
            assert np.abs(mine.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("bits", [8, 10])
def test_chroma_is_made_in_the_planes_given(bits):
    """A frame's own chroma planes (rows wider than the picture, as FFmpeg pads them) get the
    colour in place: the same codes as fresh planes, the padding untouched."""
    rng = np.random.default_rng(bits)
    spec = PlaneSpec(bits=bits, kr_kb=(0.2126, 0.0722))
    luma = rng.integers(0, spec.max_code + 1, (150, 212)).astype(spec.dtype)
    ab = rng.normal(0, 40, (2, 28, 28)).astype(np.float32)
    fresh = chroma_planes(luma, ab, (75, 106), spec)
    rows = [np.full((75, 128), 7, spec.dtype) for _ in range(2)]
    views = tuple(row[:, :106] for row in rows)
    made = chroma_planes(luma, ab, (75, 106), spec, out=views)
    assert all(m is v for m, v in zip(made, views, strict=True))
    for row, expected in zip(rows, fresh, strict=True):
        assert np.array_equal(row[:, :106], expected)
        assert (row[:, 106:] == 7).all()

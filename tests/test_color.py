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

"""Still images: one file and folder trees keep size, depth, alpha, names and relative paths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamcolor import InputError, OutputError, colorize_image, colorize_images
from streamcolor.runtime import ModelRunner


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    from streamcolor.testing import make_model

    return ModelRunner(make_model(tmp_path_factory.mktemp("m") / "tiny.onnx"))


def _grey(h, w, dtype=np.uint8):
    top = np.iinfo(dtype).max
    ramp = np.linspace(0.1, 0.9, h * w).reshape(h, w)
    return (ramp * top).astype(dtype)


def _luma(picture):
    if picture.ndim == 2:
        return picture
    return cv2.cvtColor(picture[..., :3], cv2.COLOR_BGR2YCrCb)[..., 0]


def test_single_grey_png_becomes_colour_with_same_size_and_luma(tmp_path, runner):
    source, target = tmp_path / "old.png", tmp_path / "new.png"
    cv2.imwrite(str(source), _grey(37, 53))
    colorize_image(source, target, runner=runner)
    out = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    assert np.abs(out[..., 0].astype(int) - out[..., 2]).max() > 5, "no colour"
    assert np.abs(_luma(out).astype(int) - _grey(37, 53)).max() <= 2


def test_sixteen_bit_and_alpha_are_kept(tmp_path, runner):
    deep, alpha = tmp_path / "deep.png", tmp_path / "alpha.png"
    cv2.imwrite(str(deep), _grey(20, 30, np.uint16))
    rgba = np.dstack([np.repeat(_grey(20, 30)[..., None], 3, 2), np.full((20, 30), 77, np.uint8)])
    cv2.imwrite(str(alpha), rgba)
    colorize_image(deep, tmp_path / "deep_out.png", runner=runner)
    colorize_image(alpha, tmp_path / "alpha_out.png", runner=runner)
    out16 = cv2.imread(str(tmp_path / "deep_out.png"), cv2.IMREAD_UNCHANGED)
    assert out16.dtype == np.uint16 and out16.shape == (20, 30, 3)
    out_a = cv2.imread(str(tmp_path / "alpha_out.png"), cv2.IMREAD_UNCHANGED)
    assert out_a.shape == (20, 30, 4) and (out_a[..., 3] == 77).all()


def test_folder_tree_keeps_relative_paths_stems_and_sizes(tmp_path, runner):
    source = tmp_path / "scans"
    files = {"a.png": (10, 12), "sub/b.jpg": (31, 17), "sub/deeper/c.png": (64, 48)}
    for name, (h, w) in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(source / name), _grey(h, w))
    (source / "notes.txt").write_text("not an image")
    count = colorize_images(source, tmp_path / "out", runner=runner, batch_size=2)
    assert count == 3
    for name, (h, w) in files.items():
        out = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)
        assert out is not None and out.shape[:2] == (h, w), name
    assert not (tmp_path / "out" / "notes.txt").exists()
    colorize_images(source, tmp_path / "png", runner=runner, suffix=".png")
    assert (tmp_path / "png" / "sub" / "b.png").is_file()


def test_bad_image_inputs(tmp_path, runner):
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="not an image"):
        colorize_image(tmp_path / "fake.png", tmp_path / "x.png", runner=runner)
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(FileNotFoundError):
        colorize_image(tmp_path / "missing.png", tmp_path / "x.png", runner=runner)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        colorize_images(tmp_path / "empty", tmp_path / "o", runner=runner)
    cv2.imwrite(str(tmp_path / "ok.png"), _grey(8, 8))
    with pytest.raises(OutputError, match="is the input"):
        colorize_image(tmp_path / "ok.png", tmp_path / "ok.png", runner=runner)
    with pytest.raises(OutputError):
        colorize_image(tmp_path / "ok.png", tmp_path / "ok.unknownext", runner=runner)
    assert not list(tmp_path.glob(".*partial*"))

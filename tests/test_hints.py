"""Colour hints: the model contract's guidance, hints on photos (``--hints``, ``--hint``,
``Colorizer.colorize(hints=...)``), and the one-line refusals.

The guided tiny model (``make_model(guided=True)``) outputs the hint's a*b* exactly where
the mask is 1, so a test can see where every hint went; its output elsewhere is the
automatic one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamcolor import Colorizer, InputError, ModelError
from streamcolor.cli.main import main
from streamcolor.color.guidance import (
    HintPoint,
    Hints,
    at_model_size,
    from_bgra,
    parse_point,
    with_points,
)
from streamcolor.contract import ModelContract
from streamcolor.runtime import ModelRunner
from streamcolor.testing import make_model

RED_BGRA = (40, 30, 200, 255)
H, W = 48, 64


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("guided") / "guided.onnx", input_size=32,
                      guided=True)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("plain") / "plain.onnx", input_size=32)


def _grey() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return (60 + 120 * x / W + 20 * y / H).astype(np.uint8)


def _luma(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]


def _redness(bgr: np.ndarray) -> float:
    return float(bgr[..., 2].astype(int).mean() - bgr[..., 0].astype(int).mean())


def _left_half_red() -> np.ndarray:
    hints = np.zeros((H, W, 4), np.uint8)
    hints[:, : W // 2] = RED_BGRA
    return hints


# -- the form a guided model takes --------------------------------------------------------------

def test_a_model_cell_takes_the_mean_of_its_hinted_pixels():
    ab = np.zeros((2, 8, 8), np.float32)
    mask = np.zeros((8, 8), bool)
    ab[:, 0, 0], mask[0, 0] = (10, -20), True
    ab[:, 1, 1], mask[1, 1] = (30, 40), True  # same 4x4 cell of a 2x2 model grid
    hint_ab, hint_mask = at_model_size(Hints(ab, mask), 2)
    np.testing.assert_allclose(hint_ab[:, 0, 0], (20, 10))
    assert hint_mask[0].tolist() == [[1, 0], [0, 0]]
    assert not hint_ab[:, 1, 1].any()


def test_alpha_decides_and_colour_becomes_ab():
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[0, 0] = RED_BGRA
    bgra[0, 1] = (*RED_BGRA[:3], 127)  # below the threshold: no hint
    hints = from_bgra(bgra)
    assert hints.mask.tolist() == [[True, False], [False, False]]
    lab = cv2.cvtColor(np.float32([[[200 / 255, 30 / 255, 40 / 255]]]), cv2.COLOR_RGB2Lab)
    np.testing.assert_allclose(hints.ab[:, 0, 0], lab[0, 0, 1:], atol=1e-3)
    with pytest.raises(ValueError, match="alpha"):
        from_bgra(np.zeros((2, 2, 3), np.uint8))


def test_points_are_parsed_and_placed():
    point = parse_point("3,1,#ff0000")
    assert point == HintPoint(3, 1, (255, 0, 0))
    hints = with_points(Hints.empty(2, 4), [point])
    assert hints.mask[1, 3] and hints.count == 1 and hints.ab[0, 1, 3] > 50
    with pytest.raises(ValueError, match="outside the 4x2 picture"):
        with_points(Hints.empty(2, 4), [HintPoint(4, 0, (0, 0, 0))])
    for bad in ("3,1", "a,b,#ff0000", "3,1,#ff00"):
        with pytest.raises(ValueError, match="X,Y,#RRGGBB"):
            parse_point(bad)


# -- the model contract -------------------------------------------------------------------------

def test_guidance_is_declared_in_the_metadata(guided, plain):
    contract = ModelContract(guidance=("hint_ab", "hint_mask"))
    assert contract.to_metadata()["streamcolor.guidance"] == "hint_ab,hint_mask"
    assert ModelContract.from_metadata(contract.to_metadata()) == contract
    assert ModelRunner(guided, provider="cpu").guided
    assert not ModelRunner(plain, provider="cpu").guided


def test_a_model_without_guidance_refuses_hints_by_name(plain):
    runner = ModelRunner(plain, provider="cpu")
    lightness = np.full((1, 1, 32, 32), 50, np.float32)
    runner.run(lightness)  # automatic: as always
    with pytest.raises(ModelError) as info:
        runner.run(lightness, (np.zeros((1, 2, 32, 32), np.float32),
                               np.ones((1, 1, 32, 32), np.float32)))
    message = str(info.value)
    assert "plain.onnx takes no colour hints" in message and "siggraph17" in message
    assert "\n" not in message


def test_a_guided_model_runs_every_automatic_path_with_no_hints(guided, plain):
    grey = _grey()
    with_guidance = Colorizer(guided, provider="cpu").colorize(grey)
    without = Colorizer(plain, provider="cpu").colorize(grey)
    np.testing.assert_array_equal(with_guidance, without)  # empty mask: the automatic output


# -- photos ---------------------------------------------------------------------------------------

def test_colorizer_follows_hints_and_keeps_luma(guided):
    colorizer = Colorizer(guided, provider="cpu")
    grey = _grey()
    automatic = colorizer.colorize(grey)
    hinted = colorizer.colorize(grey, hints=_left_half_red())
    np.testing.assert_array_equal(_luma(hinted), grey)  # only chroma follows the hints
    left, right = slice(0, W // 2 - 4), slice(W // 2 + 4, W)
    assert _redness(hinted[:, left]) > _redness(automatic[:, left]) + 30
    np.testing.assert_array_equal(hinted[:, right], automatic[:, right])


def test_a_colour_the_luma_cannot_show_loses_saturation_not_brightness(guided):
    bright = np.full((H, W), 235, np.uint8)
    hints = np.zeros((H, W, 4), np.uint8)
    hints[...] = (255, 0, 0, 255)  # pure blue: far outside what luma 235 can show
    out = Colorizer(guided, provider="cpu").colorize(bright, hints=hints)
    np.testing.assert_array_equal(_luma(out), bright)
    spread = out.astype(int).max(axis=2) - out.astype(int).min(axis=2)
    assert 5 < spread.min() and spread.max() < 255 - 235 + 40  # tinted, far from pure blue


def test_hints_of_another_size_are_refused(guided):
    with pytest.raises(InputError, match="hints are 10x10 but the picture is 64x48"):
        Colorizer(guided, provider="cpu").colorize(_grey(), hints=np.zeros((10, 10, 4),
                                                                           np.uint8))


def _photo(tmp_path):
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), _grey())
    return path


def test_cli_hints_file_and_points(tmp_path, guided):
    photo, hints = _photo(tmp_path), tmp_path / "hints.png"
    assert cv2.imwrite(str(hints), _left_half_red())
    out = tmp_path / "out.png"
    assert main(["image", str(photo), "-o", str(out), "--model", str(guided), "--hints",
                 str(hints), "--hint", f"{W - 2},{H - 2},#00c000", "-q"]) == 0
    colour = cv2.imread(str(out))
    np.testing.assert_array_equal(_luma(colour), _grey())
    assert _redness(colour[:, : W // 2 - 4]) > 30
    assert int(colour[H - 2, W - 2, 1]) > int(colour[H - 2, W - 2, 2]) + 10  # the green point


@pytest.mark.parametrize("case", ["wrong-size", "no-alpha", "not-a-picture", "outside",
                                  "unguided-model", "missing"])
def test_cli_bad_hints_one_line_exit_1_nothing_written(tmp_path, guided, plain, capsys, case):
    photo, hints, out = _photo(tmp_path), tmp_path / "hints.png", tmp_path / "out.png"
    assert cv2.imwrite(str(hints), _left_half_red())
    model, extra = guided, ["--hints", str(hints)]
    if case == "wrong-size":
        assert cv2.imwrite(str(hints), np.zeros((10, 10, 4), np.uint8))
    elif case == "no-alpha":
        assert cv2.imwrite(str(hints), np.zeros((H, W, 3), np.uint8))
    elif case == "not-a-picture":
        hints.write_text("not a picture")
    elif case == "outside":
        extra = ["--hint", f"{W},0,#ff0000"]
    elif case == "unguided-model":
        model = plain
    else:
        extra = ["--hints", str(tmp_path / "absent.png")]
    assert main(["image", str(photo), "-o", str(out), "--model", str(model), *extra]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("streamcolor: error: "), err
    expected = {"wrong-size": "is 10x10 but the photo is 64x48", "no-alpha": "alpha channel",
                "not-a-picture": "is not a picture", "outside": "outside the 64x48 picture",
                "unguided-model": "takes no colour hints", "missing": "hints file not found"}
    assert expected[case] in err[0]
    assert not out.exists()


def test_cli_folder_takes_hints_files_with_the_same_relative_names(tmp_path, guided):
    photos, hints, out = tmp_path / "photos", tmp_path / "hints", tmp_path / "out"
    (photos / "sub").mkdir(parents=True)
    (hints / "sub").mkdir(parents=True)
    for name in ("sub/a.jpg", "b.png"):
        assert cv2.imwrite(str(photos / name), _grey())
    assert cv2.imwrite(str(hints / "sub" / "a.png"), _left_half_red())  # a.jpg's hints
    assert main(["image", str(photos), "-o", str(out), "--model", str(guided), "--hints",
                 str(hints), "-q"]) == 0
    hinted, automatic = cv2.imread(str(out / "sub" / "a.jpg")), cv2.imread(str(out / "b.png"))
    assert _redness(hinted[:, : W // 2 - 4]) > _redness(automatic[:, : W // 2 - 4]) + 30


def test_cli_folder_refuses_points(tmp_path, guided, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    assert cv2.imwrite(str(photos / "a.png"), _grey())
    with pytest.raises(SystemExit) as exit_:
        main(["image", str(photos), "-o", str(tmp_path / "out"), "--model", str(guided),
              "--hint", "1,1,#ff0000"])
    assert exit_.value.code == 2
    assert "for a folder give --hints FOLDER" in capsys.readouterr().err


def test_an_old_siggraph17_conversion_says_to_fetch_again(tmp_path):
    old = make_model(tmp_path / "siggraph17.onnx", input_size=32,
                     contract=ModelContract(input_size=32, family="siggraph17"))
    with pytest.raises(ModelError, match="fetch siggraph17` again"):
        ModelRunner(old, provider="cpu").require_guidance()


def test_hints_go_through_io_binding_as_well(guided):
    """The GPU path binds buffers; with the CPU provider the same code runs (as tested)."""
    plain = ModelRunner(guided, provider="cpu")
    bound = ModelRunner(guided, provider="cpu", io_binding=True)
    assert bound._bound is not None
    lightness = np.full((2, 1, 32, 32), 50, np.float32)
    ab = np.zeros((2, 2, 32, 32), np.float32)
    ab[:, 1] = -40
    mask = np.zeros((2, 1, 32, 32), np.float32)
    mask[1, :, 8:] = 1
    for hints in (None, (ab, mask), (ab * 0.5, mask)):  # buffers reused, refilled
        np.testing.assert_array_equal(bound.run(lightness, hints), plain.run(lightness, hints))
    assert bound.run(lightness, (ab, mask))[1, 1, 20, 5] == -40


def test_tensorrt_profile_covers_the_hint_inputs(tmp_path, guided):
    from streamcolor.runtime import providers

    options = providers.tensorrt_options(
        cache_root=tmp_path, model=guided, input_name="lightness", channels=1, size=224,
        max_batch=8, fp16=True, gpu="NVIDIA H100", version="10.13.3",
        hint_names=("hint_ab", "hint_mask"))
    assert options["trt_profile_min_shapes"] == (
        "lightness:1x1x224x224,hint_ab:1x2x224x224,hint_mask:1x1x224x224")
    assert options["trt_profile_max_shapes"] == (
        "lightness:8x1x224x224,hint_ab:8x2x224x224,hint_mask:8x1x224x224")


def test_trusted_hints_are_honoured_over_the_model():
    from streamcolor.color.guidance import honour

    ab = np.full((1, 2, 4, 4), 5.0, np.float32)  # the model's answer, at 1/4 of the input
    hint_ab = np.zeros((1, 2, 16, 16), np.float32)
    mask = np.zeros((1, 1, 16, 16), np.float32)
    hint_ab[:, 0, :4, :4], mask[:, :, :4, :4] = 40, 1  # the top-left output cell, fully
    hint_ab[:, 0, 4:6, 4:8], mask[:, :, 4:6, 4:8] = 20, 1  # half of the next diagonal cell
    out = np.stack(honour(ab, (hint_ab, mask)))
    assert out[0, 0, 0, 0] == pytest.approx(40)  # what the user said
    assert out[0, 0, 1, 1] == pytest.approx(0.5 * 20 + 0.5 * 5)  # as much as it covers
    assert out[0, 0, 3, 3] == 5 and out[0, 1, 0, 0] == pytest.approx(0)
    trust = mask * 0.25
    assert honour(ab, (hint_ab, mask, trust))[0][0, 0, 0] == pytest.approx(0.25 * 40 + 0.75 * 5)
    np.testing.assert_array_equal(ab, 5.0)  # the input is left as it was


def test_fine_honour_keeps_hint_detail_finer_than_the_model_grid():
    """Carried reference colour is laid on at the hints' own size: a stripe one model cell
    thin keeps its colour, where the model's 4x coarser grid would wash it out; a frame
    without hints stays at the model's size."""
    from streamcolor.color.guidance import honour

    ab = np.zeros((2, 2, 4, 4), np.float32)
    hint_ab = np.zeros((2, 2, 16, 16), np.float32)
    mask = np.zeros((2, 1, 16, 16), np.float32)
    hint_ab[0, 0, :, 5], mask[0, :, :, :] = 40.0, 1.0  # frame 0: fully hinted, a red stripe
    coarse, fine = honour(ab, (hint_ab, mask))[0], honour(ab, (hint_ab, mask), dense=True)[0]
    assert coarse.shape == (2, 4, 4) and coarse[0].max() == pytest.approx(10.0)  # washed out
    assert fine.shape == (2, 16, 16)
    assert fine[0, :, 5] == pytest.approx(40.0) and fine[0, :, 4] == pytest.approx(0.0)
    assert honour(ab, (hint_ab, mask), dense=True)[1].shape == (2, 4, 4)  # no hints: as it was


def test_dense_hints_lift_the_pale_model_where_they_do_not_reach():
    """A carried reference shows the model is twice too pale where both speak: its fill
    where the reference was lost is lifted as much (never paled; at most 3x)."""
    from streamcolor.color.guidance import honour

    ab = np.full((1, 2, 4, 4), 5.0, np.float32)
    hint_ab = np.full((1, 2, 16, 16), 10.0, np.float32)
    mask = np.zeros((1, 1, 16, 16), np.float32)
    mask[..., :8] = 1.0  # the left half carried, the right half lost
    lifted = honour(ab, (hint_ab, mask), dense=True)[0]
    assert lifted[:, :, :8] == pytest.approx(10.0) and lifted[:, :, 8:] == pytest.approx(10.0)
    assert honour(ab, (hint_ab, mask))[0][:, :, 2:] == pytest.approx(5.0)  # a user's hints
    assert honour(ab, (hint_ab * 8, mask), dense=True)[0][:, :, 8:] == pytest.approx(15.0)
    assert honour(ab, (hint_ab * 0.2, mask), dense=True)[0][:, :, 8:] == pytest.approx(5.0)


def test_a_hint_reaches_nearby_pixels_as_light_as_it_not_across_an_edge():
    """What the model left unfixed near a hint is corrected: pixels near it and of its own
    lightness take its colour, fading with distance; an edge (other lightness) stops it."""
    from streamcolor.color.guidance import honour, spread

    size = 64
    ab = np.zeros((1, 2, size // 4, size // 4), np.float32)  # the model ignored the hint
    lightness = np.full((1, 1, size, size), 30.0, np.float32)
    lightness[..., size // 2 :] = 70.0  # an edge down the middle
    hint_ab = np.zeros((1, 2, size, size), np.float32)
    mask = np.zeros((1, 1, size, size), np.float32)
    hint_ab[0, 0, 28:36, 20:28], mask[0, 0, 28:36, 20:28] = 40.0, 1.0
    out = spread(ab, (hint_ab, mask), lightness)
    a = out[0, 0]  # quarter resolution: the hint is at rows 7-8, columns 5-6
    assert a[8, 4] > 25 and a[5, 6] > 20  # beside the hint, same lightness
    assert a[8, 9] < 2  # as near, across the edge
    assert a[0, 0] < a[8, 0] < a[8, 4]  # fading with distance
    assert np.abs(out[0, 1]).max() < 1e-4  # b* was not hinted away from the model's
    honoured = honour(ab, (hint_ab, mask))
    assert honoured[0][0, 8, 4] == 0  # honour alone fixes only the hinted cells


def test_the_reach_of_a_hint_shrinks_as_hints_get_denser():
    from streamcolor.color import guidance

    one = np.zeros((224, 224), np.float32)
    one[100:105, 100:105] = 1
    many = np.zeros((224, 224), np.float32)
    many[5::22, 5::22] = 1  # 100 separate clicks
    _, low, high = guidance._SPREAD_REACH
    assert guidance._reach(one) == pytest.approx(high * 224)  # one click: its surroundings
    assert guidance._reach(many) == pytest.approx(low * 224)  # a hundred: each its own
    assert guidance._reach(many) < 0.6 * guidance._reach(one)
    stroke = np.zeros((224, 224), np.float32)
    stroke[50, 20:200] = 1  # one long stroke is one hint
    assert guidance._reach(stroke) == guidance._reach(one)


def test_a_painted_stroke_is_pooled_to_a_bounded_number_of_hints():
    from streamcolor.color import guidance

    mask = np.ones((224, 224), np.float32)  # everything painted
    cells = guidance._cells(mask)
    assert cells * cells <= guidance._SPREAD_HINTS
    few = np.zeros((224, 224), np.float32)
    few[100:105, 100:105] = 1
    assert guidance._cells(few) == 56  # a few clicks keep the finest grid


def test_a_long_stroke_pulls_no_harder_than_a_click():
    """Far from the hints, a stroke of many cells changes the colour no more than one click at
    its nearest point would (its cells do not add up into a pull that reaches everywhere)."""
    from streamcolor.color.guidance import spread

    size = 128
    ab = np.zeros((1, 2, size // 4, size // 4), np.float32)
    lightness = np.full((1, 1, size, size), 50.0, np.float32)

    def pulled(columns: slice) -> float:
        hint_ab = np.zeros((1, 2, size, size), np.float32)
        mask = np.zeros((1, 1, size, size), np.float32)
        hint_ab[0, 0, 20:24, columns], mask[0, 0, 20:24, columns] = 40.0, 1.0
        return float(spread(ab, (hint_ab, mask), lightness)[0, 0, 24, 16])  # 76 px below

    click, stroke = pulled(slice(62, 66)), pulled(slice(8, 120))
    assert 0 < click and stroke < 1.5 * click, (click, stroke)

"""Reference frames: the colour of one frame carried through its shot, forward and backward
along the motion, never across a cut; ``--reference`` and the Python API; one-line refusals.

The guided tiny model outputs the hint's a*b* exactly where the mask is 1, so where carried
colour became a hint shows directly in the output."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from streamcolor import (
    Colorizer,
    EncodeConfig,
    InputError,
    LiveConfig,
    ModelConfig,
    ModelError,
    colorize,
    colorize_file,
)
from streamcolor.cli.main import main
from streamcolor.color.carry import ForwardCarrier, carry_backward, reference_ab
from streamcolor.color.motion import flow_picture
from streamcolor.media.hintfiles import read_references
from streamcolor.testing import make_model, write_grey_video

W, H, FRAMES, CUT = 160, 96, 24, 16  # frames 0..15 one shot, 16..23 another


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (H, 3 * W)).astype(np.float32), (0, 0), 3)
    return cv2.normalize(big, None, 30, 220, cv2.NORM_MINMAX)


def _grey_frames() -> list[np.ndarray]:
    """A pan over one texture, then a cut to another."""
    first, second = _texture(1), _texture(2)
    return [np.ascontiguousarray((first if i < CUT else second)[:, 2 * i : 2 * i + W])
            .astype(np.uint8) for i in range(FRAMES)]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_grey_video(tmp_path_factory.mktemp("film") / "pan.mkv", _grey_frames())


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("m") / "guided.onnx", input_size=64, guided=True)


def _red(grey: np.ndarray) -> np.ndarray:
    """A colour picture of a grey frame, everything tinted red."""
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(int)
    bgr[..., 2] += 70
    bgr[..., 0] -= 40
    return np.clip(bgr, 0, 255).astype(np.uint8)


def _cr(path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.to_ndarray(format="yuv444p")[2].astype(int).mean())
                for f in container.decode(video=0)]


def _run(film, out, model, **kw):
    return colorize_file(film, out, model=ModelConfig(model=str(model), provider="cpu"),
                         encode=EncodeConfig(codec="ffv1"), **kw)


# -- carrying colour along the motion ----------------------------------------------------------

def test_colour_moves_with_the_pan_and_stops_at_the_cut():
    frames = _grey_frames()
    lightness = [f.astype(np.float32) / 2.55 for f in frames]
    patch = np.zeros((H, W, 3), np.uint8)
    patch[...] = 128
    patch[30:60, 60:90] = (40, 40, 220)  # a red square in frame 0
    carrier = ForwardCarrier({0: reference_ab(patch)})
    states = [carrier.step(picture) for picture in lightness]
    assert states[0] is not None and states[CUT] is None  # nothing crosses the cut
    a = states[8].ab[0].astype(np.float32)  # the scene moved 16 px left by frame 8
    side = a.shape[0]  # the carried colour's own resolution
    scale = side / W
    row, left = int(45 * side / H), int((60 + 15) * scale)
    moved = int((60 + 15 - 16) * scale)
    assert a[row, moved] > 20 and a[row, moved] > a[row, int(100 * scale)] + 15
    assert a[row, moved] > a[row, left + 12]  # the colour went with the pan, not stayed put


def test_carried_colour_holds_through_a_long_shot():
    """A grainy pan of 60 frames over one texture: the colour of frame 0 is still trusted
    where the scene is still in view (each step's motion holds; the small doubts that grain
    puts in every step do not pile up: multiplied, they left 0.04 of the trust)."""
    texture = cv2.normalize(cv2.GaussianBlur(np.random.default_rng(7).uniform(
        0, 255, (H, W + 120)).astype(np.float32), (0, 0), 3), None, 30, 220, cv2.NORM_MINMAX)
    grain = np.random.default_rng(3)
    frames = [texture[:, i : i + W] / 2.55 + grain.normal(0, 3.0, (H, W)).astype(np.float32)
              for i in range(60)]  # 1 px a frame, film grain of 3 L*
    carrier = ForwardCarrier({0: reference_ab(_red(frames[0].astype(np.uint8)))})
    for picture in frames[:-1]:
        carrier.step(picture)
    last = carrier.step(frames[-1])
    seen = last.confidence[16:-16, 16 : 128 - 64]  # left part: in view since frame 0
    assert last is not None and float(np.median(seen)) > 0.5, float(np.median(seen))


def test_colour_carried_backward_moves_back_along_the_pan():
    """The scene pans left 2 px a frame: a red square at x 60..90 in frame 8 was at 76..106
    in frame 0, and that is where its carried colour is."""
    frames = _grey_frames()
    pictures = [flow_picture(f.astype(np.float32) / 2.55) for f in frames]
    patch = np.full((H, W, 3), 128, np.uint8)
    patch[30:60, 60:90] = (40, 40, 220)
    a = carry_backward(pictures, {8: reference_ab(patch)})[0].ab[0]
    side = a.shape[0]
    row, scale = int(45 * side / H), side / W
    assert a[row, int(100 * scale)] > 20  # where the square was in frame 0
    assert a[row, int(66 * scale)] < 10  # where it is in frame 8 only


def test_colour_is_carried_backward_from_a_later_reference():
    frames = _grey_frames()
    pictures = [flow_picture(f.astype(np.float32) / 2.55) for f in frames]
    back = carry_backward(pictures, {10: reference_ab(_red(frames[10]))})
    assert set(back) == set(range(10))  # frames 0..9 of the same shot
    assert all(float(back[i].ab[0].astype(np.float32).mean()) > 20 for i in back)
    assert carry_backward(pictures, {CUT + 2: reference_ab(_red(frames[CUT + 2]))}).keys() == {
        CUT, CUT + 1}  # back to the cut, not across it


# -- files --------------------------------------------------------------------------------------

def test_a_reference_colours_its_whole_shot_and_nothing_else(film, guided, tmp_path):
    frames = _grey_frames()
    refs = tmp_path / "refs"
    refs.mkdir()
    cv2.imwrite(str(refs / "ref_000008.png"), _red(frames[8]))
    _run(film, tmp_path / "auto.mkv", guided)
    _run(film, tmp_path / "ref.mkv", guided, references=refs)
    auto, ref = _cr(tmp_path / "auto.mkv"), _cr(tmp_path / "ref.mkv")
    assert len(ref) == FRAMES
    for i in range(CUT):  # before and after frame 8, to the cut
        assert ref[i] > auto[i] + 8, (i, ref[i], auto[i])
    for i in range(CUT + 1, FRAMES):  # the next shot: as without references
        assert abs(ref[i] - auto[i]) < 1.5, (i, ref[i], auto[i])


def test_stabilizer_and_carrier_measure_each_motion_once(film, guided, tmp_path, monkeypatch):
    """The carrier (before the model) and the stabilizer (after it) track the same frames:
    the optical flow of each pair of frames is measured once, not once for each."""
    from streamcolor.color import motion

    measured = []
    real = motion.Tracker._measure

    def counting(self, previous, current):
        measured.append(1)
        return real(self, previous, current)

    monkeypatch.setattr(motion.Tracker, "_measure", counting)
    monkeypatch.setattr(motion, "_RECENT", motion._Recent())
    _run(film, tmp_path / "ref.mkv", guided, references={0: _red(_grey_frames()[0])})
    assert len(measured) == FRAMES - 1  # once per pair of consecutive frames


def test_references_as_a_dict_of_arrays(film, guided, tmp_path):
    frames = _grey_frames()
    _run(film, tmp_path / "auto.mkv", guided)
    _run(film, tmp_path / "ref.mkv", guided, references={CUT: _red(frames[CUT])})
    auto, ref = _cr(tmp_path / "auto.mkv"), _cr(tmp_path / "ref.mkv")
    assert all(ref[i] > auto[i] + 8 for i in range(CUT, FRAMES))
    assert all(abs(ref[i] - auto[i]) < 1.5 for i in range(CUT - 1))


def test_reference_past_the_end_is_named(film, guided, tmp_path):
    with pytest.raises(InputError, match=f"frame 40, but .* has {FRAMES} frames"):
        _run(film, tmp_path / "out.mkv", guided, references={40: np.zeros((8, 8, 3), np.uint8)})
    assert not (tmp_path / "out.mkv").exists()


def test_a_model_without_guidance_refuses_references(film, tmp_path):
    plain = make_model(tmp_path / "plain.onnx", input_size=64)
    with pytest.raises(ModelError, match="takes no colour hints"):
        _run(film, tmp_path / "out.mkv", plain, references={0: np.zeros((8, 8, 3), np.uint8)})


def test_live_takes_one_reference_from_the_start(film, guided, tmp_path):
    with pytest.raises(InputError, match="live source takes one reference"):
        colorize(film, [tmp_path / "out.mkv"], model=ModelConfig(model=str(guided)),
                 live=LiveConfig(), references={5: np.zeros((8, 8, 3), np.uint8)})


def test_reference_files_are_read_by_frame_index(tmp_path):
    picture = np.full((10, 12, 3), 90, np.uint8)
    single = tmp_path / "one.png"
    cv2.imwrite(str(single), picture)
    assert list(read_references(single)) == [0]
    folder = tmp_path / "refs"
    folder.mkdir()
    for name in ("000120.png", "ref_000007.jpg", "notes.txt"):
        (folder / name).write_bytes(b"x")
        if name.endswith((".png", ".jpg")):
            cv2.imwrite(str(folder / name), picture)
    assert sorted(read_references(folder)) == [7, 120]
    cv2.imwrite(str(folder / "ref_7.png"), picture)
    with pytest.raises(InputError, match="both for frame 7"):
        read_references(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    cv2.imwrite(str(empty / "cover.png"), picture)
    with pytest.raises(InputError, match="no usable references in .*empty"):
        read_references(empty)
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(InputError, match="bad.png is not a picture"):
        read_references(bad)


def test_cli_reference_runs_as_a_film_job(film, guided, tmp_path, capsys):
    """A file-to-file run with references is a film job like any other (tests/
    test_jobs_references.py: segments, resume), without a note about it."""
    frames = _grey_frames()
    ref = tmp_path / "frame0.png"
    cv2.imwrite(str(ref), _red(frames[0]))
    out = tmp_path / "out.mkv"
    assert main(["colorize", str(film), "-o", str(out), "--model", str(guided), "--reference",
                 str(ref), "--codec", "ffv1", "-q"]) == 0
    assert not list(tmp_path.glob(".*.streamcolor"))  # the job cleaned up after itself
    assert _cr(out)[3] > 140
    assert main(["colorize", str(film), "-o", str(tmp_path / "said.mkv"), "--model",
                 str(guided), "--reference", str(ref)]) == 0
    err = capsys.readouterr().err
    assert "1 segment on 1 node" in err and "note:" not in err
    missing = tmp_path / "absent.png"
    assert main(["colorize", str(film), "-o", str(tmp_path / "x.mkv"), "--model", str(guided),
                 "--reference", str(missing)]) == 1
    assert "reference not found" in capsys.readouterr().err


def test_stream_carries_references_forward(guided):
    frames = [cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in _grey_frames()]
    colorizer = Colorizer(guided, provider="cpu", batch_size=4)
    auto = list(colorizer.stream(frames))
    tinted = list(colorizer.stream(frames, references={2: _red(_grey_frames()[2])}))
    cr = [float(cv2.cvtColor(f, cv2.COLOR_BGR2YCrCb)[..., 1].mean()) for f in tinted]
    base = [float(cv2.cvtColor(f, cv2.COLOR_BGR2YCrCb)[..., 1].mean()) for f in auto]
    assert all(cr[i] > base[i] + 8 for i in range(2, CUT))
    assert all(abs(cr[i] - base[i]) < 1.5 for i in (0, 1, *range(CUT + 1, FRAMES)))


def test_the_first_pass_holds_only_what_a_later_reference_can_reach():
    from streamcolor.color.carry import BackwardPass

    frames = _grey_frames()
    lightness = [f.astype(np.float32) / 2.55 for f in frames]
    references = {10: reference_ab(_red(frames[10])), CUT + 4: reference_ab(_red(frames[20]))}
    first = BackwardPass(references)
    held = []
    for picture in lightness:
        first.feed(picture)
        held.append(len(first._held))
    assert max(held) <= 11 and held[CUT] == 1  # dropped at the reference and at the cut
    pictures = [flow_picture(p) for p in lightness]
    expected = carry_backward(pictures, references)
    assert sorted(first.carried) == sorted(expected) == [*range(10), CUT, CUT + 1, CUT + 2,
                                                         CUT + 3]
    for index, carried in expected.items():  # held in float16: flow a hair off at edges
        np.testing.assert_allclose(first.carried[index].ab.astype(np.float32),
                                   carried.ab.astype(np.float32), atol=1.0)


def test_keyframes_at_every_cut_and_every_so_often():
    from streamcolor.color.carry import Keyframes

    lightness = [f.astype(np.float32) / 2.55 for f in _grey_frames()]
    red = reference_ab(_red(_grey_frames()[0]))
    for every, expected in ((None, [0, CUT]), (5, [0, 5, 10, 15, CUT, CUT + 5])):
        calls: list[np.ndarray] = []
        carrier = ForwardCarrier({}, Keyframes(lambda L, f, seen=calls: seen.append(L) or red,
                                               every))
        states = [carrier.step(picture) for picture in lightness]
        assert carrier.keyframe_indices == expected and len(calls) == len(expected)
        assert all(state is not None for state in states)  # every frame has carried colour
    carrier = ForwardCarrier({3: red}, Keyframes(lambda L, f: red, None))
    [carrier.step(p) for p in lightness]
    assert carrier.keyframe_indices == [0, CUT]  # a user's reference is no keyframe


def test_cli_keyframe_model_colours_each_shot(film, guided, tmp_path, capsys):
    from streamcolor.contract import ModelContract

    strong = make_model(tmp_path / "strong.onnx", input_size=64,
                        contract=ModelContract(input_kind="gray_rgb", input_size=64))
    auto, keyed = tmp_path / "auto.mkv", tmp_path / "keyed.mkv"
    common = ["--model", str(guided), "--codec", "ffv1", "-q"]
    assert main(["colorize", str(film), "-o", str(auto), *common]) == 0
    assert main(["colorize", str(film), "-o", str(keyed), *common, "--keyframe-model",
                 str(strong), "--keyframe-seconds", "0"]) == 0
    a, k = _cr(auto), _cr(keyed)
    assert abs(k[0] - a[0]) > 2 and abs(k[CUT] - a[CUT]) > 2  # each shot's first frame
    plain = make_model(tmp_path / "plain.onnx", input_size=64)
    assert main(["colorize", str(film), "-o", str(tmp_path / "x.mkv"), "--model", str(plain),
                 "--keyframe-model", str(strong)]) == 1
    assert "takes no colour hints" in capsys.readouterr().err

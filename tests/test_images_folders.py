"""Folders of pictures: a bad file does not stop the rest, output folders are created, and GIFs
are colorized (animated ones through the video path) or refused by name, never skipped."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from streamcolor import InputError, colorize_images
from streamcolor.cli.main import main
from streamcolor.runtime import ModelRunner

GIF_DELAYS = (10, 20, 30, 5, 50)  # hundredths of a second, uneven on purpose


@pytest.fixture(scope="module")
def runner(model_path):
    return ModelRunner(model_path, provider="cpu")


def _grey(h: int = 40, w: int = 60, shift: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.roll(40 + 170 * (x + y) / (w + h), shift, axis=1).astype(np.uint8)


def _gif(path, delays=GIF_DELAYS):
    """A grey GIF of ``len(delays)`` frames, each shown for its delay (1/100 s)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif", rate=100)
        stream.width, stream.height, stream.pix_fmt = 60, 40, "gray"
        stream.time_base = Fraction(1, 100)
        pts = 0
        for i, delay in enumerate(delays):
            frame = av.VideoFrame.from_ndarray(_grey(shift=5 * i), format="gray")
            frame.pts, frame.time_base, frame.duration = pts, Fraction(1, 100), delay
            pts += delay
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _tree(root):
    """good/bad pictures, a GIF of each kind and a text file; returns the pictures' names."""
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/c.jpg", "sub/d.png"):
        assert cv2.imwrite(str(root / name), _grey())
    (root / "b.png").write_bytes(b"not a png at all")
    return root


def _coloured(path) -> bool:
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return picture is not None and int(np.ptp(picture.astype(int)[..., 0] - picture[..., 2])) > 2


def _frame_times(ffprobe, path) -> list[float]:
    frames = ffprobe(path, "-select_streams", "v", "-show_entries", "frame=pts_time")["frames"]
    return [round(float(f["pts_time"]), 3) for f in frames]


# -- defect 4: one unreadable picture ------------------------------------------------------------
def test_library_continue_reports_the_bad_file_and_does_the_rest(tmp_path, runner):
    root, failed = _tree(tmp_path / "in"), []
    count = colorize_images(root, tmp_path / "out", runner=runner, batch_size=2,
                            on_error="continue", on_failure=lambda p, e: failed.append((p, e)))
    assert count == 3
    assert [p for p, _ in failed] == [root / "b.png"]
    assert isinstance(failed[0][1], InputError) and "not an image" in str(failed[0][1])
    for name in ("a.png", "sub/c.jpg", "sub/d.png"):
        assert _coloured(tmp_path / "out" / name), name
    assert not (tmp_path / "out" / "b.png").exists()


def test_library_default_stops_at_the_bad_file(tmp_path, runner):
    root = _tree(tmp_path / "in")
    with pytest.raises(InputError, match="b.png"):
        colorize_images(root, tmp_path / "out", runner=runner, batch_size=1)
    assert not (tmp_path / "out" / "sub").exists(), "went on after the bad file"


def test_library_continue_without_a_callback_logs_each_failure(tmp_path, runner, caplog):
    root = _tree(tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="streamcolor"):
        count = colorize_images(root, tmp_path / "out", runner=runner, on_error="continue")
    assert count == 3
    assert [r.getMessage() for r in caplog.records if "b.png" in r.getMessage()]


def test_cli_folder_names_each_bad_file_and_ends_with_a_summary(tmp_path, model_path, capsys):
    root = _tree(tmp_path / "in")
    (root / "sub" / "e.png").write_bytes(b"also broken")
    status = main(["image", str(root), "-o", str(tmp_path / "out"), "--model", str(model_path),
                   "--batch-size", "2"])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    bad = [line for line in err if line.startswith("streamcolor: error: ")]
    assert len(bad) == 2 and "b.png" in bad[0] and "e.png" in bad[1], err
    assert err[-1].startswith("3 colorized, 2 failed"), err
    assert all(_coloured(tmp_path / "out" / n) for n in ("a.png", "sub/c.jpg", "sub/d.png"))


def test_cli_on_error_stop_is_the_old_way(tmp_path, model_path, capsys):
    root = _tree(tmp_path / "in")
    status = main(["image", str(root), "-o", str(tmp_path / "out"), "--model", str(model_path),
                   "--batch-size", "1", "--on-error", "stop", "-q"])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamcolor: error: ") and "b.png" in err[0]
    assert not (tmp_path / "out" / "sub").exists()


# -- defect 5: output folders that do not exist yet ----------------------------------------------
def test_folder_into_a_folder_that_does_not_exist_yet(tmp_path, model_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    assert cv2.imwrite(str(root / "a.png"), _grey())
    out = tmp_path / "new" / "deeper"
    assert main(["image", str(root), "-o", f"{out}/", "--model", str(model_path), "-q"]) == 0
    assert _coloured(out / "a.png")


def test_single_file_into_a_new_folder_named_with_a_slash(tmp_path, model_path, capsys):
    source = tmp_path / "a.png"
    assert cv2.imwrite(str(source), _grey())
    assert main(["image", str(source), "-o", f"{tmp_path / 'newdir'}/", "--model",
                 str(model_path), "-q"]) == 0
    assert _coloured(tmp_path / "newdir" / "a.png")


def test_single_file_whose_parent_folder_is_missing_says_so(tmp_path, model_path, capsys):
    source = tmp_path / "a.png"
    assert cv2.imwrite(str(source), _grey())
    target = tmp_path / "missing_parent" / "x.png"
    assert main(["image", str(source), "-o", str(target), "--model", str(model_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"streamcolor: error: cannot write {target}: folder {target.parent} "
                   "does not exist")
    assert not target.parent.exists()


# -- defect 6: GIF ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".webm", ".mkv"])
def test_animated_gif_keeps_every_frame_and_its_delays(tmp_path, model_path, ffprobe, capsys,
                                                       suffix):
    source, target = _gif(tmp_path / "anim.gif"), tmp_path / f"anim{suffix}"
    assert main(["image", str(source), "-o", str(target), "--model", str(model_path), "-q"]) == 0
    times = _frame_times(ffprobe, source)
    assert len(times) == len(GIF_DELAYS) and times[1:3] == [0.1, 0.3]
    assert _frame_times(ffprobe, target) == times
    with av.open(str(target)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == len(GIF_DELAYS)
    assert all(np.ptp(f[..., 0].astype(int) - f[..., 2]) > 2 for f in frames), "no colour"


@pytest.mark.parametrize("output", ["still.png", "anim_out.gif"])
def test_animated_gif_into_one_picture_or_a_gif_is_refused_by_name(tmp_path, model_path,
                                                                    capsys, output):
    source = _gif(tmp_path / "anim.gif")
    assert main(["image", str(source), "-o", str(tmp_path / output), "--model",
                 str(model_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamcolor: error: ") and "\n" not in err
    assert output in err and ".webm" in err and ".mp4" in err
    assert not (tmp_path / output).exists()


def test_single_frame_gif_is_a_picture(tmp_path, model_path, capsys):
    source = _gif(tmp_path / "one.gif", delays=(10,))
    assert main(["image", str(source), "-o", str(tmp_path / "one.png"), "--model",
                 str(model_path), "-q"]) == 0
    assert _coloured(tmp_path / "one.png")
    assert main(["image", str(source), "-o", f"{tmp_path / 'into'}/", "--model",
                 str(model_path), "-q"]) == 0
    assert _coloured(tmp_path / "into" / "one.png")


def test_folder_colorizes_gifs_and_names_what_it_leaves_alone(tmp_path, model_path, ffprobe,
                                                             capsys):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    assert cv2.imwrite(str(root / "a.png"), _grey())
    _gif(root / "sub" / "anim.gif")
    _gif(root / "one.gif", delays=(10,))
    (root / "notes.txt").write_text("not a picture\n")
    out = tmp_path / "out"
    assert main(["image", str(root), "-o", str(out), "--model", str(model_path)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "one.png", "sub/anim.webm"]
    assert _frame_times(ffprobe, out / "sub" / "anim.webm") == _frame_times(
        ffprobe, root / "sub" / "anim.gif")
    err = capsys.readouterr().err.strip().splitlines()
    assert "left 1 file that is not an image: notes.txt" in err
    assert err[-1].startswith("colorized 3 images in ")


def test_library_colorize_image_refuses_an_animated_gif(tmp_path, runner):
    """``colorize_image`` would take the first frame only: it names the file instead."""
    from streamcolor import OutputError, colorize_image

    source = _gif(tmp_path / "anim.gif")
    with pytest.raises(OutputError, match="anim.gif is an animated GIF"):
        colorize_image(source, tmp_path / "still.png", runner=runner)
    assert not (tmp_path / "still.png").exists()

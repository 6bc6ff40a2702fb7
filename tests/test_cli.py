"""The command line: what it prints, its exit codes, and that its options reach the encoder.

Most tests call ``streamcolor.cli.main([...])`` in-process (capsys); a few run the real
``python -m streamcolor`` in a subprocess. All media is generated; ffprobe is the
independent reader of what was written.
"""

from __future__ import annotations

import re
import subprocess
import sys

import av
import av.logging
import cv2
import numpy as np
import pytest

import streamcolor
from helpers import (
    gpu_driver_loads,
    packets,
    partial_of,
    require_module,
    video_pts,
    write_audio_only,
)
from streamcolor.cli.main import main
from streamcolor.testing import AudioTrack, ClipSpec, make_clip

FRAMES = 12
SUMMARY = re.compile(
    r"^colorized (\d+) frames in (\d+\.\d) s \((\d+\.\d) fps, (\w+)\)"
    r"(, \d+ decode errors? skipped)? -> (.+)$")
MODEL_LINE = re.compile(r"^model (\S+) \(L -> ab, 32 px\) on (\w+); video encoder (\S+)$")


def python_m(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamcolor", *args], capture_output=True,
                          text=True, timeout=timeout)



@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_media")
    files = {"folder": folder}
    files["good"] = make_clip(folder / "good.mkv", ClipSpec(frames=FRAMES, audio=(AudioTrack(),)))
    files["three_seconds"] = make_clip(folder / "three_seconds.mkv",
                                       ClipSpec(frames=75, audio=(AudioTrack(),)))
    data = files["three_seconds"].read_bytes()
    files["truncated"] = folder / "truncated.mkv"
    files["truncated"].write_bytes(data[: len(data) // 2])
    clean = make_clip(folder / "clean_ffv1.mkv",
                      ClipSpec(frames=75, codec="ffv1", codec_options=()))
    with av.open(str(clean)) as container:
        found = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = found[len(found) // 2]
    damaged = bytearray(clean.read_bytes())
    damaged[pos + size // 4 : pos + size // 4 + size // 2] = b"\xff" * (size // 2)
    files["corrupt"] = folder / "corrupt.mkv"
    files["corrupt"].write_bytes(bytes(damaged))
    files["subtitled"] = make_clip(folder / "subtitled.mkv",
                                   ClipSpec(frames=FRAMES, subtitles=((0.0, 0.3, "hello"),)))
    files["text"] = folder / "text.mkv"
    files["text"].write_text("not a video\n" * 50)
    files["random"] = folder / "random.mkv"
    files["random"].write_bytes(np.random.default_rng(11).bytes(10_000))
    files["audio_only"] = write_audio_only(folder / "audio_only.mka", frames=20)
    files["bad_model"] = folder / "bad.onnx"
    files["bad_model"].write_text("this is not an ONNX model\n")
    files["text_png"] = folder / "text.png"
    files["text_png"].write_text("not a picture\n")
    (folder / "no_images").mkdir()
    (folder / "no_images" / "readme.txt").write_text("nothing to see\n")
    return files


@pytest.fixture
def wrong_contract_model(tmp_path):
    onnx = require_module("onnx", "the onnx package builds the wrong-contract model")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((5, 1, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "five",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5, 32, 32])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "five_channels.onnx"
    onnx.save(model, str(path))
    return path


# -- success ---------------------------------------------------------------------------------
def test_colorize_prints_model_line_and_summary(media, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    assert main(["colorize", str(media["good"]), "-o", str(out), "--model", str(model_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    model = MODEL_LINE.match(lines[0])
    assert model and model.group(1) == model_path.name, lines
    assert model.group(3) == "libx264", "the encoder .mkv gets by default is named"
    summary = SUMMARY.match(lines[-1])
    assert summary, lines
    frames, seconds, fps, provider = summary.group(1, 2, 3, 4)
    assert int(frames) == FRAMES and provider == model.group(2)
    if not gpu_driver_loads():
        assert provider == "cpu"
    assert float(seconds) >= 0 and float(fps) > 0
    assert summary.group(6) == str(out)
    assert len(video_pts(out)) == FRAMES and not partial_of(out).exists()


def test_quiet_prints_nothing(media, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    args = ["colorize", str(media["good"]), "-o", str(out), "--model", str(model_path), "-q"]
    assert main(args) == 0
    assert capsys.readouterr() == ("", "")
    assert len(video_pts(out)) == FRAMES


def test_skipped_decode_errors_are_reported(media, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    args = ["colorize", str(media["corrupt"]), "-o", str(out), "--model", str(model_path),
            "--provider", "cpu", "--codec", "ffv1", "--on-decode-error", "skip"]
    assert main(args) == 0
    summary = SUMMARY.match(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary and summary.group(5), "the summary does not count the skipped errors"
    assert int(re.search(r"\d+", summary.group(5)).group()) >= 1
    assert 70 <= int(summary.group(1)) == len(video_pts(out)) < 75


def test_subprocess_colorize(media, tmp_path, model_path, ffprobe):
    out = tmp_path / "out.mkv"
    done = python_m("colorize", str(media["good"]), "-o", str(out), "--model", str(model_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert MODEL_LINE.match(lines[0]) and SUMMARY.match(lines[-1]), lines
    assert "Traceback" not in done.stderr
    streams = ffprobe(out, "-count_frames", "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio"]
    assert int(streams[0]["nb_read_frames"]) == FRAMES


def test_version():
    done = python_m("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"streamcolor {streamcolor.__version__}"


# -- errors: exit 1, one line ----------------------------------------------------------------
def _case(name, media, tmp_path, model_path):
    """(argv, text the error line must contain) for one bad input."""
    good, out, model = str(media["good"]), str(tmp_path / "out.mkv"), str(model_path)
    folder = media["folder"]
    cases = {
        "missing-input": (["colorize", str(tmp_path / "nope.mkv"), "-o", out, "--model", model],
                          "input not found"),
        "input-is-a-directory": (["colorize", str(folder / "no_images"), "-o", out,
                                  "--model", model], "is a directory"),
        "text-file": (["colorize", str(media["text"]), "-o", out, "--model", model],
                      "not a media file"),
        "random-bytes": (["colorize", str(media["random"]), "-o", out, "--model", model],
                         "not a media file"),
        "audio-only": (["colorize", str(media["audio_only"]), "-o", out, "--model", model],
                       "no video stream"),
        "truncated": (["colorize", str(media["truncated"]), "-o", out, "--model", model,
                       "--strict"], "--on-decode-error skip"),
        "corrupt": (["colorize", str(media["corrupt"]), "-o", out, "--model", model,
                     "--on-decode-error", "stop"], "undecodable video data"),
        "output-folder-missing": (["colorize", good, "-o", str(tmp_path / "nodir" / "o.mkv"),
                                   "--model", model], "does not exist"),
        "output-is-input": (["colorize", good, "-o", good, "--model", model], "is the input"),
        "unknown-codec": (["colorize", good, "-o", out, "--model", model, "--codec", "nosuch"],
                          "'nosuch'"),
        "unknown-encoder-option": (["colorize", good, "-o", out, "--model", model,
                                    "--encoder-option", "crff=20"], "'crff'"),
        "crf-on-ffv1": (["colorize", good, "-o", out, "--model", model, "--codec", "ffv1",
                         "--crf", "20"], "'crf'"),
        "default-model-missing": (["colorize", good, "-o", out],
                                  "default model is not installed"),
        "missing-model": (["colorize", good, "-o", out, "--model", str(tmp_path / "x.onnx")],
                          "model file not found"),
        "corrupt-model": (["colorize", good, "-o", out, "--model", str(media["bad_model"])],
                          "cannot load model"),
        "wrong-contract-model": (None, "contract"),
        "cuda-without-gpu": (["colorize", good, "-o", out, "--model", model,
                              "--provider", "cuda"], "'cuda'"),
        "subtitles-into-mp4": (["colorize", str(media["subtitled"]), "-o",
                                str(tmp_path / "out.mp4"), "--model", model, "--copy-strict"],
                               "subtitle stream"),
        "zero-duration": (["colorize", good, "-o", out, "--model", model, "--duration", "0"],
                          "--duration"),
        "image-missing": (["image", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png"),
                           "--model", model], "not found"),
        "image-not-an-image": (["image", str(media["text_png"]), "-o", str(tmp_path / "o.png"),
                                "--model", model], "not an image"),
        "image-folder-without-images": (["image", str(folder / "no_images"), "-o",
                                         str(tmp_path / "images"), "--model", model],
                                        "no images"),
    }
    return cases[name]


ERROR_CASES = [
    "missing-input", "input-is-a-directory", "text-file", "random-bytes", "audio-only",
    "truncated", "corrupt",
    "output-folder-missing", "output-is-input", "unknown-codec", "unknown-encoder-option",
    "crf-on-ffv1", "default-model-missing", "missing-model", "corrupt-model",
    "wrong-contract-model",
    "cuda-without-gpu", "subtitles-into-mp4", "zero-duration", "image-missing",
    "image-not-an-image", "image-folder-without-images",
]


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "verbose"])
@pytest.mark.parametrize("name", ERROR_CASES)
def test_bad_input_exits_1_with_one_line(name, quiet, media, tmp_path, model_path, capsys,
                                         request):
    if name == "cuda-without-gpu" and gpu_driver_loads():
        pytest.skip("an NVIDIA driver (libcuda.so.1) loads here, so --provider cuda may run")
    argv, expected = _case(name, media, tmp_path, model_path)
    if name == "default-model-missing":  # an install without the bundled weights
        request.getfixturevalue("monkeypatch").setattr(
            "streamcolor.runtime.DEFAULT_MODEL", tmp_path / "absent.onnx")
    if argv is None:
        model = request.getfixturevalue("wrong_contract_model")
        argv = ["colorize", str(media["good"]), "-o", str(tmp_path / "out.mkv"),
                "--model", str(model)]
    before = media["good"].read_bytes() if name == "output-is-input" else None
    assert main(argv + (["--quiet"] if quiet else [])) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.strip("\n").splitlines()
    errors = [line for line in lines if line.startswith("streamcolor: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert expected in errors[0]
    if quiet:
        assert lines == errors, "--quiet printed more than the error line"
    output = tmp_path / ("out.mp4" if name == "subtitles-into-mp4" else "out.mkv")
    assert not output.exists() and not partial_of(output).exists()
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "images").exists()
    if before is not None:
        assert media["good"].read_bytes() == before


def test_subprocess_bad_input_prints_one_line(media, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    done = python_m("colorize", str(media["text"]), "-o", str(out), "--model", str(model_path))
    assert done.returncode == 1
    lines = done.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamcolor: error: "), done.stderr
    assert "text.mkv" in lines[0] and "not a media file" in lines[0]
    assert not out.exists() and not partial_of(out).exists()


@pytest.fixture
def restore_av_log_level():
    level = av.logging.get_level()
    yield
    av.logging.set_level(level)


def test_debug_raises_with_traceback(media, tmp_path, model_path, restore_av_log_level):
    out = tmp_path / "out.mkv"
    with pytest.raises(streamcolor.NotMediaError):
        main(["colorize", str(media["text"]), "-o", str(out), "--model", str(model_path),
              "--debug"])
    assert not out.exists() and not partial_of(out).exists()


def test_subprocess_debug_prints_traceback(media, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    done = python_m("colorize", str(media["audio_only"]), "-o", str(out),
                    "--model", str(model_path), "--debug")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "NoVideoStreamError" in done.stderr
    assert not out.exists() and not partial_of(out).exists()


# -- usage errors: exit 2 --------------------------------------------------------------------
@pytest.mark.parametrize("extra", [
    ["--crf", "20", "--bitrate", "1M"],
    ["--start", "abc"],
    ["--duration", "1:xx"],
    ["--bitrate", "fast"],
    ["--batch-size", "0"],
    ["--batch-size", "two"],
    ["--provider", "gpu"],
    ["--on-decode-error", "ignore"],
    ["--encoder-option", "novalue"],
    ["--no-such-flag"],
], ids=lambda extra: " ".join(extra))
def test_usage_errors_exit_2(extra, media, tmp_path, model_path, capsys):
    out = tmp_path / "out.mkv"
    with pytest.raises(SystemExit) as caught:
        main(["colorize", str(media["good"]), "-o", str(out), "--model", str(model_path), *extra])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: streamcolor") and "error:" in err
    assert not out.exists() and not partial_of(out).exists()


@pytest.mark.parametrize("argv", [[], ["colorize"], ["colorize", "in.mkv"], ["frobnicate"]],
                         ids=["no-command", "no-input", "no-output", "unknown-command"])
def test_usage_errors_without_a_full_command_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage: streamcolor" in capsys.readouterr().err


# -- windows and encoder options -------------------------------------------------------------
def test_start_and_duration_cut_video_and_audio(media, tmp_path, model_path, ffprobe, capsys):
    source, out = media["three_seconds"], tmp_path / "cut.mkv"
    assert main(["colorize", str(source), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu", "--start", "1", "--duration", "1"]) == 0
    with av.open(str(source)) as container:
        base = container.streams.video[0].time_base
    expected = [pts for pts in video_pts(source) if 1 <= pts * base < 2]
    assert len(expected) == 25
    got = video_pts(out)
    with av.open(str(out)) as container:
        out_base = container.streams.video[0].time_base
    assert len(got) == len(expected)
    assert abs(float(got[0] * out_base)) < 0.041, "the output does not start near 0"
    assert [float((p - got[0]) * out_base) for p in got] == pytest.approx(
        [float((p - expected[0]) * base) for p in expected])
    summary = SUMMARY.match(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary and int(summary.group(1)) == len(expected)
    audio = ffprobe(out, "-select_streams", "a", "-show_entries",
                    "packet=pts_time,duration_time")["packets"]
    first = float(audio[0]["pts_time"])
    end = max(float(p["pts_time"]) + float(p["duration_time"]) for p in audio)
    assert -0.05 < first < 0.1, "the audio does not start near 0"
    assert end - first == pytest.approx(1.0, abs=0.1), "the audio is not cut to about 1 s"


ENCODINGS = {
    # name: (extra argv, suffix, video codec, format name part, x264 settings in the SEI)
    "ffv1": (["--codec", "ffv1"], ".mkv", "ffv1", "matroska", ()),
    "crf-preset": (["--crf", "23", "--preset", "veryfast"], ".mkv", "h264", "matroska",
                   ("rc=crf", "crf=23.0", "subme=2")),
    "bitrate": (["--bitrate", "500k"], ".mkv", "h264", "matroska", ("rc=abr", "bitrate=500")),
    "encoder-option": (["--encoder-option", "tune=film"], ".mkv", "h264", "matroska",
                       ("deblock=1:-1:-1", "psy_rd=1.00:0.15")),
    "mp4": ([], ".mp4", "h264", "mp4", ("crf=18.0",)),
    "mov": ([], ".mov", "h264", "mov", ("crf=18.0",)),
}


@pytest.mark.parametrize("name", ENCODINGS)
def test_encoding_options_reach_the_file(name, media, tmp_path, model_path, ffprobe):
    extra, suffix, codec, container_name, settings = ENCODINGS[name]
    out = tmp_path / f"out{suffix}"
    assert main(["colorize", str(media["good"]), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu", "-q", *extra]) == 0
    probe = ffprobe(out, "-count_frames", "-show_streams", "-show_format")
    assert container_name in probe["format"]["format_name"]
    video, audio = probe["streams"]
    assert video["codec_name"] == codec and int(video["nb_read_frames"]) == FRAMES
    assert audio["codec_name"] == "aac"
    if settings:
        first_packet = packets(out, 0)[0][1]
        match = re.search(rb"x264 - core [^\x00]*", first_packet)
        assert match, "no x264 settings in the first packet"
        options = match.group().decode().split()
        for setting in settings:
            assert setting in options, f"{setting} not in {options}"
    assert not partial_of(out).exists()


# -- images ----------------------------------------------------------------------------------
def _gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return (40 + 170 * (x + y) / (width + height)).astype(np.uint8)


@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "photos"
    (root / "a" / "b").mkdir(parents=True)
    grey = _gradient(40, 60)
    pictures = {
        "grey.png": grey,
        "a/colour.jpg": np.dstack([grey, grey[::-1], 255 - grey]),
        "a/b/alpha.png": np.dstack([grey, grey, grey, np.full_like(grey, 128)])[:30, :50],
        "a/b/tall.jpg": _gradient(70, 20),
    }
    for name, picture in pictures.items():
        assert cv2.imwrite(str(root / name), picture)
    (root / "a" / "notes.txt").write_text("not an image\n")
    return root, {name: picture.shape for name, picture in pictures.items()}


def _is_coloured(picture: np.ndarray) -> bool:
    bgr = picture[..., :3].astype(int)
    return int(np.abs(bgr[..., 0] - bgr[..., 2]).max()) > 2


def test_image_single_png(tmp_path, model_path, capsys):
    source, out = tmp_path / "grey.png", tmp_path / "colour.png"
    assert cv2.imwrite(str(source), _gradient(40, 60))
    assert main(["image", str(source), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu"]) == 0
    picture = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert picture.shape == (40, 60, 3) and _is_coloured(picture)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("colorized 1 image in ") and err[-1].endswith(f"-> {out}")
    assert not partial_of(out).exists()


def test_image_folder_tree(image_tree, tmp_path, model_path, capsys):
    root, shapes = image_tree
    out = tmp_path / "coloured"
    assert main(["image", str(root), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(shapes)
    for name, shape in shapes.items():
        picture = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert picture.shape[:2] == shape[:2], name
        assert picture.shape[2] == (4 if len(shape) == 3 and shape[2] == 4 else 3), name
        assert _is_coloured(picture), name
    assert not list(out.rglob(".*partial*"))
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"colorized {len(shapes)} images in ")


def test_image_folder_format_png(image_tree, tmp_path, model_path, capsys):
    root, shapes = image_tree
    out = tmp_path / "as_png"
    assert main(["image", str(root), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu", "--format", "png", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted(name.rsplit(".", 1)[0] + ".png" for name in shapes)
    assert written == expected
    for name, shape in shapes.items():
        picture = cv2.imread(str(out / (name.rsplit(".", 1)[0] + ".png")), cv2.IMREAD_UNCHANGED)
        assert picture.shape[:2] == shape[:2], name


def test_image_input_named_like_the_temp_file_survives(tmp_path, model_path, capsys):
    out = tmp_path / "x.png"
    source = tmp_path / ".x.partial.png"
    assert cv2.imwrite(str(source), _gradient(40, 60))
    before = source.read_bytes()
    status = main(["image", str(source), "-o", str(out), "--model", str(model_path), "-q"])
    assert source.exists() and source.read_bytes() == before, "the input image was destroyed"
    if status != 0:
        assert status == 1 and not out.exists()
        assert capsys.readouterr().err.startswith("streamcolor: error: ")


def test_interrupted_image_folder_does_not_claim_nothing_was_written(image_tree, tmp_path,
                                                                      model_path, capsys,
                                                                      monkeypatch):
    from streamcolor.runtime import ModelRunner

    root, shapes = image_tree
    out = tmp_path / "coloured"
    real_run, calls = ModelRunner.run, []

    def run_then_interrupt(self, lightness):
        calls.append(len(lightness))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second batch
        return real_run(self, lightness)

    monkeypatch.setattr(ModelRunner, "run", run_then_interrupt)
    status = main(["image", str(root), "-o", str(out), "--model", str(model_path),
                   "--batch-size", "1", "-q"])
    assert status == 130
    written = [p for p in out.rglob("*") if p.is_file()]
    err = capsys.readouterr().err
    assert "interrupted" in err
    if written:
        assert "no output was written" not in err, f"{len(written)} images were written"

"""--hwaccel (NVDEC through PyAV) and NVENC: GPU where it works, the CPU otherwise, said clearly."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import av
import numpy as np
import pytest

from streamcolor import (
    EncodeConfig,
    EncoderError,
    InputError,
    ModelConfig,
    PipelineConfig,
    colorize_file,
)
from streamcolor.media import hwaccel
from streamcolor.media.frames import plane_array
from streamcolor.media.sources import FileSource
from streamcolor.runtime import libraries
from streamcolor.testing import ClipSpec
from stub_driver import stub_driver

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _no_gpu_decode() -> str:
    problem = hwaccel.cuda_decode_problem()
    if problem is None:
        pytest.skip("a CUDA decoder opens here: the no-GPU behaviour cannot be seen")
    return problem


def test_none_never_asks_for_the_gpu(clip):
    with FileSource(clip(ClipSpec(frames=3)), hwaccel="none") as source:
        assert source.video.codec_context.hwaccel is None


def test_cuda_without_a_gpu_is_a_clear_error(clip):
    problem = _no_gpu_decode()
    with pytest.raises(InputError, match="--hwaccel cuda: .*use --hwaccel auto or none") as info:
        FileSource(clip(ClipSpec(frames=3)), hwaccel="cuda")
    assert problem in str(info.value)


def _planes(path):
    with av.open(str(path)) as container:
        return [[plane_array(p, np.uint8).copy() for p in f.planes]
                for f in container.decode(video=0)]


def test_auto_without_a_gpu_decodes_on_the_cpu_identically(clip, model_path, tmp_path):
    _no_gpu_decode()
    source = clip(ClipSpec(frames=4, codec="ffv1", codec_options=()))
    outputs = []
    for mode in ("auto", "none"):
        target = tmp_path / f"{mode}.mkv"
        colorize_file(source, target, encode=EncodeConfig(codec="ffv1"),
                      model=ModelConfig(model=str(model_path), provider="cpu"),
                      pipeline=PipelineConfig(hwaccel=mode))
        outputs.append(_planes(target))
    for mine, ref in zip(*outputs, strict=True):
        for plane, reference in zip(mine, ref, strict=True):
            np.testing.assert_array_equal(plane, reference)


def test_auto_with_a_driver_but_no_decoder_says_so(clip, model_path, tmp_path):
    folder = stub_driver(tmp_path, 13000)
    env = dict(os.environ, LD_LIBRARY_PATH=str(folder), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "streamcolor", "colorize", str(clip(ClipSpec(frames=3))),
         "-o", str(tmp_path / "out.mkv"), "--model", str(model_path), "--provider", "cpu"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "decoding on the CPU" in line]
    assert len(notes) == 1 and notes[0].startswith("streamcolor: note:")


def test_nvenc_where_it_cannot_open(monkeypatch):
    if libraries.probe("libcuda.so.1").loaded:
        pytest.skip("an NVIDIA driver loads here; NVENC may open")
    with pytest.raises(EncoderError, match="h264_nvenc cannot encode here: no NVIDIA driver"):
        hwaccel.check_encoder("h264_nvenc")
    monkeypatch.setattr(libraries, "gpus", lambda: [
        libraries.Gpu(0, "NVIDIA H200", 141 << 30, 0)])
    with pytest.raises(EncoderError, match="NVIDIA H200 has no NVENC .*--codec libx264"):
        hwaccel.check_encoder("hevc_nvenc")
    hwaccel.check_encoder("libx264")  # not NVENC: nothing to check


class _Context:
    """A stand-in for an opened PyAV codec context (no GPU here to open a real one)."""

    def __init__(self, name="h264", hwaccel=True, is_hwaccel=True, profile=None, pix_fmt=None):
        self.name, self.profile, self.is_hwaccel = name, profile, is_hwaccel
        self.hwaccel = object() if hwaccel else None
        self.format = type("Format", (), {"name": pix_fmt})() if pix_fmt else None

    def open(self):
        pass

    def close(self):
        pass


def _a_driver_and_cuda(monkeypatch, context):
    import av.codec.hwaccel

    monkeypatch.setattr(libraries, "probe", lambda *names: libraries.LibraryStatus(
        names[0], True, "/usr/lib/libcuda.so.1"))
    monkeypatch.setattr(av.codec.hwaccel, "hwdevices_available", lambda: ["cuda"])
    monkeypatch.setattr(av.CodecContext, "create", lambda *args, **kwargs: context)
    hwaccel.cuda_decode_problem.cache_clear()


def test_a_decoder_that_opens_in_software_is_not_gpu_decode(monkeypatch):
    """PyAV opens a codec with no CUDA config in software, silently: not "opens"."""
    from streamcolor.diagnostics import doctor

    _a_driver_and_cuda(monkeypatch, _Context(is_hwaccel=False))
    try:
        assert "opened in software" in hwaccel.cuda_decode_problem()
        assert "opens in software" in doctor._opens_gpu_decoder(av)
        _a_driver_and_cuda(monkeypatch, _Context(is_hwaccel=True))
        assert hwaccel.cuda_decode_problem() is None and doctor._opens_gpu_decoder(av) is None
    finally:
        hwaccel.cuda_decode_problem.cache_clear()


def test_no_stream_for_the_gpu_is_one_clear_error(tmp_path, monkeypatch):
    """``av.open(..., hwaccel=cuda without fallback)`` raises RuntimeError where no stream has
    a CUDA decoder (ProRes, MJPEG...): an InputError, not a traceback."""
    from streamcolor.media import sources

    path = tmp_path / "prores.mov"
    path.write_bytes(b"not read")

    def refuse(*args, **kwargs):
        raise RuntimeError("Hardware accelerated decode requested but no stream is compatible")

    monkeypatch.setattr(sources.av, "open", refuse)
    with pytest.raises(InputError, match="--hwaccel cuda: no stream .*use --hwaccel auto"):
        sources.open_input(path, hwaccel=object())
    with pytest.raises(RuntimeError):  # without --hwaccel it is not ours to word
        sources.open_input(path)


@pytest.mark.parametrize(("profile", "pix_fmt"), [("High 4:4:4 Predictive", None),
                                                  ("High 4:2:2", "yuv422p"),
                                                  ("High 10", "yuv420p10le")])
def test_profiles_nvdec_refuses(profile, pix_fmt, caplog):
    stream = type("Stream", (), {"codec_context": _Context(profile=profile, pix_fmt=pix_fmt)})
    with pytest.raises(InputError, match=f"--hwaccel cuda: NVDEC does not decode h264 {profile}"):
        hwaccel.check_decoder("cuda", stream)
    with caplog.at_level("INFO", logger="streamcolor"):
        hwaccel.check_decoder("auto", stream)  # auto: PyAV's software fallback, said once
    assert [r.message for r in caplog.records if "decoding on the CPU" in r.message]
    fine = type("Stream", (), {"codec_context": _Context(profile="High", pix_fmt="yuv420p")})
    hwaccel.check_decoder("cuda", fine)


def test_nvdec_shares_the_primary_cuda_context(monkeypatch):
    """FFmpeg's CUDA device asks for the primary context (onnxruntime's), not one of its own."""
    monkeypatch.setattr(hwaccel, "cuda_decode_problem", lambda: None)
    for mode in ("auto", "cuda"):
        accel = hwaccel.decode_options(mode)["hwaccel"]
        assert accel.options == {"primary_ctx": "1"}
        assert accel.allow_software_fallback == (mode == "auto")

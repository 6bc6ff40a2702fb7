"""Tiny models and generated media for tests and the demo: no weights, no downloads.

``make_model`` writes a small ONNX graph that obeys the model contract (DESIGN.md section 3):
its colour is a fixed function of lightness and local contrast, enough to see that chroma
moves with the picture. It is a stand-in for real weights, not a colorizer. Needs ``onnx``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
from fractions import Fraction

import av
import numpy as np

from .contract import ModelContract
from .media.frames import plane_array

__all__ = ["make_model", "make_clip", "ClipSpec", "AudioTrack", "write_grey_video",
           "interrupt_after_segments"]


def _tint_weights(in_channels: int, out_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A 3x3 convolution: brightness gives a warm/cool tint, edges add a little colour."""
    weight = np.zeros((out_channels, in_channels, 3, 3), dtype=np.float32)
    centre = 1.0 / in_channels
    gains = (0.35, 0.9, -0.5)  # a*: a little red in highlights; b*: yellow highlights, blue shadows
    for o in range(out_channels):
        weight[o, :, 1, 1] = gains[o] * centre
        weight[o, :, 0, 1] = 0.05 * (o + 1) * centre
        weight[o, :, 2, 1] = -0.05 * (o + 1) * centre
    bias = np.linspace(0.1, -0.1, out_channels).astype(np.float32)
    return weight, bias


def make_model(
    path: str | os.PathLike,
    *,
    contract: ModelContract | None = None,
    input_size: int | None = 32,
    output_stride: int = 1,
    fixed_batch: int | None = None,
    write_contract: bool = True,
    guided: bool = False,
) -> pathlib.Path:
    """Write a tiny contract-obeying ONNX model to ``path`` and return the path.

    ``input_size`` None makes the spatial axes dynamic; ``output_stride`` 2 makes the output
    half the input's size; ``fixed_batch`` fixes the batch axis instead of leaving it dynamic.
    ``guided`` adds SIGGRAPH17-style hint inputs (``hint_ab``, ``hint_mask``, declared as the
    contract's guidance): where the mask is 1 the output is the hint's a*b* exactly, so tests
    can see where hints went (L* in, ab out, stride 1 only).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    contract = contract or ModelContract(input_size=input_size)
    if guided:
        if contract.input_kind != "L" or contract.output_kind != "ab" or output_stride != 1:
            raise ValueError("a guided tiny model is L* in, ab out, stride 1")
        contract = dataclasses.replace(contract, guidance=("hint_ab", "hint_mask"))
    cin, cout = contract.input_channels, contract.output_channels
    weight, bias = _tint_weights(cin, cout)
    if contract.input_kind == "L":
        shift, scale = 50.0, 1.0 / 50.0
    else:
        shift, scale = 0.5, 2.0
    inits = [
        numpy_helper.from_array(np.array(shift, np.float32), "shift"),
        numpy_helper.from_array(np.array(scale, np.float32), "scale"),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
    ]
    nodes = [
        helper.make_node("Sub", ["lightness", "shift"], ["centred"]),
        helper.make_node("Mul", ["centred", "scale"], ["normed"]),
        helper.make_node("Conv", ["normed", "weight", "bias"], ["conv"], pads=[1, 1, 1, 1],
                         strides=[output_stride, output_stride]),
        helper.make_node("Tanh", ["conv"], ["squashed"]),
    ]
    if contract.output_kind == "ab":
        inits.append(numpy_helper.from_array(np.array(45.0, np.float32), "gain"))
        nodes.append(helper.make_node("Mul", ["squashed", "gain"], ["colour"]))
    else:
        inits.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
        nodes.append(helper.make_node("Mul", ["squashed", "half"], ["halved"]))
        nodes.append(helper.make_node("Add", ["halved", "half"], ["colour"]))
    batch = fixed_batch or "N"
    side = input_size or "S"
    out_side = (input_size // output_stride) if input_size else "s"
    inputs = [helper.make_tensor_value_info("lightness", TensorProto.FLOAT,
                                            [batch, cin, side, side])]
    if guided:
        nodes[-1].output[0] = "automatic"
        inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
        nodes += [helper.make_node("Sub", ["one", "hint_mask"], ["unhinted"]),
                  helper.make_node("Mul", ["automatic", "unhinted"], ["kept"]),
                  helper.make_node("Mul", ["hint_ab", "hint_mask"], ["given"]),
                  helper.make_node("Add", ["kept", "given"], ["colour"])]
        inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                 [batch, channels, side, side])
                   for name, channels in (("hint_ab", 2), ("hint_mask", 1))]
    graph = helper.make_graph(
        nodes, "streamcolor_tiny", inputs,
        [helper.make_tensor_value_info("colour", TensorProto.FLOAT,
                                       [batch, cout, out_side, out_side])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if write_contract:
        helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    path = pathlib.Path(path)
    onnx.save(model, str(path))
    return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class AudioTrack:
    """One sine-wave audio track of a generated clip."""

    frequency: float = 440.0
    codec: str = "aac"
    layout: str = "stereo"
    language: str | None = None
    title: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClipSpec:
    """What ``make_clip`` writes. ``pts`` (in ``time_base``) gives a variable frame rate."""

    width: int = 64
    height: int = 48
    frames: int = 12
    pix_fmt: str = "yuv420p"
    codec: str = "libx264"
    time_base: Fraction = Fraction(1, 1000)
    rate: Fraction = Fraction(25)
    pts: tuple[int, ...] | None = None
    audio: tuple[AudioTrack, ...] = ()
    subtitles: tuple[tuple[float, float, str], ...] = ()
    chapters: tuple[tuple[float, float, str], ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    codec_options: tuple[tuple[str, str], ...] = (("preset", "ultrafast"),)


def _pattern(index: int, spec: ClipSpec) -> np.ndarray:
    """A grey picture in 0..1: a diagonal gradient with a square that moves."""
    y, x = np.mgrid[0 : spec.height, 0 : spec.width]
    picture = 0.15 + 0.7 * (x + y) / max(1, spec.width + spec.height - 2)
    side = max(2, min(spec.width, spec.height) // 4)
    left = (index * 3) % max(1, spec.width - side)
    square = (slice(side, 2 * side), slice(left, left + side))
    picture[square] = 0.95 - picture[square]
    return picture


def _grey_frame(picture: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    frame = av.VideoFrame(picture.shape[1], picture.shape[0], pix_fmt)
    bits = frame.format.components[0].bits
    dtype = np.uint8 if bits <= 8 else np.uint16
    full = pix_fmt.startswith(("yuvj", "gray"))
    low, span = (0, (1 << bits) - 1) if full else (16 << (bits - 8), 219 << (bits - 8))
    plane_array(frame.planes[0], dtype)[:] = np.rint(low + span * picture).astype(dtype)
    for plane in frame.planes[1:3]:
        plane_array(plane, dtype)[:] = 1 << (bits - 1)
    return frame


def _frame_pts(spec: ClipSpec) -> list[int]:
    if spec.pts is not None:
        return list(spec.pts)
    step = 1 / (spec.rate * spec.time_base)
    return [int(round(i * step)) for i in range(spec.frames)]


def _write_subtitles(out, spec: ClipSpec, workdir: pathlib.Path) -> None:
    def stamp(seconds: float) -> str:
        ms = int(round(seconds * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    text = "".join(
        f"{i}\n{stamp(a)} --> {stamp(b)}\n{line}\n\n"
        for i, (a, b, line) in enumerate(spec.subtitles, 1)
    )
    srt = workdir / "subtitles.srt"
    srt.write_text(text, encoding="utf-8")
    with av.open(str(srt)) as source:
        stream = out.add_stream_from_template(source.streams.subtitles[0])
        stream.metadata["language"] = "eng"
        for packet in source.demux(source.streams.subtitles[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)


def _audio_frames(track: AudioTrack, stream, duration: float):
    rate = stream.rate
    channels = stream.layout.nb_channels
    size = stream.codec_context.frame_size or 1024
    total = int(duration * rate)
    for start in range(0, total, size):
        t = (np.arange(start, min(start + size, total)) / rate).astype(np.float32)
        wave = 0.3 * np.sin(2 * np.pi * track.frequency * t)
        frame = av.AudioFrame.from_ndarray(np.tile(wave, (channels, 1)), format="fltp",
                                           layout=track.layout)
        frame.sample_rate = rate
        frame.pts = start
        yield frame


def make_clip(path: str | os.PathLike, spec: ClipSpec = ClipSpec()) -> pathlib.Path:
    """Write a small grey clip described by ``spec`` (video, audio, subtitles, chapters)."""
    path = pathlib.Path(path)
    pts = _frame_pts(spec)
    duration = float((pts[-1] + 1) * spec.time_base) if pts else 0.0
    with av.open(str(path), "w") as out, tempfile.TemporaryDirectory() as tmp:
        video = out.add_stream(spec.codec, rate=spec.rate, options=dict(spec.codec_options))
        video.width, video.height, video.pix_fmt = spec.width, spec.height, spec.pix_fmt
        video.time_base = video.codec_context.time_base = spec.time_base
        audio = []
        for track in spec.audio:
            stream = out.add_stream(track.codec, rate=48000, layout=track.layout)
            for key in ("language", "title"):
                if getattr(track, key):
                    stream.metadata[key] = getattr(track, key)
            audio.append((track, stream))
        out.metadata.update(dict(spec.metadata))
        if spec.chapters:
            out.set_chapters([
                {"id": i, "start": int(a * 1000), "end": int(b * 1000),
                 "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                for i, (a, b, title) in enumerate(spec.chapters, 1)
            ])
        if spec.subtitles:
            _write_subtitles(out, spec, pathlib.Path(tmp))
        for index, value in enumerate(pts):
            frame = _grey_frame(_pattern(index, spec), spec.pix_fmt)
            frame.pts, frame.time_base = value, spec.time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for track, stream in audio:
            for frame in _audio_frames(track, stream, duration):
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return path


def write_grey_video(path: str | os.PathLike, pictures, rate: int = 25) -> pathlib.Path:
    """Lossless FFV1 (yuv420p) of 8-bit grey pictures, frame ``i`` at pts ``i`` (1/rate)."""
    import cv2

    first = pictures[0]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        for i, grey in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR),
                                               format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return pathlib.Path(path)


class interrupt_after_segments:  # noqa: N801 (a context manager, used like a function)
    """Within ``with``, a film job raises KeyboardInterrupt (as Ctrl-C does) right after its
    ``count``-th finished segment is recorded in the job folder."""

    def __init__(self, count: int) -> None:
        self.count, self.recorded = count, []

    def __enter__(self):
        from .jobs.job import Film

        self._film, self._original = Film, Film.record
        original, recorded, count = Film.record, self.recorded, self.count

        def record(film, result):
            original(film, result)
            recorded.append(result.index)
            if len(recorded) == count:
                raise KeyboardInterrupt

        Film.record = record
        return self

    def __exit__(self, *exc) -> None:
        self._film.record = self._original

"""``colorize`` and ``colorize_file``: the whole job in one call, as the CLI runs it."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable

import av
import numpy as np

from .color.carry import BackwardPass, Keyframes, ReferenceGuide, reference_ab
from .color.lab import PlaneSpec, chroma_planes, model_input
from .color.temporal import Stabilizer
from .config import EncodeConfig, LiveConfig, ModelConfig, PipelineConfig, TemporalConfig
from .errors import InputError
from .jobs.references import keyframe_colours, keyframe_every
from .live.outputs import open_outputs
from .live.source import LiveSource, parse_source
from .media.frames import plane_array, plane_spec
from .media.hintfiles import read_references
from .media.hwaccel import check_encoder
from .media.sinks import check_output_path
from .media.sources import FileSource
from .pipeline import Pipeline, Progress, Summary
from .runtime import ModelRunner
from .runtime import threads as thread_plan

__all__ = ["colorize", "colorize_file"]


def _live_encoding(encode: EncodeConfig, rate) -> EncodeConfig:
    """Low-latency encoder settings (chosen per encoder by :mod:`streamcolor.media.encoders`)."""
    return dataclasses.replace(encode, live=True)


def _live_mode(spec, live: LiveConfig | bool | None) -> LiveConfig | None:
    if live is None or live is False:
        return LiveConfig() if spec.live and live is None else None
    return LiveConfig() if live is True else live


def _warm_runner(model: ModelConfig) -> ModelRunner:
    """Load the model and run the colour path a few times at each batch size live mode uses,
    before the source is opened: a live source does not wait, and cold first calls (the
    model's, OpenCV's Lab tables) cost about 100 ms, which is frames."""
    runner = ModelRunner.for_config(model)
    for size in sorted({1, model.batch_size}):
        for _ in range(3):
            runner.warmup(size)
    ab = runner.run(np.full((1, 1, runner.input_size, runner.input_size), 50, np.float32))
    for spec in (PlaneSpec(), PlaneSpec(full_range=True)):
        chroma_planes(np.full((16, 16), 128, np.uint8), ab[0], (8, 8), spec)
    return runner


def _open_source(input, spec, pipeline: PipelineConfig, live: LiveConfig | None):
    if live is None:
        return FileSource(input, start=pipeline.start, duration=pipeline.duration,
                          on_decode_error=pipeline.on_decode_error, hwaccel=pipeline.hwaccel,
                          sequence_rate=pipeline.sequence_rate), None
    if pipeline.start:
        raise InputError("--start applies to files; a live source starts now")
    return LiveSource(spec, duration=pipeline.duration), live


def _references(spec, runner: ModelRunner, live) -> dict[int, np.ndarray]:
    """The reference pictures' a*b*, by frame index; checked against the model and mode."""
    if spec is None:
        return {}
    runner.require_guidance()
    pictures = read_references(spec)
    if live and set(pictures) != {0}:
        raise InputError("a live source takes one reference picture, applied from the start "
                         f"(frame 0), not frames {sorted(pictures)}")
    return {index: reference_ab(picture) for index, picture in pictures.items()}


def _keyframes(spec, seconds: float | None, runner: ModelRunner, rate, plan
               ) -> Keyframes | None:
    """Keyframes coloured by the model ``spec`` (a name or path), on the main model's
    provider: at every cut, and every ``seconds`` within a shot (as film jobs make them:
    :func:`~streamcolor.jobs.references.keyframe_colours`)."""
    if spec is None:
        return None
    runner.require_guidance()
    strong = ModelRunner(spec, provider=runner.provider)
    return keyframe_colours(strong, keyframe_every(seconds, rate), plan)


def _reference_guide(given: dict[int, np.ndarray], input, pipeline: PipelineConfig,
                     runner: ModelRunner, plan, keyframes: Keyframes | None = None
                     ) -> ReferenceGuide | None:
    """The guide of a run with references or keyframes. Frames before a reference get its
    colour carried backward: a first pass reads them (model input only) up to the last one."""
    if not given:
        return ReferenceGuide({}, keyframes=keyframes) if keyframes else None
    last = max(given)
    if last == 0:
        return ReferenceGuide(given, keyframes=keyframes)
    backward = BackwardPass(given)
    with FileSource(input, start=pipeline.start, duration=pipeline.duration,
                    on_decode_error=pipeline.on_decode_error,
                    sequence_rate=pipeline.sequence_rate) as source:
        for item in source.items():
            if isinstance(item, av.VideoFrame):
                spec = plane_spec(item, plan)
                backward.feed(model_input(plane_array(item.planes[0], spec.dtype),
                                          runner.input_size, spec))
                if backward.frames > last:
                    break
    if backward.frames <= last:
        raise InputError(f"a reference is for frame {last}, but {input} has "
                         f"{backward.frames} frames (0-based indices in display order)")
    return ReferenceGuide(given, backward.carried, keyframes)


def colorize(
    input: str | os.PathLike,
    outputs: list[str | os.PathLike],
    *,
    model: ModelConfig = ModelConfig(),
    encode: EncodeConfig = EncodeConfig(),
    pipeline: PipelineConfig = PipelineConfig(),
    temporal: TemporalConfig = TemporalConfig(),
    live: LiveConfig | bool | None = None,
    preview: bool = False,
    rtsp_transport: str = "tcp",
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[ModelRunner, object], None] | None = None,
    references: str | os.PathLike | dict | None = None,
    keyframe_model: str | os.PathLike | None = None,
    keyframe_seconds: float | None = 10.0,
) -> Summary:
    """Colorize ``input`` (a file, URL, camera or ``lavfi:`` graph) into every output.

    ``live`` None means live mode for live sources only; True forces it (a file is then read
    in real time); a :class:`LiveConfig` sets its latency budget and frame limit.
    ``temporal`` configures the chroma stabilizer (on by default; see
    :mod:`streamcolor.color.temporal`). ``references`` (a guided model): colour pictures of
    frames, carried through their shots (:mod:`streamcolor.color.carry`): a picture (frame
    0), a folder of pictures named by frame index, or a dict of index -> picture path or BGR
    array. Live sources take one, applied from the start. ``keyframe_model`` (a name or
    path) colours the first frame of every shot, and one every ``keyframe_seconds`` (None:
    only at cuts); the guided model carries that colour as it carries references.
    """
    for target in outputs:
        if not parse_source(str(target)).live and not str(target).lower().endswith(".m3u8"):
            check_output_path(pathlib.Path(target), [pathlib.Path(input)])
    check_encoder(encode.codec)
    spec = parse_source(str(input), rtsp_transport=rtsp_transport)
    live = _live_mode(spec, live)
    runner = _warm_runner(model) if live else None
    source, live = _open_source(input, spec, pipeline, live)
    with source:
        if runner is None:
            runner = ModelRunner.for_config(model)
        if live:
            encode = _live_encoding(encode, source.info.rate)
        budget, encode = thread_plan.for_run(  # the runner's plan: ModelConfig.threads wins
            runner, encode, source.video if isinstance(source, FileSource) else None)
        given = _references(references, runner, live)
        sink = open_outputs([str(t) for t in outputs], source, encode, preview=preview)
        try:
            thread_plan.log_run(budget, encode, (getattr(sink, "codecs", None) or [None])[0],
                                live=bool(live))
            if on_start:
                on_start(runner, sink)
            keyframes = _keyframes(keyframe_model, keyframe_seconds, runner,
                                   getattr(source.info, "rate", None), sink.plan)
            guide = _reference_guide(given, input, pipeline, runner, sink.plan, keyframes)
            run = Pipeline(source, runner, sink, batch_size=model.batch_size,
                           queue_batches=pipeline.queue_batches, on_progress=on_progress,
                           live=live, stabilizer=Stabilizer(temporal) if temporal.enabled else None,
                           guide=guide)
        except BaseException:
            sink.abort()
            raise
        return run.run()


def colorize_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    model: ModelConfig = ModelConfig(),
    encode: EncodeConfig = EncodeConfig(),
    pipeline: PipelineConfig = PipelineConfig(),
    temporal: TemporalConfig = TemporalConfig(),
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[ModelRunner, object], None] | None = None,
    references: str | os.PathLike | dict | None = None,
    keyframe_model: str | os.PathLike | None = None,
    keyframe_seconds: float | None = 10.0,
) -> Summary:
    """Colorize the video stream of the file ``input`` into ``output``; copy every other stream.
    ``references``: colour pictures of frames; ``keyframe_model``: a model that colours
    keyframes for the guided model to carry (see :func:`colorize`).

    ``on_progress`` is called in the caller's thread about twice a second; ``on_start`` once the
    model is loaded and the output is open (e.g. to report the provider and the sink's notes).
    Raises a :class:`~streamcolor.errors.StreamcolorError` subclass on bad input, output or
    model before any work starts, and :class:`~streamcolor.errors.StageError` if a stage
    fails during the run; ``output`` is then left as it was before the call.
    """
    return colorize(input, [output], model=model, encode=encode, pipeline=pipeline,
                    temporal=temporal, live=False, references=references,
                    keyframe_model=keyframe_model, keyframe_seconds=keyframe_seconds,
                    on_progress=on_progress, on_start=on_start)

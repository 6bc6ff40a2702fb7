"""``colorize_file``: the whole job in one call, as the CLI runs it."""

from __future__ import annotations

import os
from collections.abc import Callable

from .config import EncodeConfig, ModelConfig, PipelineConfig
from .pipeline import Pipeline, Progress, Summary
from .runtime import ModelRunner
from .sinks import FileSink, check_output_path
from .sources import FileSource

__all__ = ["colorize_file"]


def colorize_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    model: ModelConfig = ModelConfig(),
    encode: EncodeConfig = EncodeConfig(),
    pipeline: PipelineConfig = PipelineConfig(),
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[ModelRunner, FileSink], None] | None = None,
) -> Summary:
    """Colorize the video stream of ``input`` into ``output``; copy every other stream.

    ``on_progress`` is called in the caller's thread about twice a second; ``on_start`` once the
    model is loaded and the output is open (e.g. to report the provider and the sink's notes).
    Raises a :class:`~streamcolor.errors.StreamcolorError` subclass on bad input, output or
    model before any work starts, and :class:`~streamcolor.errors.StageError` if a stage
    fails during the run; ``output`` is then left as it was before the call.
    """
    import pathlib

    check_output_path(pathlib.Path(output), [pathlib.Path(input)])
    with FileSource(input, start=pipeline.start, duration=pipeline.duration,
                    on_decode_error=pipeline.on_decode_error) as source:
        runner = ModelRunner(model.model, provider=model.provider, threads=model.threads)
        sink = FileSink(output, source, encode)
        try:
            if on_start:
                on_start(runner, sink)
            run = Pipeline(source, runner, sink, batch_size=model.batch_size,
                           queue_batches=pipeline.queue_batches, on_progress=on_progress)
        except BaseException:
            sink.abort()
            raise
        return run.run()

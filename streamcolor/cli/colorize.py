"""``colorize`` in a single pass (the pipeline, no job folder): live sources and outputs,
``--no-segments``, and files that a film job cannot cut."""

from __future__ import annotations

import json
import sys

from ..api import colorize
from ..config import EncodeConfig, LiveConfig, ModelConfig, PipelineConfig, TemporalConfig
from ..live.source import parse_source
from ..redact import redact
from .report import LiveReporter, ProgressBar, summary_line

__all__ = ["run_single_pass"]


def run_single_pass(args) -> int:
    """``colorize`` in one pass: live sources, ``--no-segments``, inputs a job cannot cut."""
    args.input = args.input[0]
    quiet = args.quiet
    live = args.live or parse_source(args.input).live
    reporter = (LiveReporter(quiet=quiet, json_path=args.metrics_json, source=args.input)
                if live else None)
    bar = None if quiet or live else ProgressBar()

    def announce(runner, sink) -> None:
        if not quiet:
            c = runner.contract
            codecs = ", ".join(dict.fromkeys(getattr(sink, "codecs", [])))
            print(f"model {runner.path.name} ({c.input_kind} -> {c.output_kind}, "
                  f"{runner.input_size} px) on {runner.provider}"
                  + (f"; video encoder {codecs}" if codecs else ""), file=sys.stderr)
            if live:
                print(redact(f"live from {args.input}"), file=sys.stderr)
            for note in sink.notes:
                print(redact(f"note: {note}"), file=sys.stderr)

    summary = None
    try:
        summary = colorize(
            args.input, args.output,
            model=ModelConfig(model=args.model, provider=args.provider, precision=args.precision,
                              frame_graphs=args.frame_graphs,
                              batch_size=args.batch_size or (1 if live else 8)),
            encode=EncodeConfig(codec=args.codec, crf=args.crf, bitrate=args.bitrate,
                                preset=args.preset, options=tuple(args.encoder_option),
                                incompatible=args.incompatible),
            pipeline=PipelineConfig(start=args.start, duration=args.duration,
                                    on_decode_error=args.on_decode_error,
                                    hwaccel=args.hwaccel, sequence_rate=args.input_rate),
            temporal=TemporalConfig(enabled=args.temporal == "on",
                                    strength=args.temporal_strength),
            live=LiveConfig(max_latency=args.max_latency / 1000, frames=args.frames)
            if live else False,
            preview=args.preview, rtsp_transport=args.rtsp_transport,
            on_progress=reporter or bar, on_start=announce, references=args.reference,
            keyframe_model=args.keyframe_model, keyframe_seconds=args.keyframe_seconds or None)
    finally:
        if bar:
            bar.close()
        if reporter:
            reporter.close(summary)
    if args.metrics_json and not live:
        _write_metrics(args.metrics_json, summary)
    if not quiet:
        print(summary_line(summary, args.output), file=sys.stderr)
    return 0


def _write_metrics(path: str, summary) -> None:
    """A file run's figures as one JSON line (a live run writes its own as it goes)."""
    record = {"frames": summary.frames, "seconds": round(summary.seconds, 3),
              "decode_errors": summary.decode_errors}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")

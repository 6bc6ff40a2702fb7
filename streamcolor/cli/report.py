"""What the command line shows while it works: a progress bar, live metrics, summaries.

Part of the command line (the only code that prints): stderr for people, and with
``--metrics-json`` one JSON object per line for machines.
"""

from __future__ import annotations

import json
import sys
import time

from ..pipeline import Progress, Summary
from ..redact import redact

__all__ = ["ProgressBar", "LiveReporter", "summary_line", "live_line"]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """Frames, fps and ETA on one line of stderr (a line every 10 s when not a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 10:
            return
        self.last = now
        total = progress.total
        done = f"{progress.frames}/{total}" if total else f"{progress.frames}"
        eta = ""
        if total and progress.fps > 0 and total >= progress.frames:
            eta = f"  ETA {_clock((total - progress.frames) / progress.fps)}"
        percent = f"{100 * progress.frames / total:5.1f}%  " if total else ""
        line = f"{percent}frames {done}  {progress.fps:6.1f} fps{eta}"
        self.stream.write(f"\r{line:<60}" if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 60 + "\r")


def live_line(m: dict) -> str:
    """One line of live metrics."""
    lat = m["latency_ms"]
    latency = (f"latency p50 {lat['p50']:.0f} ms p95 {lat['p95']:.0f} ms max {lat['max']:.0f} ms"
               if lat["p50"] is not None else "latency -")
    return (f"[{_clock(m['elapsed_s'])}] {m['frames']} frames  {m['fps']:.1f} fps  {latency}  "
            f"dropped {m['dropped']}  reconnects {m['reconnects']}")


class LiveReporter:
    """Prints live metrics every ``interval`` seconds and appends them to a JSON-lines file."""

    def __init__(self, *, quiet: bool, json_path: str | None, interval: float = 5.0,
                 source: str | None = None) -> None:
        self.quiet = quiet
        self.source = redact(source) if source else None
        self.interval = interval
        self.last = time.monotonic()
        self.json = open(json_path, "a", encoding="utf-8") if json_path else None

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.snapshot is None or now - self.last < self.interval:
            return
        self.last = now
        metrics = progress.snapshot()
        if not self.quiet:
            print(live_line(metrics), file=sys.stderr)
        self.write(metrics)

    def write(self, metrics: dict) -> None:
        if self.json:
            record = {"source": self.source, **metrics} if self.source else metrics
            self.json.write(json.dumps(record) + "\n")
            self.json.flush()

    def close(self, summary: Summary | None) -> None:
        if self.json:
            if summary is not None and summary.live:
                self.write(summary.live)
            self.json.close()


def summary_line(summary: Summary, outputs: list[str]) -> str:
    """The one-line summary of a run."""
    errors = summary.decode_errors
    skipped = f", {errors} decode error{'s' * (errors != 1)} skipped" if errors else ""
    target = ", ".join(redact(o) for o in outputs) if outputs else "preview"
    line = (f"colorized {summary.frames} frames in {summary.seconds:.1f} s "
            f"({summary.fps:.1f} fps, {summary.provider}){skipped} -> {target}")
    if summary.live:
        total = summary.live["latency_ms_total"]
        if total["p50"] is not None:
            line += (f"; latency p50 {total['p50']:.0f} ms, p95 {total['p95']:.0f} ms, "
                     f"max {total['max']:.0f} ms")
        line += f"; dropped {summary.live['dropped']}, reconnects {summary.live['reconnects']}"
    if summary.interrupted:
        line += "; stopped by signal, outputs finalized"
    return line

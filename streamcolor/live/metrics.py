"""Live metrics: latency per frame (arrival to encoded), fps, drops and reconnections."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

__all__ = ["LiveMetrics"]


def _percentiles(values) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    array = np.fromiter(values, dtype=np.float64) * 1000.0
    p50, p95 = np.percentile(array, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
            "max": round(float(array.max()), 1)}


class LiveMetrics:
    """Thread-safe counters; ``snapshot()`` reports the last interval and the whole run.

    Latencies of the whole run are kept for the last ``keep`` frames (bounded memory).
    """

    def __init__(self, keep: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._all = collections.deque(maxlen=keep)
        self._window: list[float] = []
        self.frames = 0
        self.dropped = 0
        self.started = time.perf_counter()
        self._window_start = self.started
        self._window_frames = 0

    def frame_encoded(self, arrival: float | None) -> None:
        """Count one encoded frame that arrived at ``arrival`` (``time.perf_counter``)."""
        now = time.perf_counter()
        with self._lock:
            self.frames += 1
            self._window_frames += 1
            if arrival is not None:
                self._all.append(now - arrival)
                self._window.append(now - arrival)

    def frame_dropped(self) -> None:
        with self._lock:
            self.dropped += 1

    def snapshot(self, *, reconnects: int = 0, final: bool = False) -> dict:
        """Figures since the last snapshot (``interval``) and for the whole run (``total``)."""
        now = time.perf_counter()
        with self._lock:
            window, self._window = self._window, []
            frames, self._window_frames = self._window_frames, 0
            span, self._window_start = now - self._window_start, now
            total = list(self._all)
            counts = {"frames": self.frames, "dropped": self.dropped}
        elapsed = now - self.started
        return {
            "event": "final" if final else "interval",
            "elapsed_s": round(elapsed, 3),
            **counts,
            "reconnects": reconnects,
            "fps": round(frames / span, 2) if span > 0 else 0.0,
            "fps_total": round(counts["frames"] / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_ms": _percentiles(window),
            "latency_ms_total": _percentiles(total),
        }

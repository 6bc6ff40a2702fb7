"""Damaged places in an input: one warning line each (time and stream), the rest of a long
run of them summarized, and the count the summary and ``--metrics-json`` show.

Reading what can be read is the default, as FFmpeg does: a damaged packet is skipped or
concealed by the decoder, the frames it still gives keep their own timestamps, and each
place is reported here. ``--on-decode-error stop`` (``--strict``) stops at the first one.
"""

from __future__ import annotations

import logging

from ..errors import format_time

__all__ = ["DamageLog", "SHOWN"]

SHOWN = 5  # warning lines per stream; later places are counted and summarized at the end

_log = logging.getLogger("streamcolor")


class DamageLog:
    """The damaged places of one input, by stream."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self._by_stream: dict[str, list[float | None]] = {}

    def note(self, what: str, stream: str, position: float | None) -> None:
        """One damaged place: warn (the first :data:`SHOWN` of a stream) and count it."""

        self.count += 1
        places = self._by_stream.setdefault(stream, [])
        places.append(position)
        if stream == "the file":  # truncated, or unreadable from here on
            _log.warning("%s: %s; colorized up to there", self.name, what)
        elif len(places) <= SHOWN:
            _log.warning("%s: %s in %s at %s; skipped", self.name, what, stream,
                         format_time(position))

    def close(self) -> None:
        """Summarize the places that were not shown, one line per stream."""

        for stream, places in self._by_stream.items():
            if len(places) > SHOWN:
                known = [p for p in places[SHOWN:] if p is not None]
                until = f" up to {format_time(max(known))}" if known else ""
                _log.warning("%s: %d more damaged places in %s%s; skipped", self.name,
                             len(places) - SHOWN, stream, until)
        self._by_stream.clear()

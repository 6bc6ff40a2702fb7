"""The live decode queue: how many frames it may hold, and dropping the stale ones.

In live mode a frame that has waited too long is worth less than the next one: the pipeline
drops it (and counts it) rather than fall further behind. Audio packets wait with the frames
but are never dropped.
"""

from __future__ import annotations

import math
import queue

import av

from ..config import LiveConfig

__all__ = ["live_depth", "drop_frames"]


def live_depth(batch_size: int, live: LiveConfig, info) -> int:
    """The most frames the live decode queue holds (a memory bound; frames are dropped for
    their age long before it is reached unless a burst arrives)."""
    rate = float(getattr(info, "rate", None) or 25)
    return max(8, 2 * batch_size, math.ceil(2 * rate * live.max_latency))


def drop_frames(q: queue.Queue, *, arrived_before: float, keep: int) -> int:
    """Remove the video frames in ``q`` that arrived before ``arrived_before``
    (``time.perf_counter``), then the oldest until at most ``keep`` remain; packets stay.
    Returns how many were removed."""
    with q.mutex:
        frames = [item for item in q.queue if isinstance(item, av.VideoFrame)]
        drop = {id(f) for f in frames
                if isinstance(f.opaque, float) and f.opaque < arrived_before}
        fresh = [f for f in frames if id(f) not in drop]
        drop.update(id(f) for f in fresh[: max(0, len(fresh) - keep)])
        if drop:
            kept = [item for item in q.queue if id(item) not in drop]
            q.queue.clear()
            q.queue.extend(kept)
        return len(drop)

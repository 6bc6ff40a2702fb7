"""IO binding: preallocated input and output buffers on the provider's device, reused per batch.

Each :class:`_Slot` owns one onnxruntime ``IOBinding`` with an input buffer and an output buffer
per batch size it has seen (a file run sees one or two sizes: full batches and the last
partial one; live mode a few, padded to a few sizes by the runner), the least recently used
dropped beyond :data:`KEEP_SHAPES`. :class:`BoundSession` keeps two slots, so two threads can have
a batch in flight each: while one batch is computing the next one is being copied in. With
the CPU provider the same code path runs (buffers in host memory), which is how it is tested.
"""

from __future__ import annotations

import collections
import concurrent.futures
import queue
from collections.abc import Callable, Iterable, Iterator

import numpy as np

__all__ = ["BoundSession", "InFlight", "KEEP_SHAPES"]

KEEP_SHAPES = 8  # buffers kept per slot; device memory is not freed for shapes gone by


class _Slot:
    """One binding and its buffers: an input buffer per (input, shape), an output buffer per
    set of input shapes."""

    def __init__(self, session, output_name: str, device: str) -> None:
        self._session, self._device, self._output_name = session, device, output_name
        self._binding = session.io_binding()
        self._inputs: collections.OrderedDict[tuple, object] = collections.OrderedDict()
        self._outputs: collections.OrderedDict[tuple, object] = collections.OrderedDict()

    @staticmethod
    def _keep(cache: collections.OrderedDict, key: tuple) -> None:
        """Mark ``key`` as just used and drop the least recently used beyond KEEP_SHAPES."""
        cache.move_to_end(key)
        while len(cache) > KEEP_SHAPES:
            cache.popitem(last=False)

    def _input(self, name: str, array: np.ndarray):
        from onnxruntime import OrtValue

        key = (name, array.shape, array.dtype.str)
        value = self._inputs.get(key)
        if value is None:
            value = OrtValue.ortvalue_from_shape_and_type(array.shape, array.dtype,
                                                          self._device, 0)
            self._inputs[key] = value
        self._keep(self._inputs, key)
        value.update_inplace(array)
        return value

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        binding = self._binding
        for name, array in feeds.items():
            binding.bind_ortvalue_input(name, self._input(name, np.ascontiguousarray(array)))
        key = tuple((name, array.shape, array.dtype.str) for name, array in feeds.items())
        output_value = self._outputs.get(key)
        if output_value is None:  # first batch of these sizes: let onnxruntime size the output
            binding.bind_output(self._output_name, self._device, 0)
        else:
            binding.bind_ortvalue_output(self._output_name, output_value)
        self._session.run_with_iobinding(binding)
        if output_value is None:
            output_value = binding.get_outputs()[0]
            self._outputs[key] = output_value
        self._keep(self._outputs, key)
        result = output_value.numpy()
        # A CPU buffer's array is a view of memory the next batch reuses: hand out a copy.
        return result.copy() if self._device == "cpu" else result


class BoundSession:
    """``run(feed)`` through IO binding on ``device`` ("cuda" or "cpu"), ``slots`` batches at
    most in flight at once (callers beyond that wait for a slot). ``extra`` inputs (a guided
    model's hints) are bound beside the first one."""

    def __init__(self, session, input_name: str, output_name: str, *, device: str,
                 slots: int = 2) -> None:
        self.device, self._input_name = device, input_name
        self._free: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        for _ in range(slots):
            self._free.put(_Slot(session, output_name, device))

    def run(self, feed: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The first output for ``feed`` (a host array) and ``extra`` inputs, as a host array."""
        slot = self._free.get()
        try:
            return slot.run({self._input_name: feed, **(extra or {})})
        finally:
            self._free.put(slot)


class InFlight:
    """Up to ``depth`` calls of ``work`` running at once (threads), items handed on in input
    order: with two batches in flight one is copied in while the other computes. ``depth`` 1
    runs ``work`` inline, without threads. ``prepare`` (a runner's ``warm_thread``, which runs
    once per thread) starts on every thread as the pool opens, while the first batch is still
    being decoded, and again before each ``work`` (a no-op once done there); its errors
    surface from :meth:`ordered`. Use as a context manager (joins its threads)."""

    def __init__(self, depth: int, prepare: Callable[[], None] | None = None) -> None:
        self.depth, self._prepare = depth, prepare
        self._pool = (concurrent.futures.ThreadPoolExecutor(depth, "inference")
                      if depth > 1 else None)
        self._warming: list[concurrent.futures.Future] = []

    def __enter__(self) -> InFlight:
        if self._prepare is not None and self._pool is None:
            self._prepare()
        elif self._prepare is not None:  # each submit finds the others busy: a new thread
            self._warming = [self._pool.submit(self._prepare) for _ in range(self.depth)]
        return self

    def _prepared(self, work: Callable, item) -> None:
        if self._prepare is not None:
            self._prepare()
        work(item)

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def ordered(self, items: Iterable, work: Callable, is_work: Callable[[object], bool]
                ) -> Iterator:
        """``items`` in order, each one ``is_work`` accepts after ``work(item)`` returned."""
        if self._pool is None:
            for item in items:
                if is_work(item):
                    work(item)
                yield item
            return
        for warming in self._warming:
            warming.result()
        pending: collections.deque = collections.deque()
        running = 0
        for item in items:
            future = self._pool.submit(self._prepared, work, item) if is_work(item) else None
            pending.append((item, future))
            running += future is not None
            while pending and (pending[0][1] is None or pending[0][1].done()
                               or running >= self.depth):
                head, done = pending.popleft()
                if done is not None:
                    done.result()
                    running -= 1
                yield head
        for head, done in pending:
            if done is not None:
                done.result()
            yield head

"""Live runs: sources read in real time (:mod:`.source`), their sound on every output
(:mod:`.audio`), the queue that drops stale frames (:mod:`.backlog`), latency metrics
(:mod:`.metrics`) and outputs that stream while they are written (:mod:`.outputs`).

Built on :mod:`streamcolor.media`; the pipeline uses it, never the other way round.
"""

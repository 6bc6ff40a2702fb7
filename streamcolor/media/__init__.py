"""Media in and out, through PyAV: sources and decoders, frames as planes, sinks and encoders,
the plan for streams that are copied or converted, photos and their metadata, and the
write-then-rename that makes an output appear whole or not at all. Damaged input is read
as far as it can be: ``demux`` (packets past a stream that appears mid-file), ``damage``
(one warning per damaged place, counted), ``copytimes`` (copied packets' timestamps made
fit for the muxer) and ``copycheck`` (copied streams whose packets the muxer refuses, found
before any work).

Knows colour math (:mod:`streamcolor.color`) and where the GPU libraries are
(:mod:`streamcolor.runtime.libraries`); knows nothing of live runs, the pipeline or jobs.
"""

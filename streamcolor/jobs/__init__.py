"""Film jobs: segmented, checkpointed, resumable colorization of files, on local worker
processes or a Ray cluster.

    plan.py        where the cuts go (near shot changes), warm-up frames before each cut
    manifest.py    the job's identity and finished segments, replaced atomically
    segment.py     colorize one segment -> one segment file (the task of every scheduler)
    source.py      the frames of one stretch of the film, decoded frame-exactly
    references.py  reference frames and keyframes: what reaches a segment, carried in
    packets.py     the segment file: encoded packets exactly as the encoder gave them
    local.py       segments here, or in N worker processes
    ray_backend.py segments as Ray tasks on an existing cluster
    join.py        segments + every other stream of the input -> the output, in one pass
    job.py         the driver: plan or resume, schedule, record, join, clean up
"""

from .job import Film, JobConfig, JobSummary, job_folder, run_films
from .plan import WARMUP_FRAMES, Segment

__all__ = ["Film", "JobConfig", "JobSummary", "job_folder", "run_films", "Segment",
           "WARMUP_FRAMES"]

"""A bounded, seeded fuzz (issue 19): mutations (bytes flipped, runs zeroed, cut short, chunks
repeated) of small clips in MP4, MKV, MOV/HEVC, TS, WebM, AVI and FLV with audio and
subtitles, and of JPEG, PNG, TIFF and WebP photos. ``streamcolor`` runs as a subprocess,
as a user runs it; each case is colorized or refused in one to three lines, with no
traceback, no hang and nothing left behind, and every file FFmpeg transcodes is colorized.
The long run is ``benchmarks/fuzz.py --cases 2000``."""

from __future__ import annotations

import concurrent.futures
import shutil

import pytest

from streamcolor.fuzzing import cases, make_media, make_photos, run_case, run_photo_case

CLIPS = 98  # 14 per container, spread over the four mutations
PHOTOS = 24
TIMEOUT = 90.0  # seconds per case (a hang is a failure), on a slow shared machine

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="needs Debian's ffmpeg (apt-get install ffmpeg)")


def _run_all(jobs, workdir, model) -> list:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda job: job[0](job[1], workdir, model, timeout=TIMEOUT),
                             jobs))


def _report(outcomes) -> str:
    return "\n".join(f"{o.case}: {'; '.join(o.problems)}\n  {o.stderr.strip()[-400:]}"
                     for o in outcomes if o.problems)


def test_damaged_clips_are_colorized_or_refused_in_one_line(tmp_path, model_path):
    bases = list(make_media(tmp_path / "media").values())
    outcomes = _run_all([(run_case, c) for c in cases(bases, CLIPS, seed=19)],
                        tmp_path / "work", model_path)
    assert not _report(outcomes), _report(outcomes)
    ffmpeg_ok = sum(o.ffmpeg_ok for o in outcomes)
    ours_ok = sum(o.ours_ok for o in outcomes)
    assert ours_ok >= ffmpeg_ok > CLIPS // 2  # the mutations leave most files readable


def test_damaged_photos_are_colorized_or_refused_in_one_line(tmp_path, model_path):
    bases = list(make_photos(tmp_path / "photos").values())
    outcomes = _run_all([(run_photo_case, c) for c in cases(bases, PHOTOS, seed=1)],
                        tmp_path / "work", model_path)
    assert not _report(outcomes), _report(outcomes)
    assert any(o.ours_ok for o in outcomes) and not all(o.ours_ok for o in outcomes)

"""The job folder belongs to the job: it is made only once the job can start, it holds only
what the job made, and a job that cannot start, or fails before a segment is done, leaves no
folder behind. Errors about it are one line that names the path and what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from helpers import require
from streamcolor.cli.main import main
from streamcolor.jobs import job_folder
from streamcolor.jobs.manifest import Manifest, input_identity
from streamcolor.testing import ClipSpec

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1 in a fresh network namespace


def _colorize(source, out, model_path, *extra: str) -> int:
    return main(["colorize", str(source), "-o", str(out), "--model", str(model_path),
                 "--segment-seconds", "1", *extra])


def _errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_finished_job_keeps_what_it_did_not_make(clip, tmp_path, model_path):
    source = clip(ClipSpec(frames=30))
    out = tmp_path / "out.mkv"
    folder = job_folder(out)
    folder.mkdir()
    Manifest(input=str(source), identity=input_identity(source), settings="older",
             segments=[]).save(folder / "manifest.json")  # a job's: it starts over
    (folder / "notes.txt").write_text("mine")
    assert _colorize(source, out, model_path, "--provider", "cpu") == 0
    assert out.is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_folder_that_is_not_a_job_folder_is_refused(clip, tmp_path, model_path, capsys):
    source = clip(ClipSpec(frames=30))
    out = tmp_path / "out.mkv"
    folder = job_folder(out)
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert _colorize(source, out, model_path, "--provider", "cpu") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and str(folder) in errors[0] and "not a streamcolor job folder" \
        in errors[0] and "another output name" in errors[0], errors
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"] and not out.exists()


@pytest.mark.parametrize("where", ["named like one", "inside one"])
def test_an_output_in_a_job_folder_is_refused(where, clip, tmp_path, model_path, capsys):
    source = clip(ClipSpec(frames=30))
    other = tmp_path / ".jf.mkv.streamcolor"
    if where == "inside one":
        other.mkdir()
        out = other / "out.mkv"
    else:
        out = other
    assert _colorize(source, out, model_path, "--provider", "cpu") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and str(out) in errors[0] and "job folder" in errors[0], errors
    assert not out.exists() and not job_folder(out).exists()


def test_a_file_in_the_job_folders_place_is_named(clip, tmp_path, model_path, capsys):
    source = clip(ClipSpec(frames=30))
    out = tmp_path / "out.mkv"
    job_folder(out).write_text("in the way")
    assert _colorize(source, out, model_path, "--provider", "cpu") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and str(job_folder(out)) in errors[0] \
        and "move it away" in errors[0], errors
    assert job_folder(out).read_text() == "in the way"


def test_a_job_failing_before_a_segment_is_done_leaves_no_folder(clip, tmp_path, model_path,
                                                                 capsys):
    source = clip(ClipSpec(frames=30))
    out = tmp_path / "out.mkv"
    for _ in range(2):  # the second run does not resume an empty job
        assert _colorize(source, out, model_path, "--provider", "cuda") == 1
        errors = _errors(capsys)
        assert len(errors) == 1 and "cuda" in errors[0] and "resuming" not in errors[0], errors
        assert not job_folder(out).exists() and not out.exists()


def test_workers_announce_the_model_as_the_single_pass_does(clip, tmp_path, model_path,
                                                             capsys):
    source = clip(ClipSpec(frames=30))
    assert _colorize(source, tmp_path / "one.mkv", model_path, "--provider", "cpu") == 0
    single = [line for line in _errors(capsys) if line.startswith("model ")]
    assert _colorize(source, tmp_path / "two.mkv", model_path, "--provider", "cpu",
                     "--workers", "2") == 0
    workers = [line for line in _errors(capsys) if line.startswith("model ")]
    assert len(single) == 1 and workers == single, (single, workers)


def test_an_unreachable_ray_cluster_is_one_line_and_leaves_no_folder(clip, tmp_path,
                                                                     model_path):
    """Run in a private network namespace (only loopback up), as every Ray test: before the
    fix Ray probes outside addresses, and port 1 is sure to be closed there."""
    require(shutil.which("unshare") is not None and shutil.which("ip") is not None,
             "needs unshare and ip (util-linux, iproute2)")
    require(subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0,
             "needs unshare -n (root, or unprivileged user namespaces)")
    try:
        import ray  # noqa: F401
    except ImportError:
        require(False, "needs ray (pip install 'streamcolor[ray]')")
    source = clip(ClipSpec(frames=30))
    out = tmp_path / "out.mkv"
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, "-m", "streamcolor", "colorize", str(source), "-o", str(out),
               "--model", str(model_path), "--ray", UNREACHABLE]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"still running after 60 s: {error.stderr!r}")
    seconds = time.monotonic() - started
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert seconds < 30, (seconds, done.stderr)
    assert len(lines) == 1 and UNREACHABLE in lines[0] and "ray start --head" in lines[0], lines
    assert not job_folder(out).exists() and not out.exists()


def _films(clip, folder, count=2):
    folder.mkdir()
    for index in range(count):
        shutil.copy(clip(ClipSpec(frames=12)), folder / f"film{index}.mkv")
    return folder


def test_a_folder_of_films_into_a_folder_that_does_not_exist_yet(clip, tmp_path, model_path):
    films = _films(clip, tmp_path / "films")
    out = tmp_path / "new" / "deeper"
    assert main(["colorize", str(films), "-o", str(out), "--model", str(model_path),
                 "--provider", "cpu", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["film0.mkv", "film1.mkv"]


def test_an_output_folder_made_for_a_run_that_fails_is_taken_back(clip, tmp_path, model_path,
                                                                  capsys):
    films = _films(clip, tmp_path / "films")
    out = tmp_path / "new" / "deeper"
    assert main(["colorize", str(films), "-o", str(out), "--model", str(model_path),
                 "--provider", "cuda"]) == 1  # no GPU here, nor in CI
    assert not (tmp_path / "new").exists()
    assert len(_errors(capsys)) == 1


def test_a_folder_of_films_into_a_file_name_is_refused(clip, tmp_path, model_path, capsys):
    films = _films(clip, tmp_path / "films")
    assert main(["colorize", str(films), "-o", str(tmp_path / "x.mkv"), "--model",
                 str(model_path)]) == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and "is a directory" in errors[0] and "-o FOLDER/" in errors[0]
    assert not (tmp_path / "x.mkv").exists()

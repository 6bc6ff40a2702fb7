"""Film jobs under faults: kill -9, Ctrl-C, a full disk, a killed worker, then resume."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from helpers import partial_of, proc_members, require, video_pts
from streamcolor.cli.main import main
from streamcolor.jobs import job_folder
from streamcolor.jobs.manifest import Manifest, file_sha256
from streamcolor.jobs.packets import PacketWriter
from streamcolor.testing import AudioTrack, ClipSpec, make_clip

SLOW = ("--preset", "veryslow", "--segment-seconds", "1")


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """12 one-second segments, slow enough (veryslow preset) to interrupt mid-run."""
    folder = tmp_path_factory.mktemp("film")
    return make_clip(folder / "film.mkv", ClipSpec(width=320, height=240, frames=300,
                                                   audio=(AudioTrack(),),
                                                   subtitles=((1.0, 2.0, "a"),)))


def _command(source, out, model_path, *extra) -> list[str]:
    return [sys.executable, "-m", "streamcolor", "colorize", str(source), "-o", str(out),
            "--model", str(model_path), "--provider", "cpu", *SLOW, *extra]


def _done(out) -> int:
    manifest = Manifest.load(job_folder(out) / "manifest.json")
    return len(manifest.done) if manifest else 0


def _start_until(command, ready, timeout: float = 60) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + timeout
    while not ready(process):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the run never got there (exit {process.returncode}): {err}")
        time.sleep(0.05)
    return process


def _consistent(out) -> Manifest:
    """The job folder after a fault: a readable manifest, every finished segment intact."""
    folder = job_folder(out)
    manifest = Manifest.load(folder / "manifest.json")
    assert manifest is not None, "the manifest is unreadable"
    for entry in manifest.done.values():
        assert file_sha256(folder / entry["file"]) == entry["sha256"]
    assert not out.exists() and not partial_of(out).exists()
    return manifest


def _resume(command) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_kill_9_then_resume_gives_the_uninterrupted_result(film, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    command = _command(film, out, model_path)
    process = _start_until(command, lambda p: _done(out) >= 2)
    process.kill()
    process.communicate()
    done = len(_consistent(out).done)
    err = _resume(command)
    assert f"resuming: {done} of 12 segments done" in err, err
    assert video_pts(out) == video_pts(film)
    assert not job_folder(out).exists()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def _group_members(pgid: int) -> list[int]:
    """Running processes of process group ``pgid``."""
    return proc_members(2, pgid, running=True)


@pytest.mark.skipif(not pathlib.Path("/proc").is_dir(), reason="needs /proc to find workers")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_keeps_the_job_and_prints_the_resume_command(workers, film, tmp_path,
                                                            model_path):
    """Ctrl-C (SIGINT to the terminal's whole process group, as a terminal sends it) stops
    the run with status 130 and the resume command; no worker outlives it: the workers seen
    running (by their own pids) and everything else in the run's process group are gone
    when it exits."""
    out, log = tmp_path / "out.mkv", tmp_path / "stderr.txt"
    command = _command(film, out, model_path, "--workers", workers)
    with open(log, "w") as stderr:  # a file, not a pipe: waiting is for the run alone,
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                   text=True, start_new_session=True)  # not what inherits it
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while not (_done(out) >= 1 and (workers == "1" or len(seen) >= 2)):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):  # gone already if it ended
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"the run never got there: {log.read_text()}")
        seen.update(_workers_of(process.pid))
        time.sleep(0.05)
    seen.update(_workers_of(process.pid))
    try:
        os.killpg(process.pid, signal.SIGINT)  # its own group: the run and its workers
        process.wait(timeout=120)  # generous: the machine may be loaded
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"the run did not stop on Ctrl-C: {log.read_text()}")
    workers_left = sorted(pid for pid in seen if _alive(pid))  # reaped before it exits
    # multiprocessing's resource tracker leaves when it reads the run's end of its pipe
    # closed: a moment after the run, on its own; anything else that stays is left behind
    settle = time.monotonic() + 5
    while _group_members(process.pid) and time.monotonic() < settle:
        time.sleep(0.05)
    left = sorted(set(workers_left) | set(_group_members(process.pid)))
    named = {pid: _cmdline(pid) for pid in left}
    err = log.read_text()
    for pid in left:  # do not leave them running for the next tests
        os.kill(pid, signal.SIGKILL)
    assert not workers_left, f"workers outlived the interrupted run: {named}"
    assert not left, f"processes outlived the interrupted run by 5 s: {named}"
    assert process.returncode == 130, err
    assert "resume with:" in err and f"colorize {film}" in err and "Traceback" not in err, err
    done = len(_consistent(out).done)
    resumed = _resume(command)
    assert f"resuming: {done} of 12" in resumed, (err, resumed)
    assert video_pts(out) == video_pts(film)


def _full_disk_checks(out, capsys) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("streamcolor: error: ")]
    assert len(errors) == 1, err
    assert "no space left" in errors[0] and str(job_folder(out)) in errors[0]
    _consistent(out)


def test_full_disk_injected_at_the_write_layer(tmp_path, model_path, monkeypatch, capsys):
    source = make_clip(tmp_path / "in.mkv", ClipSpec(frames=100, audio=(AudioTrack(),)))
    out = tmp_path / "out.mkv"
    original, calls = PacketWriter.write, []

    def write(self, packet):
        calls.append(1)
        if len(calls) > 60:  # in the third segment
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.tmp))
        original(self, packet)

    monkeypatch.setattr(PacketWriter, "write", write)
    argv = ["colorize", str(source), "-o", str(out), "--model", str(model_path),
            "--provider", "cpu", "--segment-seconds", "1"]
    assert main(argv) == 1
    _full_disk_checks(out, capsys)
    monkeypatch.setattr(PacketWriter, "write", original)
    assert main(argv) == 0
    assert "resuming: 2 of 4 segments done" in capsys.readouterr().err
    assert video_pts(out) == video_pts(source)


@pytest.fixture
def small_disk(tmp_path):
    """A 160 KiB tmpfs (root only); yields (folder, grow) where grow() makes it 8 MiB."""
    folder = tmp_path / "disk"
    folder.mkdir()
    require(os.geteuid() == 0, "needs root to mount a tmpfs (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    require(mounted.returncode == 0, f"needs mount -t tmpfs ({mounted.stderr.strip()})")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=8m", str(folder)], check=True)

    try:
        yield folder, grow
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_full_disk_on_a_real_tmpfs(workers, small_disk, tmp_path, model_path, capsys):
    folder, grow = small_disk
    source = make_clip(tmp_path / "in.mkv", ClipSpec(frames=150, audio=(AudioTrack(),)))
    out = folder / "out.mkv"
    argv = ["colorize", str(source), "-o", str(out), "--model", str(model_path),
            "--provider", "cpu", "--segment-seconds", "1", "--codec", "ffv1",
            "--workers", workers]
    assert main(argv) == 1
    _full_disk_checks(out, capsys)
    grow()
    assert main(argv) == 0
    assert "resuming:" in capsys.readouterr().err
    assert video_pts(out) == video_pts(source) and not job_folder(out).exists()


def _workers_of(pid: int) -> list[int]:
    """Worker processes (multiprocessing spawn children) of ``pid``."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not pathlib.Path("/proc").is_dir(), reason="needs /proc to find workers")
def test_killed_worker_has_its_segment_redone(film, tmp_path, model_path):
    out = tmp_path / "out.mkv"
    command = _command(film, out, model_path, "--workers", "2")
    process = _start_until(command, lambda p: _done(out) >= 1 and _workers_of(p.pid))
    os.kill(_workers_of(process.pid)[0], signal.SIGKILL)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "died" in err and "redoing segment" in err, err
    assert video_pts(out) == video_pts(film)

"""Film jobs on a real Ray cluster: a head and a second node started with ``ray start``.

The outer test re-runs this file inside a private network namespace (``unshare -n``, with
only loopback up), so Ray binds 127.0.0.1 and no traffic can leave; the inner tests run
there against a cluster they start and stop by PID.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from helpers import require

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.mark.ray_outside
def test_ray_suite_in_a_private_network_namespace():
    require(importlib.util.find_spec("ray") is not None,
            "needs ray (pip install 'streamcolor[ray]')")
    require(shutil.which("unshare") is not None and shutil.which("ip") is not None,
            "needs unshare and ip (util-linux, iproute2)")
    require(subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0,
            "needs unshare -n (root, or unprivileged user namespaces)")
    env = {**os.environ, "STREAMCOLOR_RAY_NETNS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -m pytest -q '
               '-p no:cacheprovider -rs "$1"', sys.executable, str(pathlib.Path(__file__))]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                          cwd=HERE)
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    tail = done.stdout.strip().splitlines()[-1]
    assert tail.startswith("4 passed") and "skipped" not in tail, done.stdout[-3000:]


inside = pytest.mark.ray_inside  # run by test_ray_suite_in_a_private_network_namespace


@pytest.fixture(scope="module")
def cluster():
    sys.path.insert(0, str(HERE / "servers"))
    from ray_cluster import RayCluster

    nodes = RayCluster(port=6390, workers=2)  # a head without CPUs, two nodes that run tasks
    try:
        yield nodes.start()
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    from streamcolor.testing import AudioTrack, ClipSpec, make_clip

    folder = tmp_path_factory.mktemp("films")
    a = make_clip(folder / "a.mkv", ClipSpec(width=160, height=120, frames=200,
                                             audio=(AudioTrack(),), subtitles=((1, 2, "x"),)))
    b = make_clip(folder / "b.mkv", ClipSpec(frames=100, audio=(AudioTrack(),)))
    return a, b


@pytest.fixture(scope="module")
def long_film(tmp_path_factory):
    """20 one-second segments, so that a job lasts well past a node's worker start (seconds
    on a loaded machine): Ray hands a leased worker its owner's next task, so a node whose
    worker came up first could finish a short job alone."""
    from streamcolor.testing import AudioTrack, ClipSpec, make_clip

    return make_clip(tmp_path_factory.mktemp("long") / "long.mkv",
                     ClipSpec(width=160, height=120, frames=500, audio=(AudioTrack(),)))


def _colorize(inputs, out, model_path, cluster, *extra, wait=True):
    command = [sys.executable, "-m", "streamcolor", "colorize", *map(str, inputs), "-o",
               str(out), "--model", str(model_path), "--ray", cluster.address,
               "--segment-seconds", "1", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=cluster.env)
    if wait:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        return err
    return process


@inside
def test_segments_of_several_films_spread_over_both_nodes(cluster, films, long_film, tmp_path,
                                                          model_path):
    from helpers import packets, video_pts

    outdir = tmp_path / "out"
    outdir.mkdir()
    metrics = tmp_path / "metrics.json"
    films = (*films, long_film)  # long enough that both nodes start a worker (see long_film)
    err = _colorize(films, outdir, model_path, cluster, "--metrics-json", str(metrics))
    assert "32 segments on 2 nodes" in err, err
    record = json.loads(metrics.read_text().splitlines()[-1])
    assert len(record["nodes"]) == 2 and record["frames"] == 800
    assert all(n["segments"] >= 1 and n["fps"] > 0 for n in record["nodes"].values()), record
    for film in films:
        out = outdir / film.name
        assert video_pts(out) == video_pts(film)
        assert packets(out, 1) == packets(film, 1)
        assert not (outdir / f".{film.name}.streamcolor").exists()


@inside
def test_a_short_segment_is_counted_as_damage(cluster, films, tmp_path, model_path):
    """A segment that decodes fewer frames than planned (a decoder drops frames whose
    references are damaged) comes back from its node with the frames it has, the shortfall
    counted as damage, instead of failing the film (its join uses the real counts)."""
    script = (
        "import pathlib, sys, dataclasses\n"
        "from streamcolor.jobs.plan import scan, plan_segments\n"
        "from streamcolor.config import ModelConfig\n"
        "from streamcolor.jobs.segment import SegmentTask\n"
        "from streamcolor.jobs.ray_backend import RayScheduler\n"
        "seg = plan_segments(scan(sys.argv[1], 0), 1.0)[1]\n"
        "task = SegmentTask(input=sys.argv[1], model=ModelConfig(model=sys.argv[2]),\n"
        "                   segment=dataclasses.replace(seg, count=seg.count + 1))\n"
        "RayScheduler(sys.argv[3]).run([(task, pathlib.Path(sys.argv[4]))],\n"
        "    lambda t, r: print('result', r.frames, r.damaged, t.segment.count))\n")
    done = subprocess.run([sys.executable, "-c", script, str(films[1]), str(model_path),
                           cluster.address, str(tmp_path / "s.packets")],
                          capture_output=True, text=True, env=cluster.env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "result 25 1 26" in done.stdout, done.stdout[-3000:]
    assert (tmp_path / "s.packets").stat().st_size > 0


def _wait_done(process, manifest: pathlib.Path, count: int) -> None:
    from streamcolor.jobs.manifest import Manifest

    deadline = time.monotonic() + 300
    while not ((m := Manifest.load(manifest)) and len(m.done) >= count):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)


@inside
def test_killed_driver_resumes_on_the_cluster(cluster, films, tmp_path, model_path):
    from helpers import video_pts

    out = tmp_path / "a.mkv"
    process = _colorize([films[0]], out, model_path, cluster, "--preset", "veryslow",
                        wait=False)
    _wait_done(process, tmp_path / ".a.mkv.streamcolor" / "manifest.json", 2)
    process.kill()
    process.communicate()
    err = _colorize([films[0]], out, model_path, cluster, "--preset", "veryslow")
    assert "resuming: " in err and " of 8 segments done" in err, err
    assert video_pts(out) == video_pts(films[0])


def _segment_held_by(cluster, index: int) -> int | None:
    """The segment (0-based) that a task on node ``index`` is colorizing now, as the scratch
    file one of that node's processes has open tells; None if it holds none."""
    from ray_cluster import _session_members

    for pid in _session_members(cluster.nodes[index].pid):
        try:
            if not pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                    b"ray::run_remote"):
                continue
            links = [os.readlink(fd) for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if found := re.search(r"/streamcolor-segment-[^/]*/\.?segment-(\d{5})\.", link):
                return int(found.group(1))
    return None


def _freeze(cluster, index: int, signum: int, members: list[int] | None = None) -> list[int]:
    """Send ``signum`` (SIGSTOP, SIGCONT) to every process of node ``index``."""
    from ray_cluster import _session_members

    members = members or [cluster.nodes[index].pid, *_session_members(cluster.nodes[index].pid)]
    for pid in members:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    return members


def _held_segment(cluster) -> tuple[int, int] | None:
    """(node, segment) of a worker node seen colorizing a segment, frozen (SIGSTOP) so that it
    stays so; None if no node is. Nodes are looked at without stopping them first: stopped
    often, a node could never start its worker."""
    for node in range(1, len(cluster.nodes)):
        if _segment_held_by(cluster, node) is None:
            continue
        members = _freeze(cluster, node, signal.SIGSTOP)
        held = _segment_held_by(cluster, node)
        if held is not None:
            return node, held
        _freeze(cluster, node, signal.SIGCONT, members)
    return None


@inside
def test_a_killed_node_has_its_segments_rescheduled(cluster, long_film, tmp_path, model_path):
    """Whichever node is first seen colorizing a segment is killed (the head runs no tasks,
    so the cluster lives on); its segment must be redone on the other node."""
    from helpers import video_pts

    out = tmp_path / "long.mkv"
    process = _colorize([long_film], out, model_path, cluster, "--preset", "veryslow",
                        wait=False)
    deadline = time.monotonic() + 300
    while (found := _held_segment(cluster)) is None:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    node, held = found
    cluster.kill(node)  # while it colorizes segment `held`
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "20 segments on" in err, err  # every segment, on the nodes that finished any
    assert f"segment {held + 1} was lost with its node and redone" in err, (held, err)
    assert video_pts(out) == video_pts(long_film)
    assert not (tmp_path / ".long.mkv.streamcolor").exists()

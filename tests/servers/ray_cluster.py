"""A real Ray cluster on loopback for the film-job tests: a head and worker nodes, each started
with ``ray start --block`` in its own session and stopped by killing that session's group
(by PID, never by name). Meant to run inside a private network namespace (``unshare -n``),
where Ray binds 127.0.0.1 and nothing can reach another address.

The head offers no CPUs, so tasks run on the worker nodes only (one CPU each). That keeps
the nodes alike: Ray starts workers on the driver's own node as the driver connects, so a
head that ran tasks would have a warm worker while the others start theirs cold, and on a
fast machine could finish a short job alone. It also lets a test kill any node that runs
tasks without losing the cluster."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from helpers import proc_members

ROOT = pathlib.Path(__file__).resolve().parents[2]
RAY = pathlib.Path(sys.executable).parent / "ray"
_COMMON = ["--num-gpus", "0", "--node-ip-address", "127.0.0.1",
           "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats", "--block"]


def _session_members(sid: int) -> list[int]:
    """PIDs whose session is ``sid`` (the node's processes, even in other process groups)."""
    return proc_members(3, sid)


class RayCluster:
    """``RayCluster(port, workers=2)``: start, ``address``, ``kill(i)``, ``stop()``; node 0 is
    the head, nodes 1 to ``workers`` run the tasks."""

    def __init__(self, port: int, workers: int = 2) -> None:
        self.port, self.count = port, workers + 1
        self.address = f"127.0.0.1:{port}"
        self.temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")  # short: socket paths
        self.logs = pathlib.Path(self.temp) / "node-logs"
        self.logs.mkdir()
        self.nodes: list[subprocess.Popen] = []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}

    def _start(self, args: list[str], name: str, cpus: int) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.nodes.append(subprocess.Popen([str(RAY), "start", *args, "--num-cpus", str(cpus),
                                            *_COMMON], env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def start(self, timeout: float = 120) -> RayCluster:
        """Start the head, then the worker nodes one at a time (two raylets starting at once on
        one host have aborted); return once all are alive."""
        self._start(["--head", "--port", str(self.port), "--include-dashboard", "false",
                     "--temp-dir", self.temp], "head", cpus=0)
        self.wait_nodes(1, timeout)
        for i in range(1, self.count):
            self._start(["--address", self.address], f"node{i}", cpus=1)
            self.wait_nodes(i + 1, timeout)
        return self

    def wait_nodes(self, count: int, timeout: float) -> None:
        """Wait until ``count`` nodes are alive (a driver that polls ``ray.nodes()``)."""
        script = ("import ray,sys,time\nray.init(address=sys.argv[1],logging_level='ERROR')\n"
                  "end=time.time()+float(sys.argv[3])\n"
                  "while sum(n['Alive'] for n in ray.nodes())<int(sys.argv[2]):\n"
                  "    assert time.time()<end,'nodes did not come up'\n    time.sleep(0.5)\n")
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run([sys.executable, "-c", script, self.address, str(count),
                                   str(timeout)], env=self.env, capture_output=True, text=True)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline or any(n.poll() is not None for n in self.nodes):
                raise RuntimeError(f"Ray did not start: {done.stderr[-2000:]}\n{self.log()}")
            time.sleep(1)

    def kill(self, index: int) -> None:
        """Kill node ``index`` and every process of its session (SIGKILL, by process group)."""
        node = self.nodes[index]
        for pid in [node.pid, *_session_members(node.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.wait()

    def log(self) -> str:
        """The end of each node's ``ray start`` output and of each raylet's own log."""
        raylets = sorted(pathlib.Path(self.temp).glob("session_latest/logs/raylet*"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                         for p in [*sorted(self.logs.iterdir()), *raylets])

    def stop(self) -> None:
        """Stop every node started here, then remove the temporary folder."""
        for index in reversed(range(len(self.nodes))):
            self.kill(index)
        shutil.rmtree(self.temp, ignore_errors=True)

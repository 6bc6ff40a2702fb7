"""benchmarks/gpu_check.py degrades cleanly: on a machine without PyAV (as the lent GPU machine
is) it reports what is missing, writes its JSON and markdown, and does not crash."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from streamcolor.runtime import libraries

ROOT = pathlib.Path(__file__).resolve().parent.parent
HIDE_PYAV = """
import runpy, sys
sys.modules["av"] = None  # as on the lent GPU machine: no PyAV
sys.argv = ["gpu_check.py", *sys.argv[1:]]
runpy.run_path({script!r}, run_name="__main__")
"""


def test_gpu_check_without_pyav_reports_what_is_missing(tmp_path):
    if libraries.probe("libcuda.so.1").loaded:
        pytest.skip("an NVIDIA driver loads here: the check would really run (make gpu-check)")
    script = HIDE_PYAV.format(script=str(ROOT / "benchmarks" / "gpu_check.py"))
    result = subprocess.run([sys.executable, "-c", script, "--out", str(tmp_path),
                             "--budget", "200"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(ROOT),
                                                         "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = report["steps"]
    assert report["packages"]["av"] is False
    assert steps["gpu tests"]["status"] == "missing" and "av" in steps["gpu tests"]["detail"]
    assert steps["1080p end to end"]["status"] == "missing"
    assert steps["doctor"]["status"] == "ok"
    verdicts = steps["doctor"]["verdicts"]
    assert verdicts["CPU inference"]["ok"] and verdicts["GPU decode"]["fix"] == "pip install av"
    rows = steps["model-only fps"]["rows"]
    assert {(r["provider"], r["precision"]) for r in rows} >= {("cuda", "fp16"),
                                                               ("tensorrt", "fp16")}
    for row in rows:  # each cell either measured or says why not
        assert "batch32" in row or row.get("error") or row.get("skipped")
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| gpu tests | missing | needs av (not installed) |" in table

"""``streamcolor doctor``: a report of what runs here, with one fix per gap; it changes nothing."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from streamcolor.runtime import libraries
from stub_driver import stub_driver

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATHS = ["CPU inference", "CUDA inference", "TensorRT inference", "GPU decode", "GPU encode"]


def _doctor(tmp_path, *args: str, library_path: pathlib.Path | None = None):
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT), STREAMCOLOR_CACHE=str(cache))
    if library_path:
        env["LD_LIBRARY_PATH"] = str(library_path)
    result = subprocess.run([sys.executable, "-m", "streamcolor", "doctor", *args], env=env,
                            capture_output=True, text=True, timeout=120)
    assert not cache.exists() or not any(cache.rglob("*")), "doctor wrote to the cache"
    return result


def test_json_report_has_every_part_and_exits_0_when_cpu_works(tmp_path):
    result = _doctor(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    import onnxruntime

    assert report["onnxruntime"]["version"] == onnxruntime.__version__
    assert report["onnxruntime"]["providers"] == onnxruntime.get_available_providers()
    assert set(report["libraries"]) == {"cudart", "cuBLAS", "cuDNN", "TensorRT"}
    for state in report["libraries"].values():  # loads -> where from; else -> why not
        assert bool(state["from"]) if state["loads"] else state["error"]
    import av

    assert report["media"]["pyav"] == av.__version__
    verdicts = {v["path"]: v for v in report["verdicts"]}
    assert list(verdicts) == PATHS and verdicts["CPU inference"]["ok"]
    for verdict in verdicts.values():
        assert verdict["ok"] or verdict["fix"], verdict


def test_text_report_without_a_driver(tmp_path):
    result = _doctor(tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    for path in PATHS:
        assert any(line[4:].startswith(path) for line in lines), path
    if not libraries.probe("libcuda.so.1").loaded:
        assert "driver       none" in result.stdout
        cuda = next(line for line in lines if line[4:].startswith("CUDA inference"))
        assert cuda.startswith("no ") and "install the NVIDIA driver" in cuda


def test_stub_driver_names_the_missing_cuda_libraries(tmp_path):
    folder = stub_driver(tmp_path, 13000)
    result = _doctor(tmp_path, "--json", library_path=folder)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["driver"]["cuda"] == "13.0"
    assert report["driver"]["libcuda"] == str(folder / "libcuda.so.1")
    cuda = next(v for v in report["verdicts"] if v["path"] == "CUDA inference")
    if not report["libraries"]["cuBLAS"]["loads"] and libraries.onnxruntime_cuda():
        assert not cuda["ok"] and "libcublas" in cuda["detail"]
        assert cuda["fix"] == "pip install 'streamcolor[cuda]'"


def test_loader_errors_are_reported_and_stdout_stays_json(monkeypatch, capsys):
    """The CUDA libraries' real loader errors reach the report (not "not installed" alone), and
    whatever a library prints while doctor looks goes to stderr, not into --json's stdout."""
    from streamcolor.diagnostics import doctor

    error = "Failed to load /venv/nvidia/cu13/lib/libcublasLt.so.13: undefined symbol: x"

    def preload():
        print("*************** EP Error ***************")
        return (error,)

    monkeypatch.setattr(libraries, "preload", preload)
    report = doctor.collect()
    captured = capsys.readouterr()
    assert captured.out == "" and "EP Error" in captured.err
    assert report["loader_errors"] == [error]
    assert f"loader       {error}" in doctor.render(report).splitlines()
    json.dumps(report)

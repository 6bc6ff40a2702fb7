"""The package imports on a headless server and exposes what it documents."""

from __future__ import annotations

import subprocess
import sys

import pytest

import streamcolor


def test_public_names_exist_and_are_documented():
    for name in streamcolor.__all__:
        value = getattr(streamcolor, name)
        if callable(value):
            assert value.__doc__, f"{name} has no docstring"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps (Linux)")
def test_import_maps_no_gui_libraries():
    code = ("import streamcolor, streamcolor.images, cv2; "
            "print(open('/proc/self/maps').read())")
    maps = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout
    for library in ("libGL.so", "libX11.so", "libgtk", "libQt"):
        assert library not in maps, f"importing streamcolor loaded {library}"


def test_python_dash_m_runs():
    result = subprocess.run([sys.executable, "-m", "streamcolor", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("streamcolor ")


def test_installed_wheel_finds_its_model_manifests(tmp_path):
    """A wheel (not this checkout) carries the registry's manifests from models/."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "dist"), str(root)],
                           capture_output=True, text=True)
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("streamcolor-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)
    listed = subprocess.run([sys.executable, "-m", "streamcolor", "models", "list"],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin",
                                 "STREAMCOLOR_CACHE": str(tmp_path / "cache")})
    assert listed.returncode == 0, listed.stderr
    assert "eccv16" in listed.stdout and "siggraph17" in listed.stdout

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

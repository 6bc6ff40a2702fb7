"""A stub ``libcuda.so.1`` built with the C compiler, so that tests see "an NVIDIA driver"."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from streamcolor.runtime import libraries


def stub_driver(folder: pathlib.Path, cuda_version: int | None) -> pathlib.Path:
    """A libcuda.so.1 that reports ``cuda_version`` (e.g. 13000), or has no entry points."""
    if libraries.probe("libcuda.so.1").loaded:
        pytest.skip("a real NVIDIA driver loads here; the stub would only shadow it")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler (cc) to build the stub libcuda.so.1")
    source = folder / "stub.c"
    body = "" if cuda_version is None else (
        f"int cuDriverGetVersion(int *v) {{ *v = {cuda_version}; return 0; }}\n"
        "int cuInit(unsigned flags) { return 0; }\n")
    source.write_text(body or "int streamcolor_stub;\n")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(folder / "libcuda.so.1"),
                    str(source)], check=True)
    return folder

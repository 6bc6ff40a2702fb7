"""Manifests, the cache location and ``resolve_model``."""

from __future__ import annotations

import json
import pathlib

import pytest

from streamcolor.zoo import (
    ManifestError,
    ModelNotFoundError,
    cache_dir,
    get_manifest,
    load_manifests,
    resolve_model,
    variant_path,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STREAMCOLOR_MANIFESTS", raising=False)
    return tmp_path / "cache"


def test_builtin_manifests():
    manifests = load_manifests()
    assert {"eccv16", "siggraph17", "ddcolor", "deoldify"} <= set(manifests)
    eccv = manifests["eccv16"]
    assert eccv.sha256 == "9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9"
    assert eccv.url.endswith("colorization_release_v2-9b330a0b.pth")
    assert manifests["siggraph17"].sha256.startswith("df00044c")
    assert manifests["ddcolor"].contract.input_kind == "gray_rgb"
    assert manifests["deoldify"].contract.output_kind == "rgb"
    assert all(m.license != "unknown" for m in manifests.values())


def test_cache_dir_env_and_xdg(monkeypatch, tmp_path):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("STREAMCOLOR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "streamcolor"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == pathlib.Path.home() / ".cache" / "streamcolor"


def test_resolve_existing_path(tmp_path):
    model = tmp_path / "any.onnx"
    model.write_bytes(b"x")
    assert resolve_model(str(model)) == model


def test_resolve_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelNotFoundError, match="known: .*eccv16"):
        resolve_model("no-such-model")


def test_resolve_known_but_not_cached_says_what_to_run():
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("eccv16")
    assert "streamcolor models fetch eccv16" in str(info.value)
    assert "streamcolor models import eccv16 FILE" in str(info.value)


def test_resolve_cached_name_and_variants():
    for variant in ("fp32", "int8"):
        path = variant_path("siggraph17", variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert resolve_model("siggraph17") == variant_path("siggraph17")
    assert resolve_model("siggraph17:int8") == variant_path("siggraph17", "int8")
    assert resolve_model("siggraph17-int8") == variant_path("siggraph17", "int8")
    with pytest.raises(ModelNotFoundError, match="no fp16 variant"):
        resolve_model("siggraph17:fp16")


def test_bad_manifest_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps({"name": "x", "family": "eccv16",
                                               "input": "XYZ"}))
    monkeypatch.setenv("STREAMCOLOR_MANIFESTS", str(folder))
    with pytest.raises(ManifestError, match="x.json.*input kind"):
        get_manifest("x")
    (folder / "x.json").write_text(json.dumps({"name": "x", "family": "eccv16", "colour": 1}))
    with pytest.raises(ManifestError, match="unknown field"):
        get_manifest("x")


def test_package_imports_without_onnx_or_torch():
    import subprocess
    import sys

    code = ("import sys; sys.modules['onnx'] = None; sys.modules['torch'] = None; "
            "import streamcolor.zoo, streamcolor.cli.models; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.stdout.strip() == "ok", result.stderr

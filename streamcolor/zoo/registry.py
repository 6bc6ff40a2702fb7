"""Model manifests and the cache that holds converted models.

Manifests are JSON files: the built-in ones in the repository's top-level ``models/``
folder (overridable with ``STREAMCOLOR_MANIFESTS``), and one per user-imported model
beside its files in the cache. The cache is ``$STREAMCOLOR_CACHE``, else
``$XDG_CACHE_HOME/streamcolor``, else ``~/.cache/streamcolor``; each model has a folder
``models/<name>/`` holding its ONNX files, its downloaded checkpoint and ``info.json``
(checksums of the files and the measured figures of each variant).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from typing import Any

from ..contract import ModelContract
from .errors import ManifestError, ModelNotFoundError

__all__ = ["Manifest", "FAMILIES", "VARIANTS", "cache_dir", "manifests_dir", "model_dir",
           "variant_path", "load_manifests", "get_manifest", "save_user_manifest",
           "read_info", "write_info"]

VARIANTS = ("fp32", "fp16", "int8")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

# family -> (input kind, output kind, native input size)
FAMILIES: dict[str, tuple[str, str, int]] = {
    "eccv16": ("L", "ab", 256),
    "siggraph17": ("L", "ab", 256),
    "ddcolor": ("gray_rgb", "ab", 512),
    "deoldify": ("gray_rgb", "rgb", 256),
    "generic": ("L", "ab", 256),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Manifest:
    """What the zoo knows about one model (see ``models/*.json``)."""

    name: str
    family: str
    title: str = ""
    input: str = "L"
    output: str = "ab"
    input_size: int = 256
    parameters: int | None = None
    gflops: float | None = None
    license: str = "unknown"
    homepage: str | None = None
    url: str | None = None
    filename: str | None = None
    sha256: str | None = None
    format: str = "onnx"
    notes: str = ""
    builtin: bool = True

    @property
    def contract(self) -> ModelContract:
        """The model contract its ONNX files carry."""
        return ModelContract(input_kind=self.input, output_kind=self.output,
                             input_size=self.input_size, name=self.name, family=self.family)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, builtin: bool, source: str) -> Manifest:
        """Validate a decoded manifest; :class:`ManifestError` names the file and the field."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"builtin"}
        unknown = set(data) - fields
        if unknown:
            raise ManifestError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            manifest = cls(**data, builtin=builtin)
            _ = manifest.contract  # validates input/output kinds and the size
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{source}: {exc}") from None
        if not _NAME.match(manifest.name):
            raise ManifestError(f"{source}: name {manifest.name!r} must be lowercase letters, "
                                "digits, '_', '-' or '.'")
        if manifest.family not in FAMILIES:
            raise ManifestError(f"{source}: family {manifest.family!r} is not one of "
                                f"{', '.join(FAMILIES)}")
        return manifest

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        data = dataclasses.asdict(self)
        del data["builtin"]
        return data


def cache_dir() -> pathlib.Path:
    """Where fetched and converted models live (``STREAMCOLOR_CACHE`` overrides)."""
    if os.environ.get("STREAMCOLOR_CACHE"):
        return pathlib.Path(os.environ["STREAMCOLOR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "streamcolor"


def manifests_dir() -> pathlib.Path:
    """The folder of built-in manifests (``STREAMCOLOR_MANIFESTS`` overrides)."""
    if os.environ.get("STREAMCOLOR_MANIFESTS"):
        return pathlib.Path(os.environ["STREAMCOLOR_MANIFESTS"])
    checkout = pathlib.Path(__file__).resolve().parents[2] / "models"
    if checkout.is_dir():  # a source checkout or an editable install
        return checkout
    return pathlib.Path(__file__).resolve().parents[1] / "_manifests"  # an installed wheel


def model_dir(name: str) -> pathlib.Path:
    """The cache folder of one model."""
    return cache_dir() / "models" / name


BUNDLED_DIR = pathlib.Path(__file__).resolve().parents[1] / "weights"


def bundled_path(name: str) -> pathlib.Path | None:
    """The ONNX file shipped inside the package for a model with no download, if any."""
    manifest = load_manifests().get(name)
    if manifest is None or manifest.url or not manifest.filename:
        return None
    path = BUNDLED_DIR / manifest.filename
    return path if path.is_file() else None


def variant_path(name: str, variant: str = "fp32") -> pathlib.Path:
    """The ONNX file of a model's variant: the bundled file for a model that ships with the
    package, else its place in the cache (it may not exist yet)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    if variant == "fp32" and (bundled := bundled_path(name)) is not None:
        return bundled
    suffix = "" if variant == "fp32" else f"-{variant}"
    return model_dir(name) / f"{name}{suffix}.onnx"


def _read_manifest(path: pathlib.Path, builtin: bool) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest must be a JSON object")
    return Manifest.from_dict(data, builtin=builtin, source=str(path))


def load_manifests() -> dict[str, Manifest]:
    """Every known model: built-in manifests, then user-imported ones from the cache."""
    found: dict[str, Manifest] = {}
    folder = manifests_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        manifest = _read_manifest(path, builtin=True)
        found[manifest.name] = manifest
    user_root = cache_dir() / "models"
    for path in sorted(user_root.glob("*/manifest.json")) if user_root.is_dir() else []:
        manifest = _read_manifest(path, builtin=False)
        found.setdefault(manifest.name, manifest)
    return found


def get_manifest(name: str) -> Manifest:
    """The manifest of ``name``; :class:`ModelNotFoundError` lists the known names."""
    manifests = load_manifests()
    if name not in manifests:
        known = ", ".join(sorted(manifests)) or "none"
        raise ModelNotFoundError(f"no model named {name!r} (known: {known}); "
                                 "see `streamcolor models list`, or pass a path to a .onnx file")
    return manifests[name]


def save_user_manifest(manifest: Manifest) -> pathlib.Path:
    """Write the manifest of an imported model into its cache folder."""
    path = model_dir(manifest.name) / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def read_info(name: str) -> dict[str, Any]:
    """The cached ``info.json`` of a model (``{}`` when there is none)."""
    path = model_dir(name) / "info.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}; delete it and fetch or import "
                            "the model again") from None


def write_info(name: str, info: dict[str, Any]) -> None:
    """Replace a model's ``info.json`` atomically."""
    path = model_dir(name) / "info.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)

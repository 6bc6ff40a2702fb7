"""``streamcolor models verify``: re-check cached files against their recorded sha256,
and that each ONNX file loads in onnxruntime and obeys the contract in its metadata."""

from __future__ import annotations

import dataclasses
import pathlib

from ..contract import ModelContract
from .errors import ContractError, ZooError
from .fetch import sha256_of
from .registry import VARIANTS, get_manifest, load_manifests, model_dir, read_info, variant_path
from .validate import cpu_session, smoke_test

__all__ = ["VerifyResult", "verify_models", "file_contract"]


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """The verdict on one cached file."""

    name: str
    what: str
    path: pathlib.Path | None
    ok: bool
    message: str


def file_contract(path: str | pathlib.Path) -> ModelContract:
    """The contract stored in an ONNX file's metadata (defaults where keys are missing)."""
    meta = cpu_session(path).get_modelmeta().custom_metadata_map
    try:
        return ModelContract.from_metadata(dict(meta))
    except ValueError as exc:
        raise ContractError(f"{path}: invalid contract metadata: {exc}") from None


def _check_file(name: str, variant: str, path: pathlib.Path, expected: str | None) -> VerifyResult:
    if expected and sha256_of(path) != expected:
        return VerifyResult(name, variant, path, False, "sha256 differs from the one recorded "
                            f"at install: the file changed; fetch or import {name} again")
    try:
        shape = smoke_test(path, file_contract(path))
    except ZooError as exc:
        return VerifyResult(name, variant, path, False, str(exc))
    return VerifyResult(name, variant, path, True, f"loads, output {shape}")


def _check_source(name: str) -> VerifyResult | None:
    manifest = get_manifest(name)
    source = model_dir(name) / (manifest.filename or "")
    if not (manifest.sha256 and manifest.filename and source.is_file()):
        return None
    if sha256_of(source) != manifest.sha256:
        return VerifyResult(name, "download", source, False, "sha256 differs from the manifest:"
                            f" delete it and run `streamcolor models fetch {name}`")
    return VerifyResult(name, "download", source, True, "sha256 matches the manifest")


def verify_models(name: str | None = None) -> list[VerifyResult]:
    """Check one model (or every model in the cache); one result per file checked."""
    names = [name] if name else sorted(n for n in load_manifests()
                                       if variant_path(n).is_file())
    results: list[VerifyResult] = []
    for model in names:
        get_manifest(model)  # unknown names raise ModelNotFoundError
        if not variant_path(model).is_file():
            results.append(VerifyResult(model, "fp32", None, False, "not in the cache: run "
                                        f"`streamcolor models fetch {model}` or `import`"))
            continue
        info = read_info(model)
        source = _check_source(model)
        if source:
            results.append(source)
        for variant in VARIANTS:
            path = variant_path(model, variant)
            if path.is_file():
                expected = info.get("files", {}).get(variant)
                results.append(_check_file(model, variant, path, expected))
    return results

"""What ``streamcolor models`` does: fetch, convert, import, verify and resolve models.

Library code: nothing here prints; progress is reported through callbacks.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

from .errors import ChecksumError, ContractError, DownloadError, ModelNotFoundError, ZooError
from .fetch import Progress, download, sha256_of
from .registry import (
    FAMILIES,
    VARIANTS,
    Manifest,
    bundled_path,
    get_manifest,
    load_manifests,
    model_dir,
    read_info,
    save_user_manifest,
    variant_path,
    write_info,
)

__all__ = ["resolve_model", "fetch_model", "convert_checkpoint", "import_model",
           "build_variants"]

Notify = Callable[[str], None]
_CONVERTIBLE = ("eccv16", "siggraph17")


def _hint(name: str) -> str:
    return (f"run `streamcolor models fetch {name}` (needs the internet) or "
            f"`streamcolor models import {name} FILE` with a file you already have")


def _split_variant(spec: str) -> tuple[str, str]:
    for sep in (":", "-"):
        base, _, variant = spec.rpartition(sep)
        if base and variant in VARIANTS:
            return base, variant
    return spec, "fp32"


def resolve_model(spec: str | pathlib.Path) -> pathlib.Path:
    """The ONNX file for ``--model``: a path to an existing ``.onnx`` file, or a registry
    name (``eccv16``; ``eccv16:int8`` or ``eccv16-fp16`` for a variant) already in the
    cache. Raises :class:`ModelNotFoundError` saying how to get the model otherwise."""
    path = pathlib.Path(spec).expanduser()
    if path.is_file():
        return path
    text = str(spec)
    if text.endswith(".onnx") or "/" in text or "\\" in text:
        raise ModelNotFoundError(f"model file {text} does not exist; pass an existing .onnx "
                                 "file or a name from `streamcolor models list`")
    manifests = load_manifests()
    name, variant = (text, "fp32") if text in manifests else _split_variant(text)
    if name not in manifests:
        get_manifest(name)  # raises with the list of known names
    candidate = variant_path(name, variant)
    if candidate.is_file():
        return candidate
    if variant != "fp32" and variant_path(name).is_file():
        raise ModelNotFoundError(f"model {name} has no {variant} variant in the cache; run "
                                 f"`streamcolor models fetch {name}` again to build it")
    raise ModelNotFoundError(f"model {name} is not in the cache ({model_dir(name)}); "
                             + _hint(name))


def fetch_model(name: str, *, progress: Progress | None = None, variants: bool = True,
                notify: Notify | None = None, timeout: float = 30.0) -> pathlib.Path:
    """Download ``name`` from its canonical URL (resuming, checksum-verified), convert it
    to ONNX and build its variants. Returns the fp32 ONNX path."""
    manifest = get_manifest(name)
    if not manifest.url and bundled_path(name) is not None:
        return bundled_path(name)  # ships with streamcolor: nothing to download
    if not manifest.url:
        raise ModelNotFoundError(f"{name} has no canonical download; import the ONNX file "
                                 f"you have: `streamcolor models import {name} FILE`")
    dest = model_dir(name) / (manifest.filename or manifest.url.rsplit("/", 1)[-1])
    if not (dest.is_file() and manifest.sha256 and sha256_of(dest) == manifest.sha256):
        try:
            download(manifest.url, dest, manifest.sha256, timeout=timeout, progress=progress)
        except DownloadError as exc:
            raise DownloadError(f"{exc}. Offline? Download {manifest.url} elsewhere, then "
                                f"`streamcolor models import {name} FILE`") from None
    return _install(manifest, dest, variants=variants, notify=notify)


def _install(manifest: Manifest, source: pathlib.Path, *, variants: bool,
             notify: Notify | None) -> pathlib.Path:
    if manifest.format == "pytorch":
        return convert_checkpoint(manifest, source, variants=variants, notify=notify)
    return _install_onnx(manifest, source, notify)[0]


def convert_checkpoint(manifest: Manifest, checkpoint: str | pathlib.Path, *,
                       variants: bool = True, notify: Notify | None = None) -> pathlib.Path:
    """Convert a PyTorch checkpoint of ``manifest``'s family into the cache."""
    from .checkpoint import load_state_dict
    from .export import export_onnx

    if manifest.family not in _CONVERTIBLE:
        raise ZooError(f"family {manifest.family} has no converter; import an ONNX file")
    notify = notify or (lambda _message: None)
    notify(f"reading {checkpoint}")
    state = load_state_dict(checkpoint)
    target = variant_path(manifest.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    notify(f"converting to {target}")
    export_onnx(manifest.family, state, target, name=manifest.name,
                input_size=manifest.input_size)
    info = {"source": {"file": str(checkpoint), "sha256": sha256_of(checkpoint)},
            "files": {"fp32": sha256_of(target)}, "variants": {}}
    write_info(manifest.name, info)
    if variants:
        build_variants(manifest.name, state=state, notify=notify)
    return target


def build_variants(name: str, *, state: dict | None = None, calibration_count: int = 16,
                   eval_count: int = 4, notify: Notify | None = None) -> dict[str, Any]:
    """Build the fp16 and int8 variants of a converted model and record their figures."""
    from . import samples
    from .export import export_onnx
    from .variants import build_fp16, build_int8, measure

    manifest, notify = get_manifest(name), notify or (lambda _message: None)
    fp32, contract = variant_path(name), manifest.contract
    info = read_info(name)
    if state is not None and manifest.family in _CONVERTIBLE:
        notify("building fp16")
        export_onnx(manifest.family, state, variant_path(name, "fp16"), dtype="float16",
                    name=name, input_size=manifest.input_size)
    elif state is None and manifest.format == "onnx":  # an imported ONNX file
        notify("building fp16")
        try:
            build_fp16(fp32, variant_path(name, "fp16"))
        except Exception as error:  # the fp32 file still works; say why there is no fp16
            info.setdefault("notes", []).append(f"fp16 not built: {error}")
    calibration = samples.list_images(samples.calibration_dir(), calibration_count)
    if calibration:
        notify(f"building int8 (calibrating on {len(calibration)} pictures)")
        build_int8(fp32, variant_path(name, "int8"), samples.model_inputs(calibration, contract))
    else:
        info.setdefault("notes", []).append(
            f"int8 not built: no pictures in {samples.calibration_dir()} "
            "(set STREAMCOLOR_CALIBRATION_DIR)")
    evaluation = samples.list_images(samples.evaluation_dir(), eval_count)
    inputs = (samples.model_inputs(evaluation, contract) if evaluation
              else samples.synthetic_inputs(eval_count, contract))
    for variant in VARIANTS:
        path = variant_path(name, variant)
        if path.is_file():
            notify(f"measuring {variant}")
            info.setdefault("files", {})[variant] = sha256_of(path)
            info.setdefault("variants", {})[variant] = measure(fp32, path, contract, inputs)
    write_info(name, info)
    return info


def import_model(name: str, file: str | pathlib.Path, *, family: str | None = None,
                 input_size: int | None = None, check_sha256: bool = True,
                 variants: bool = True, notify: Notify | None = None) -> pathlib.Path:
    """Put a file the user already has into the cache under ``name``.

    A known name takes its family from its manifest (and, for a checkpoint, its sha256
    is checked unless ``check_sha256`` is false); a new name needs ``family``. ONNX files
    are validated against the family's contract and stored with the contract metadata.
    """
    file = pathlib.Path(file).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist")
    manifest = _manifest_for_import(name, family, input_size)
    is_onnx = file.suffix.lower() == ".onnx"
    if not is_onnx:
        if manifest.family not in _CONVERTIBLE:
            raise ContractError(f"{file} is not an .onnx file; family {manifest.family} "
                                "models are imported as ONNX")
        if check_sha256 and manifest.sha256 and sha256_of(file) != manifest.sha256:
            raise ChecksumError(f"{file} is not the official {name} checkpoint (sha256 "
                                "differs); import it under another name with --family, or "
                                "pass --no-checksum if it is a compatible fine-tune")
        manifest = dataclasses.replace(manifest, format="pytorch")
        if not manifest.builtin:
            save_user_manifest(manifest)
        return convert_checkpoint(manifest, file, variants=variants, notify=notify)
    target, manifest = _install_onnx(dataclasses.replace(manifest, format="onnx"), file,
                                     notify, keep_declared_size=input_size is None)
    if not manifest.builtin:
        save_user_manifest(manifest)
    if variants:  # fp16 (for GPUs) and int8 (for CPUs), each with its measured error
        try:
            build_variants(manifest.name, notify=notify)
        except Exception as error:  # the fp32 import stands; variants are an extra
            (notify or (lambda _message: None))(f"variants not built: {error}")
    return target


def _manifest_for_import(name: str, family: str | None, input_size: int | None) -> Manifest:
    known = load_manifests().get(name)
    if known is not None and (family is None or family == known.family):
        return dataclasses.replace(known, input_size=input_size or known.input_size)
    if family is None:
        raise ModelNotFoundError(f"{name!r} is not a known model: give its family with "
                                 f"--family ({', '.join(FAMILIES)})")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    if known is not None and known.builtin:
        raise ValueError(f"{name} is a built-in {known.family} model; import the "
                         f"{family} file under another name")
    kind_in, kind_out, size = FAMILIES[family]
    return Manifest.from_dict({"name": name, "family": family, "input": kind_in,
                               "output": kind_out, "input_size": input_size or size,
                               "title": f"user-imported {family} model"},
                              builtin=False, source=f"import of {name}")


def _declared_size(model) -> int | None:
    """The input size an ONNX file's own contract metadata gives, if any."""
    from ..contract import ModelContract

    try:
        props = {p.key: p.value for p in model.metadata_props}
        return ModelContract.from_metadata(props).input_size
    except ValueError:
        return None


def _install_onnx(manifest: Manifest, source: pathlib.Path, notify: Notify | None = None,
                  *, keep_declared_size: bool = True) -> tuple[pathlib.Path, Manifest]:
    """Validate an ONNX file against the family and store it with contract metadata.

    With dynamic spatial axes the size the file declares (``streamcolor.input_size``) is kept
    unless the user gave one (``keep_declared_size`` False)."""
    from onnx import helper

    from ..contract import METADATA_PREFIX as METADATA_KEYS_PREFIX
    from .validate import check_dims, infer_contract, io_dims, load_onnx, smoke_test

    model = load_onnx(source)
    in_dims, out_dims = io_dims(model)
    if manifest.family == "generic":
        kind_in, kind_out = infer_contract(in_dims, out_dims)
        manifest = dataclasses.replace(manifest, input=kind_in, output=kind_out)
    if len(in_dims) == 4 and in_dims[2] and in_dims[3]:
        if in_dims[2] != in_dims[3]:
            raise ContractError(f"{source} takes {in_dims[2]}x{in_dims[3]} pictures; only "
                                "square inputs are supported, re-export it square")
        manifest = dataclasses.replace(manifest, input_size=in_dims[2])
    elif keep_declared_size and (declared := _declared_size(model)):
        manifest = dataclasses.replace(manifest, input_size=declared)
    check_dims(manifest.contract, in_dims, out_dims, str(source))
    props = {p.key: p.value for p in model.metadata_props
             if not p.key.startswith(METADATA_KEYS_PREFIX)}
    props.update(manifest.contract.to_metadata())
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    target = variant_path(manifest.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(model.SerializeToString())
    try:
        smoke_test(tmp, manifest.contract)
    except ContractError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    notes = []
    if in_dims and in_dims[0]:
        notes.append(f"the batch axis is fixed to {in_dims[0]}: run it with that batch size")
        (notify or (lambda _m: None))(f"warning: {notes[-1]}")
    write_info(manifest.name, {"source": {"file": str(source), "sha256": sha256_of(source)},
                               "files": {"fp32": sha256_of(target)}, "variants": {},
                               "notes": notes})
    return target, manifest

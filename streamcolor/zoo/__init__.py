"""The model zoo: registry, download, conversion, import and verification of models.

``resolve_model(spec)`` turns a ``--model`` argument (a path to a ``.onnx`` file or a
registry name such as ``eccv16`` or ``eccv16:int8``) into an ONNX path. The
``streamcolor models`` command lives in :mod:`streamcolor.cli.models`. Importing this
package needs neither PyTorch nor ``onnx``; converting and importing models needs
``onnx``; nothing here ever needs PyTorch.
"""

from __future__ import annotations

from .errors import (
                     CheckpointError,
                     ChecksumError,
                     ContractError,
                     DownloadError,
                     ManifestError,
                     ModelNotFoundError,
                     ZooError,
)
from .manage import build_variants, convert_checkpoint, fetch_model, import_model, resolve_model
from .registry import (
                     FAMILIES,
                     VARIANTS,
                     Manifest,
                     cache_dir,
                     get_manifest,
                     load_manifests,
                     model_dir,
                     variant_path,
)
from .verify import VerifyResult, verify_models

__all__ = [
    "resolve_model", "cache_dir", "model_dir", "variant_path",
    "Manifest", "load_manifests", "get_manifest", "FAMILIES", "VARIANTS",
    "fetch_model", "import_model", "convert_checkpoint", "build_variants",
    "verify_models", "VerifyResult",
    "ZooError", "ModelNotFoundError", "DownloadError", "ChecksumError", "CheckpointError",
    "ContractError", "ManifestError",
]

"""Errors raised by the model zoo.

Every error says what went wrong and what to do about it. They join the package's tree
(:mod:`streamcolor.errors`) under :class:`~streamcolor.errors.StreamcolorError`::

    ZooError(StreamcolorError)
     +-- ModelNotFoundError(ZooError, ModelError, LookupError)
     |                                               unknown name, or known but not in the cache
     +-- DownloadError(ZooError, OSError)            the network or the server failed a fetch
     +-- ChecksumError(ZooError, ValueError)         a file's sha256 is not the manifest's
     +-- CheckpointError(ZooError, ValueError)       a weights file cannot be read safely
     +-- ContractError(ZooError, ModelError)         an ONNX file is corrupt or breaks its contract
     +-- ManifestError(ZooError, ValueError)         a manifest file is malformed
"""

from __future__ import annotations

from ..errors import ModelError, StreamcolorError

__all__ = [
    "ZooError",
    "ModelNotFoundError",
    "DownloadError",
    "ChecksumError",
    "CheckpointError",
    "ContractError",
    "ManifestError",
]


class ZooError(StreamcolorError):
    """Base class of every model-zoo error."""


class ModelNotFoundError(ZooError, ModelError, LookupError):
    """A model name is unknown, or known but not fetched or imported yet."""


class DownloadError(ZooError, OSError):
    """Downloading a model failed (no network, HTTP error, interrupted transfer)."""


class ChecksumError(ZooError, ValueError):
    """A file's sha256 does not match the one its manifest expects."""


class CheckpointError(ZooError, ValueError):
    """A PyTorch checkpoint cannot be read without executing code, or lacks needed weights."""


class ContractError(ZooError, ModelError):
    """An ONNX file is unreadable, or its inputs/outputs do not obey the model contract."""


class ManifestError(ZooError, ValueError):
    """A manifest in models/ is malformed."""

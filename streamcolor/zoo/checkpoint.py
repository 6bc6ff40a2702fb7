"""Read PyTorch checkpoints into numpy arrays without PyTorch and without running a pickle.

Two serializations exist and a file from 2020 may be either:

* the zip archive of PyTorch >= 1.6: ``<root>/data.pkl`` (the object graph) plus one raw
  file per storage, ``<root>/data/<key>``;
* the legacy stream: five pickles back to back (magic number, protocol version, system
  info, the object graph, the list of storage keys) followed by each storage as an int64
  element count and its raw bytes.

In both the object graph is unpickled by :class:`_SafeUnpickler`, which resolves only a
short allow-list of globals (the tensor rebuild functions, the storage types and
``collections.OrderedDict``) to harmless local stand-ins; any other global is refused
with :class:`~streamcolor.zoo.errors.CheckpointError`. Nothing from the file is executed.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import io
import pathlib
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import CheckpointError

__all__ = ["load_state_dict", "read_checkpoint"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}


class _StorageType:
    """Stand-in for a ``torch.*Storage`` class: only its element type matters."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """A storage named in the pickle, read from the file only after unpickling."""

    key: str
    dtype: np.dtype
    offset: int = 0  # in elements, for the legacy format's storage views


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """A strided view of a storage, turned into a numpy array by :func:`_resolve`."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, size, stride, *_: Any) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("a tensor in the checkpoint has no storage; the file is corrupt")
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    }
    for name in _STORAGE_DTYPES:
        allowed[("torch", name)] = _StorageType(name)
        allowed[("torch.storage", name)] = _StorageType(name)
    return allowed


_ALLOWED = _allowed_globals()


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, plain values and tensor references."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"the checkpoint refers to {module}.{name}, which is not a tensor or a "
                "dictionary; refusing to run code from it. Use a plain state_dict checkpoint"
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise CheckpointError(f"unexpected persistent id {pid!r} in the checkpoint")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unexpected storage type {storage_type!r} in the checkpoint")
        view = pid[5] if len(pid) > 5 else None
        if view:  # legacy format: (view key, offset in elements, size) of a root storage
            return _StorageRef(key, storage_type.dtype, int(view[1]))
        return _StorageRef(key, storage_type.dtype)


def _unpickle(stream: io.BytesIO) -> Any:
    try:
        return _SafeUnpickler(stream).load()
    except CheckpointError:
        raise
    except Exception as exc:  # a corrupt pickle can fail in many ways
        raise CheckpointError(f"cannot parse the checkpoint's pickle ({exc}): "
                              "the file is not a PyTorch checkpoint or is corrupt") from exc


def _resolve(obj: Any, storage: Callable[[_StorageRef], np.ndarray]) -> Any:
    """Replace every tensor reference in a nest of dicts/lists by a numpy array."""
    if isinstance(obj, _TensorRef):
        return _materialize(obj, storage(obj.storage))
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storage)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storage) for v in obj)
    return obj


def _materialize(ref: _TensorRef, flat: np.ndarray) -> np.ndarray:
    flat = flat[ref.storage.offset + ref.offset:]
    if any(n == 0 for n in ref.size):
        return np.zeros(ref.size, dtype=flat.dtype)
    last = sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= flat.size:
        raise CheckpointError(
            f"a tensor of shape {ref.size} reaches past its storage: the checkpoint is "
            "truncated or corrupt; download it again"
        )
    strides = [s * flat.itemsize for s in ref.stride]
    return np.array(np.lib.stride_tricks.as_strided(flat, shape=ref.size, strides=strides))


def _read_zip(archive: zipfile.ZipFile) -> Any:
    names = archive.namelist()
    pkl = next((n for n in names if n == "data.pkl" or n.endswith("/data.pkl")), None)
    if pkl is None:
        raise CheckpointError("the zip file has no data.pkl: it is not a PyTorch checkpoint")
    root = pkl[: -len("data.pkl")]
    order = "<"
    if root + "byteorder" in names and archive.read(root + "byteorder").strip() == b"big":
        order = ">"
    graph = _unpickle(io.BytesIO(archive.read(pkl)))

    @functools.cache
    def storage(ref: _StorageRef) -> np.ndarray:
        try:
            raw = archive.read(f"{root}data/{ref.key}")
        except KeyError:
            raise CheckpointError(f"storage {ref.key} is missing from the checkpoint") from None
        return _from_bytes(raw, ref.dtype, order)

    return _resolve(graph, storage)


def _from_bytes(raw: bytes, dtype: np.dtype, order: str) -> np.ndarray:
    usable = len(raw) - len(raw) % dtype.itemsize
    return np.frombuffer(raw[:usable], dtype=dtype.newbyteorder(order)).astype(dtype)


def _read_legacy(data: bytes) -> Any:
    stream = io.BytesIO(data)
    if _unpickle(stream) != _LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint: neither a zip archive nor a "
                              "legacy pickle stream (magic number missing)")
    if _unpickle(stream) != _LEGACY_PROTOCOL:
        raise CheckpointError("unsupported legacy PyTorch checkpoint protocol version")
    sys_info = _unpickle(stream)
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    order = "<" if little else ">"
    graph = _unpickle(stream)
    keys = _unpickle(stream)
    dtypes = _collect_dtypes(graph)
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        header = stream.read(8)
        if len(header) != 8:
            raise CheckpointError("the checkpoint is truncated; download it again")
        (numel,) = struct.unpack(order + "q", header)
        dtype = dtypes.get(str(key), np.dtype(np.uint8))
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise CheckpointError("the checkpoint is truncated; download it again")
        storages[str(key)] = _from_bytes(raw, dtype, order)

    def storage(ref: _StorageRef) -> np.ndarray:
        if ref.key not in storages:
            raise CheckpointError(f"storage {ref.key} is missing from the checkpoint")
        return storages[ref.key]

    return _resolve(graph, storage)


def _collect_dtypes(obj: Any, found: dict[str, np.dtype] | None = None) -> dict[str, np.dtype]:
    found = {} if found is None else found
    if isinstance(obj, _TensorRef):
        found[obj.storage.key] = obj.storage.dtype
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect_dtypes(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect_dtypes(value, found)
    return found


def read_checkpoint(path: str | pathlib.Path) -> Any:
    """Read a PyTorch checkpoint of either serialization; tensors become numpy arrays.

    Raises :class:`CheckpointError` when the file is not a checkpoint, is truncated, or
    refers to anything but tensors and plain containers.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _read_zip(archive)
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{path} is a damaged zip archive: {exc}") from exc
    return _read_legacy(data)


def load_state_dict(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """Read a checkpoint and return its state dict as ``{key: float32/int array}``.

    A state dict wrapped in ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped and a
    ``module.`` prefix (from ``DataParallel``) is removed.
    """
    obj = read_checkpoint(path)
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    state = {}
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            state[str(key).removeprefix("module.")] = value
    if not state:
        raise CheckpointError(f"{path} holds no tensors")
    return state

"""The job manifest: what a job is (input identity, settings) and which segments are done.

It is a small JSON file in the job folder, only ever replaced whole: written to a temporary
file, flushed to disk (fsync), renamed over the old one, and the folder fsynced, so a crash
at any instant leaves either the old manifest or the new one, never a mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile

from .plan import Segment

__all__ = ["Manifest", "input_identity", "file_sha256", "write_atomic", "FORMAT"]

FORMAT = 1
_HEAD_TAIL = 1 << 20  # bytes hashed at each end of the input


def file_sha256(path: str | os.PathLike, *, limit: int | None = None) -> str:
    """sha256 of a file (of its first ``limit`` bytes if given)."""
    digest = hashlib.sha256()
    left = limit
    with open(path, "rb") as handle:
        while left is None or left > 0:
            block = handle.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest.hexdigest()


def input_identity(path: str | os.PathLike) -> dict:
    """Size, mtime and a hash of the first and last MiB: a changed file shows in one of them."""
    stat = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(_HEAD_TAIL))
        handle.seek(max(0, stat.st_size - _HEAD_TAIL))
        digest.update(handle.read(_HEAD_TAIL))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_tail_sha256":
            digest.hexdigest()}


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        pathlib.Path(name).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@dataclasses.dataclass
class Manifest:
    """A job: its input identity, a hash of its settings, the plan and the finished segments
    (``done`` maps a segment index to its file name, frame count, pts range and sha256)."""

    input: str
    identity: dict
    settings: str
    segments: list[Segment]
    done: dict[int, dict] = dataclasses.field(default_factory=dict)
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        data = {"format": self.format, "input": self.input, "identity": self.identity,
                "settings": self.settings, "segments": [s.to_json() for s in self.segments],
                "done": {str(k): v for k, v in sorted(self.done.items())}}
        return json.dumps(data, indent=1).encode()

    @classmethod
    def load(cls, path: pathlib.Path) -> Manifest | None:
        """The manifest at ``path``, or None if it is missing or not one we can read."""
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != FORMAT:
                return None
            return cls(input=data["input"], identity=data["identity"],
                       settings=data["settings"],
                       segments=[Segment.from_json(s) for s in data["segments"]],
                       done={int(k): v for k, v in data["done"].items()})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: pathlib.Path) -> None:
        """Write atomically (see :func:`write_atomic`)."""
        write_atomic(path, self.to_bytes())

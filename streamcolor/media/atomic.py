"""Write-then-rename: outputs appear whole or not at all.

A run writes to a hidden temporary file beside its target, ``.{stem}.XXXXXXXX.partial{suffix}``,
named uniquely (so it can never be one of the inputs) and with the target's extension (so
FFmpeg and OpenCV pick the format from it), then moves it into place in one rename.
"""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import tempfile

__all__ = ["PictureDraft", "temporary_beside", "partial_files"]


def temporary_beside(target: pathlib.Path) -> pathlib.Path:
    """A new, empty, uniquely named temporary file in ``target``'s folder, with the
    permissions a plainly created file would get (mkstemp's are private: 0600)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}",
                                    dir=target.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())
    return pathlib.Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def partial_files(target: pathlib.Path) -> list[pathlib.Path]:
    """Temporary files of runs writing ``target`` that are still (or were left) in its folder."""
    pattern = f".{glob.escape(target.stem)}.*.partial{glob.escape(target.suffix)}"
    return sorted(target.parent.glob(pattern))


class PictureDraft:
    """Numbered pictures (an image sequence's ``target`` pattern) written into a hidden folder
    beside it, ``.{stem without %}.XXXXXXXX.partial{suffix}/``, and moved into place by
    :meth:`commit`: a failed run leaves none of them behind."""

    def __init__(self, target: pathlib.Path) -> None:
        self.target = target
        stem = target.stem.replace("%", "")  # FFmpeg reads a % anywhere in the path
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix=f".{stem}.",
                                                    suffix=f".partial{target.suffix}",
                                                    dir=target.parent))
        self.folder.chmod(0o777 & ~_umask())
        self.path = self.folder / target.name  # the pattern the muxer writes

    def commit(self) -> None:
        """Move every picture into the target's folder (replacing ones of the same name)."""
        for picture in sorted(self.folder.iterdir()):
            os.replace(picture, self.target.parent / picture.name)
        self.folder.rmdir()

    def abort(self) -> None:
        """Delete the folder and what is in it."""
        shutil.rmtree(self.folder, ignore_errors=True)

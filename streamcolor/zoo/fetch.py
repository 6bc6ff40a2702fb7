"""Download a file over HTTP(S) with resume and a sha256 check.

The bytes go to ``<dest>.part``; an existing ``.part`` is resumed with a ``Range``
request (a server that ignores it sends the whole file, which then replaces the part).
Only a file whose sha256 matches is renamed to ``dest``; on a mismatch the part is
deleted so that the next attempt starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import pathlib
import urllib.error
import urllib.request
from collections.abc import Callable

from .errors import ChecksumError, DownloadError

__all__ = ["download", "sha256_of"]

Progress = Callable[[int, "int | None"], None]
_CHUNK = 1 << 16


def sha256_of(path: str | pathlib.Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "streamcolor"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only)


def _total_size(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _transfer(url: str, part: pathlib.Path, timeout: float, progress: Progress | None) -> None:
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part already holds the whole file
            return
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the range: start over
        total = _total_size(response, offset)
        with open(part, "ab" if offset else "wb") as out:
            done = _copy(response, out, offset, total, progress)
    if total is not None and done < total:
        raise DownloadError(f"the transfer stopped at {done} of {total} bytes; "
                            "run the command again to resume")


def _copy(response, out, done: int, total: int | None, progress: Progress | None) -> int:
    """Append the response body to ``out``; keep what arrived if the connection drops."""
    while True:
        try:
            block = response.read(_CHUNK)
        except http.client.IncompleteRead as exc:
            out.write(exc.partial)
            raise DownloadError(f"the connection closed after {done + len(exc.partial)} "
                                "bytes; run the command again to resume") from None
        except http.client.HTTPException as exc:
            raise DownloadError(f"the transfer failed after {done} bytes: {exc!r}") from None
        if not block:
            return done
        out.write(block)
        done += len(block)
        if progress:
            progress(done, total)


def download(url: str, dest: str | pathlib.Path, sha256: str | None, *,
             timeout: float = 30.0, progress: Progress | None = None) -> pathlib.Path:
    """Download ``url`` to ``dest``, resuming a previous partial download.

    Raises :class:`DownloadError` (the partial file is kept for the next attempt) when the
    server or the network fails, and :class:`ChecksumError` (the partial file is deleted)
    when the finished file's sha256 is not ``sha256``.
    """
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"refusing to download {url!r}: only http(s) URLs are fetched")
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _transfer(url, part, timeout, progress)
    except DownloadError as exc:
        raise DownloadError(f"cannot download {url}: {exc}") from None
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot download {url}: {reason}") from None
    if sha256:
        actual = sha256_of(part)
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(f"{url} downloaded with sha256 {actual}, expected {sha256}; "
                                "the file was deleted. Try again later, or check the URL")
    part.replace(dest)
    return dest

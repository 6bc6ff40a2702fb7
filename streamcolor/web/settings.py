"""What ``streamcolor serve`` was started with: one frozen value, shared by every route."""

from __future__ import annotations

import dataclasses
import pathlib
import re

__all__ = ["DEFAULT_MAX_UPLOAD", "ServeSettings", "parse_size"]

DEFAULT_MAX_UPLOAD = 200 * 1000 * 1000  # bytes
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """The served folder (``root``; every path the app takes is relative to it), the token
    every request must carry (None: none), where it listens, the largest request body in
    bytes, how many film jobs run at once, and the model (None: the bundled one)."""

    root: pathlib.Path
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    max_upload: int = DEFAULT_MAX_UPLOAD
    jobs: int = 1
    model: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", pathlib.Path(self.root))
        if not self.root.is_dir():
            raise ValueError(f"--root {self.root} is not a folder")
        if self.max_upload < 1:
            raise ValueError("--max-upload must be at least 1 byte")
        if self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if self.token == "":
            raise ValueError("--token must not be empty")

    @property
    def loopback(self) -> bool:
        """Whether the server listens only on this machine."""
        return self.host in LOOPBACK

    @property
    def state_dir(self) -> pathlib.Path:
        """Where the server keeps its jobs and reference pictures, under the root."""
        return self.root / ".streamcolor-serve"

    def url(self) -> str:
        """The page's address, with the token when there is one."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")


def parse_size(text: str) -> int:
    """``200M``, ``1.5G``, ``800k`` or a number of bytes -> bytes (powers of 1000)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 200M or 1G")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)

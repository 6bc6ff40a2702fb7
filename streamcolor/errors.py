"""Every error streamcolor raises, in one tree.

Each error subclasses :class:`StreamcolorError` and, where one fits, the builtin a caller
would catch anyway, so ``except FileNotFoundError`` keeps working::

    StreamcolorError
     +-- InputError (ValueError)            the input cannot be used
     |    +-- InputNotFoundError (FileNotFoundError)
     |    +-- NotMediaError                 not a file any demuxer reads
     |    +-- NoVideoStreamError
     |    +-- DecodeError                   corrupt or truncated data, with its position
     +-- OutputError (OSError)              the output cannot be written
     |    +-- IncompatibleStreamError       a stream the output container cannot hold
     +-- EncoderError (ValueError)          unknown codec or bad encoder option
     +-- ModelError (ValueError)            model file missing, unreadable or off-contract
     +-- zoo.ZooError                       the model registry (see streamcolor.zoo.errors)
     +-- ProviderUnavailableError (RuntimeError)
     +-- StageError (RuntimeError)          a pipeline stage failed; ``.stage`` names it and
                                            ``__cause__`` holds the original exception

Messages are one line that says what went wrong and, where there is one, what to do.
"""

from __future__ import annotations

from .redact import redact

__all__ = [
    "format_time",
    "StreamcolorError",
    "InputError",
    "InputNotFoundError",
    "NotMediaError",
    "NoVideoStreamError",
    "DecodeError",
    "OutputError",
    "IncompatibleStreamError",
    "EncoderError",
    "ModelError",
    "ProviderUnavailableError",
    "StageError",
]


class StreamcolorError(Exception):
    """Base class of every error raised by streamcolor."""


class InputError(StreamcolorError, ValueError):
    """The input cannot be used."""


class InputNotFoundError(InputError, FileNotFoundError):
    """The input path does not exist."""


class NotMediaError(InputError):
    """The input is not a media file that FFmpeg can read."""


class NoVideoStreamError(InputError):
    """The input has no video stream to colorize."""


class DecodeError(InputError):
    """Corrupt or truncated input data; ``position`` is the time in seconds where it stopped."""

    def __init__(self, message: str, *, position: float | None = None) -> None:
        super().__init__(message)
        self.position = position


class OutputError(StreamcolorError, OSError):
    """The output cannot be written."""


class IncompatibleStreamError(OutputError):
    """The output container cannot hold one of the input's streams."""


class EncoderError(StreamcolorError, ValueError):
    """The video encoder is unknown or rejects its options."""


class ModelError(StreamcolorError, ValueError):
    """The model file is missing, unreadable, or does not obey the model contract."""


class ProviderUnavailableError(StreamcolorError, RuntimeError):
    """The requested onnxruntime execution provider cannot run here."""


class StageError(StreamcolorError, RuntimeError):
    """A pipeline stage failed; ``stage`` names it, ``__cause__`` is the original error."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(redact(f"{stage} stage failed: {describe(error)}"))
        self.stage = stage
        self.error = error


def format_time(seconds: float | None) -> str:
    """``HH:MM:SS.mmm`` for messages."""
    if seconds is None:
        return "an unknown position"
    ms = int(round(max(0.0, seconds) * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def describe(error: BaseException) -> str:
    """A one-line description of an exception: FFmpeg's/the OS's message where the error has
    one (``strerror``), else the first line of its message, else its type."""
    if getattr(error, "strerror", None):
        return error.strerror
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text or type(error).__name__

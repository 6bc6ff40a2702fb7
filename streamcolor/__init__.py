"""streamcolor: colorize black-and-white video and images, keeping everything else intact.

    >>> import streamcolor
    >>> streamcolor.colorize_file("film.mkv", "film_color.mkv",
    ...                           model=streamcolor.ModelConfig(model="model.onnx"))
"""

__version__ = "0.1.0"

from .api import colorize, colorize_file
from .arrays import Colorizer
from .config import EncodeConfig, LiveConfig, ModelConfig, PipelineConfig, TemporalConfig
from .contract import ModelContract
from .errors import (
    DecodeError,
    EncoderError,
    IncompatibleStreamError,
    InputError,
    InputNotFoundError,
    ModelError,
    NotMediaError,
    NoVideoStreamError,
    OutputError,
    ProviderUnavailableError,
    StageError,
    StreamcolorError,
)
from .images import colorize_image, colorize_images
from .live.source import LiveSource
from .media.sinks import FileSink
from .media.sources import FileSource
from .pipeline import Pipeline, Progress, Summary
from .runtime import ModelRunner

__all__ = [
    "__version__",
    "colorize",
    "colorize_file",
    "colorize_image",
    "colorize_images",
    "Colorizer",
    "EncodeConfig",
    "LiveConfig",
    "ModelConfig",
    "PipelineConfig",
    "TemporalConfig",
    "ModelContract",
    "ModelRunner",
    "Pipeline",
    "Progress",
    "Summary",
    "FileSource",
    "LiveSource",
    "FileSink",
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

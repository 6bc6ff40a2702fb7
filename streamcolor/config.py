"""Small frozen keyword-only value objects that configure a run."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

__all__ = ["EncodeConfig", "LiveConfig", "ModelConfig", "PipelineConfig", "TemporalConfig"]

# Encoder options by which a user sets the rate or the quality: no default of ours then.
RATE_CONTROL = ("crf", "qp", "b", "global_quality", "q", "cq", "lossless", "x264-params",
                "x265-params")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EncodeConfig:
    """The video encoder and what to do with streams the output cannot hold.

    ``codec`` None picks one per output container (see :mod:`streamcolor.media.encoders`). ``crf``
    and ``bitrate`` are exclusive; with neither, and no rate-control option of the user's own
    (qp, b, x264-params...), encoders that have a CRF get a high-quality default (18 for x264).
    ``incompatible``: a copied stream the output container cannot hold is ``"convert"``-ed
    (announced; an error if it cannot be), an error (``"strict"``), or converted where it can
    be and left out where not (``"drop"``, announced). ``live`` adds low-latency settings.
    ``threads``: the encoder's threads (None: the run's thread plan,
    :mod:`streamcolor.runtime.threads`; 0: the encoder's own choice); an encoder option
    ``threads`` of the user's wins."""

    codec: str | None = None
    crf: float | None = None
    bitrate: int | None = None
    preset: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    incompatible: str = "convert"
    live: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.crf is not None and self.bitrate is not None:
            raise ValueError("give --crf or --bitrate, not both")
        if self.incompatible not in ("convert", "strict", "drop"):
            raise ValueError("incompatible must be 'convert', 'strict' or 'drop'")

    def codec_options(self) -> dict[str, str]:
        """Options passed to the encoder (CRF 18 by default for encoders that take a CRF)."""
        options: dict[str, str] = {}
        own_rate_control = any(k in RATE_CONTROL for k, _ in self.options)
        if self.crf is not None:
            options["crf"] = f"{self.crf:g}"
        elif self.bitrate is None and not own_rate_control:
            options["crf"] = "18"
        if self.preset:
            options["preset"] = self.preset
        options.update(dict(self.options))
        return options


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Which model runs where. ``model`` is a path to an ONNX file or a registry name;
    ``precision`` is auto (fp16 on a GPU), fp32, fp16 or int8."""

    model: str | None = None
    provider: str = "auto"
    batch_size: int = 8
    threads: int = 0
    precision: str = "auto"
    frame_graphs: bool | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """Queue depth between stages (in batches), what to do with damaged input, where files
    are decoded (``hwaccel``: auto, cuda or none), and the rate an image sequence's pictures
    are timed at (``sequence_rate``, fps; None: 24)."""

    queue_batches: int = 2
    on_decode_error: str = "skip"
    start: float | None = None
    duration: float | None = None
    hwaccel: str = "auto"
    sequence_rate: Fraction | None = None

    def __post_init__(self) -> None:
        if self.sequence_rate is not None and self.sequence_rate <= 0:
            raise ValueError("--input-rate must be positive")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """Live mode: batches close after ``max_latency`` seconds, frames are dropped (and counted)
    when inference falls behind, and ``frames`` (if set) ends the run after that many."""

    max_latency: float = 0.5
    frames: int | None = None

    def __post_init__(self) -> None:
        if self.max_latency <= 0:
            raise ValueError("--max-latency must be positive")
        if self.frames is not None and self.frames < 1:
            raise ValueError("--frames must be at least 1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TemporalConfig:
    """The temporal chroma stabilizer (see :mod:`streamcolor.color.temporal`). ``enabled`` False
    colorizes every frame on its own; ``strength`` 0..1 sets how much of the colour carried
    along the motion is kept (0: none, 1: as much as the stabilizer ever keeps)."""

    enabled: bool = True
    strength: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError("--temporal-strength must be between 0 and 1")

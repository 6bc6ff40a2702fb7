"""The model contract: what a colorization model takes and gives (DESIGN.md section 3).

A model is an ONNX file whose first input is a batch of pictures of lightness and whose
first output is a batch of colour. The contract is stored in the ONNX file's metadata
(``metadata_props``) under the keys below, so that a ``.onnx`` file carries everything the
pipeline needs. A file without them is read as the default contract: L* in, ab out.

=====================  ===============================================================
key                    meaning
=====================  ===============================================================
streamcolor.input      ``L`` (N,1,S,S) CIE L* in 0..100, or ``gray_rgb`` (N,3,S,S) the
                       gray picture as sRGB in 0..1 (DDColor-style models)
streamcolor.output     ``ab`` (N,2,s,s) CIE a*b* in Lab units, or ``rgb`` (N,3,s,s) sRGB
                       in 0..1 of which only the chroma is used (DeOldify-style models)
streamcolor.input_size S, used when the graph's spatial axes are dynamic (default 256)
streamcolor.name       a human-readable name (optional)
streamcolor.family     the model family, e.g. ``eccv16`` (optional)
streamcolor.guidance   ``HINT_AB,HINT_MASK``: the names of the two inputs through which the
                       model takes colour hints in SIGGRAPH17's form, a*b* (N,2,S,S) in
                       Lab units and a 0/1 mask (N,1,S,S), both at the model's input size
                       (optional: a model without it takes no hints)
=====================  ===============================================================

A model that declares guidance runs with an empty mask (no hints) wherever nobody gives any,
so every automatic path works with it unchanged.
"""

from __future__ import annotations

import dataclasses

__all__ = ["ModelContract", "INPUT_KINDS", "OUTPUT_KINDS", "METADATA_PREFIX"]

INPUT_KINDS = ("L", "gray_rgb")
OUTPUT_KINDS = ("ab", "rgb")
METADATA_PREFIX = "streamcolor."
DEFAULT_INPUT_SIZE = 256


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelContract:
    """How to feed a model and how to read its output."""

    input_kind: str = "L"
    output_kind: str = "ab"
    input_size: int | None = None
    name: str | None = None
    family: str | None = None
    guidance: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input kind {self.input_kind!r} is not one of {INPUT_KINDS}")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output kind {self.output_kind!r} is not one of {OUTPUT_KINDS}")
        if self.input_size is not None and self.input_size < 8:
            raise ValueError(f"input size {self.input_size} is too small")
        if self.guidance is not None and (len(self.guidance) != 2 or not all(self.guidance)):
            raise ValueError(f"guidance must name two inputs (hint a*b*, hint mask), not "
                             f"{self.guidance!r}")

    @property
    def input_channels(self) -> int:
        return 1 if self.input_kind == "L" else 3

    @property
    def output_channels(self) -> int:
        return 2 if self.output_kind == "ab" else 3

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries that store this contract in an ONNX file."""
        fields = dataclasses.asdict(self)
        if self.guidance is not None:
            fields["guidance"] = ",".join(self.guidance)
        keys = {"input_kind": "input", "output_kind": "output"}
        return {
            METADATA_PREFIX + keys.get(k, k): str(v) for k, v in fields.items() if v is not None
        }

    @classmethod
    def from_metadata(cls, props: dict[str, str]) -> ModelContract:
        """Read a contract back from ONNX ``metadata_props`` (missing keys take defaults)."""
        get = lambda key: props.get(METADATA_PREFIX + key)  # noqa: E731
        size, guidance = get("input_size"), get("guidance")
        return cls(
            input_kind=get("input") or "L",
            output_kind=get("output") or "ab",
            input_size=int(size) if size else None,
            name=get("name"),
            family=get("family"),
            guidance=tuple(part.strip() for part in guidance.split(",")) if guidance else None,
        )

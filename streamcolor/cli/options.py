"""Options that several commands share: the model and how much to say."""

from __future__ import annotations

import argparse

from .args import positive

__all__ = ["add_common", "add_model_options"]


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--provider``, ``--precision``, ``--frame-graphs``, ``--batch-size``."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="ONNX file, or a model name from `streamcolor models "
                       "list` (default: streamcolor-compact, bundled)")
    group.add_argument("--provider", choices=("auto", "tensorrt", "cuda", "cpu"), default="auto",
                       help="onnxruntime execution provider (default: auto, the fastest here)")
    group.add_argument("--precision", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                       help="auto: fp16 on a GPU; on the CPU int8 where the model "
                       "ships an int8 variant of small measured error, else fp32")
    group.add_argument("--frame-graphs", action="store_true", default=None,
                       help="run the per-frame colour math as ONNX graphs on the model's "
                       "provider (automatic on GPUs)")
    group.add_argument("--batch-size", type=positive, metavar="N",
                       help="frames per model call (default: 8; 1 in live mode, where a batch "
                       "waits for its frames to arrive)")


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--debug``."""
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument("--debug", action="store_true", help="tracebacks and FFmpeg's log")

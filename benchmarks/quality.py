"""Colorization quality of a model on a folder of colour photos, beside two baselines.

    python benchmarks/quality.py [FOLDER] [--model PATH.onnx] [--limit N]
                                 [--sheet PATH.png] [--json PATH]

FOLDER defaults to the val split (../shared/datasets/photos/val) and --model to the shipped
compact model. Each photo is made grey and colorized; the table gives PSNR (RGB) against the
originals and the Hasler-Süsstrunk colourfulness for ours, gray (no colour), a constant mean
colour, and the originals. Same code as ``streamcolor eval`` (streamcolor/cli/eval.py).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from streamcolor.cli import eval as eval_cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT.parent / "shared" / "datasets" / "photos" / "val"
DEFAULT_MODEL = ROOT / "streamcolor" / "weights" / "streamcolor-compact.onnx"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser()
    eval_cli.add_eval_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *argv] if any(not a.startswith("-") for a in argv[:1])
                             else ["eval", str(DEFAULT_FOLDER), *argv])
    args.model = args.model or str(DEFAULT_MODEL)
    return eval_cli.run_eval_command(args)


if __name__ == "__main__":
    raise SystemExit(main())

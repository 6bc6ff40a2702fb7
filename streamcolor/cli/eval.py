"""``streamcolor eval``: score a model on a folder of colour photos
(:func:`streamcolor.diagnostics.quality.evaluate_folder`) and print the table."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from ..diagnostics.quality import evaluate_folder, format_table

__all__ = ["add_eval_parser", "run_eval_command"]


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``eval FOLDER --model M [--limit N] [--sheet PATH] [--json PATH]``."""
    parser = subparsers.add_parser(
        "eval", help="score a model on a folder of colour photos",
        description="Make each colour photo grey, colorize it, and compare with the original "
        "(PSNR, colourfulness), beside the gray and constant-mean-colour baselines.")
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument("--model", help="ONNX file, or a model name")
    parser.add_argument("--provider", choices=("auto", "tensorrt", "cuda", "cpu"), default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--input-size", type=int, help="feed this size (dynamic models only)")
    parser.add_argument("--limit", type=int, help="only the first N images (sorted by path)")
    parser.add_argument("--sheet", help="write a contact sheet PNG (gray | ours | original)")
    parser.add_argument("--json", help="write the results as JSON")
    return parser


def run_eval_command(args) -> int:
    """Run ``eval`` from parsed arguments; prints the table to stdout."""
    from ..runtime import ModelRunner

    runner = ModelRunner(args.model, provider=args.provider)
    if getattr(args, "input_size", None):
        runner.input_size = args.input_size
    result = evaluate_folder(args.folder, runner, args.limit, batch_size=args.batch_size,
                             sheet=args.sheet)
    print(format_table(result))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m streamcolor.cli.eval FOLDER --model M ...``."""
    parser = argparse.ArgumentParser(prog="python -m streamcolor.cli.eval")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return run_eval_command(parser.parse_args(["eval", *(sys.argv[1:] if argv is None
                                                           else argv)]))


if __name__ == "__main__":
    raise SystemExit(main())

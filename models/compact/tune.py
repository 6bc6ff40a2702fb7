"""Choose the readout (temperature, prior shift) of a checkpoint on held-out training photos.

    python -m models.compact.tune CHECKPOINT [--limit 128] [--temperatures 0.4,0.6,0.8,1.0]
                                  [--shifts 0,0.25,0.5] [--json PATH]

The held-out photos are the ``holdout`` training photos the run never trained on (listed in
the checkpoint), so the val split stays untouched until the final evaluation. Every setting
is exported to ONNX and scored with
:func:`streamcolor.diagnostics.quality.evaluate_folder`. The chosen setting balances the two
targets of issue 4 (PSNR at least the gray baseline's minus 1 dB, colourfulness at least 60%
of the originals'): it has the largest smaller slack, where the PSNR slack is in dB and the
colourfulness slack counts 10 percentage points as 1 dB.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

import torch

from streamcolor.diagnostics.quality import evaluate_folder
from streamcolor.runtime import ModelRunner

from .export import export
from .train import _path

__all__ = ["holdout_folder", "tune", "choose"]


def holdout_folder(checkpoint: str | pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """A folder of links to the checkpoint's held-out training photos."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    source = _path(state["config"]["train_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    for name in state["holdout_names"]:
        link = folder / name
        if not link.exists():
            link.symlink_to(source / name)
    return folder


def tune(checkpoint, temperatures, shifts, *, limit: int | None, work: pathlib.Path,
         sizes=(None,), log=print) -> list[dict]:
    """Score every (temperature, shift, input size) on the held-out photos."""
    photos = holdout_folder(checkpoint, work / "holdout")
    results = []
    for t in temperatures:
        for shift in shifts:
            path = export(checkpoint, work / "m.onnx", temperature=t, prior_shift=shift)
            runner = ModelRunner(path, provider="cpu")
            for size in sizes:
                if size:
                    runner.input_size = size
                r = evaluate_folder(photos, runner, limit)
                row = {"temperature": t, "prior_shift": shift, "input_size": runner.input_size,
                       "psnr": r["rows"]["ours"]["psnr"], "gray_psnr": r["rows"]["gray"]["psnr"],
                       "mean_color_psnr": r["rows"]["mean_color"]["psnr"],
                       "colorfulness_ratio": r["colorfulness_ratio"],
                       "psnr_minus_gray": r["psnr_minus_gray"]}
                log(f"T={t:.2f} shift={shift:+.2f} S={row['input_size']}: PSNR {row['psnr']:.2f} "
                    f"(gray {row['gray_psnr']:.2f}, mean {row['mean_color_psnr']:.2f}) "
                    f"colorfulness {100 * row['colorfulness_ratio']:.0f}%", flush=True)
                results.append(row)
    return results


def slack(row: dict, *, psnr_floor: float = -1.0, color_floor: float = 0.6) -> float:
    """The smaller margin over the two targets, in dB (10 colourfulness points = 1 dB)."""
    return min(row["psnr_minus_gray"] - psnr_floor, 10 * (row["colorfulness_ratio"] - color_floor))


def choose(results: list[dict]) -> dict:
    """The setting with the largest :func:`slack`."""
    return max(results, key=slack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--limit", type=int, default=128)
    parser.add_argument("--temperatures", default="0.4,0.6,0.8,1.0")
    parser.add_argument("--shifts", default="0,0.25,0.5")
    parser.add_argument("--sizes", default="", help="input sizes to try, e.g. 192,224,256")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    floats = lambda text: [float(x) for x in text.split(",") if x]  # noqa: E731
    sizes = [int(x) for x in args.sizes.split(",") if x] or [None]
    with tempfile.TemporaryDirectory() as work:
        results = tune(args.checkpoint, floats(args.temperatures), floats(args.shifts),
                       limit=args.limit, work=pathlib.Path(work), sizes=sizes)
    best = choose(results)
    print("chosen:", json.dumps(best))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"results": results, "chosen": best},
                                                      indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

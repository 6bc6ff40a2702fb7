"""Choose v2's readout temperature against v1, on held-out training photos.

    python -m models.compact.tune_guided CHECKPOINT [--temperatures 0.5,0.6,0.7,0.8]
                                         [--limit 128] [--json PATH]

v2 must be at least as good as v1 without hints: colourfulness and PSNR. Each temperature's
export is scored with no hints on the checkpoint's held-out training photos (never trained
on; the val split stays for the final table), beside v1 on the same photos. The chosen
temperature is the one with the best PSNR among those whose colourfulness is at least v1's
(or, if none is, the most colourful).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

from streamcolor.diagnostics.quality import evaluate_folder
from streamcolor.runtime import ModelRunner

from .export import export_guided
from .train import ROOT
from .tune import holdout_folder

__all__ = ["tune", "choose"]

V1 = ROOT / "models/compact/streamcolor-compact-v1.onnx"


def _score(path: pathlib.Path, photos: pathlib.Path, limit: int) -> dict:
    result = evaluate_folder(photos, ModelRunner(path, provider="cpu", precision="fp32"), limit)
    return {"psnr": result["rows"]["ours"]["psnr"],
            "colorfulness": result["rows"]["ours"]["colorfulness"],
            "colorfulness_ratio": result["colorfulness_ratio"]}


def tune(checkpoint, temperatures, *, limit: int, work: pathlib.Path, log=print) -> dict:
    """v1's scores and v2's at each temperature, on the held-out photos."""
    photos = holdout_folder(checkpoint, work / "holdout")
    rows = {"v1": _score(V1, photos, limit)}
    log(f"v1: {json.dumps(rows['v1'])}", flush=True)
    for t in temperatures:
        path = export_guided(checkpoint, work / f"v2_{t}.onnx", temperature=t)
        rows[f"{t}"] = dict(_score(path, photos, limit), temperature=t)
        log(f"T={t}: {json.dumps(rows[f'{t}'])}", flush=True)
    return rows


def choose(rows: dict) -> dict:
    """The best PSNR with colourfulness at least v1's; else the most colourful."""
    v1 = rows["v1"]
    candidates = [r for k, r in rows.items() if k != "v1"]
    enough = [r for r in candidates if r["colorfulness"] >= v1["colorfulness"]]
    if enough:
        return max(enough, key=lambda r: r["psnr"])
    return max(candidates, key=lambda r: r["colorfulness"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--temperatures", default="0.5,0.6,0.7,0.8")
    parser.add_argument("--limit", type=int, default=128)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    temperatures = [float(x) for x in args.temperatures.split(",") if x]
    with tempfile.TemporaryDirectory() as work:
        rows = tune(args.checkpoint, temperatures, limit=args.limit, work=pathlib.Path(work))
    best = choose(rows)
    print("chosen:", json.dumps(best))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"rows": rows, "chosen": best},
                                                      indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

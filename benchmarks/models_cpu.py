"""CPU frames per second of each model (and its variants) at batch 1 and 8.

    python benchmarks/models_cpu.py                   # models in the cache
    python benchmarks/models_cpu.py --random-weights  # ECCV16/SIGGRAPH17, random weights,
                                                      # offline, fp32 + fp16 + int8
    python benchmarks/models_cpu.py --json out.json --size 128 --seconds 3

Prints a table and, with ``--json``, writes the figures. Speed does not depend on the
weights' values, so random weights give the published architectures' real cost.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from streamcolor.zoo import VARIANTS, load_manifests, variant_path  # noqa: E402
from streamcolor.zoo.variants import cpu_fps  # noqa: E402
from streamcolor.zoo.verify import file_contract  # noqa: E402


def cached_models() -> list[tuple[str, str, pathlib.Path]]:
    """(name, variant, path) of every ONNX file in the cache."""
    found = []
    for name in sorted(load_manifests()):
        for variant in VARIANTS:
            if variant_path(name, variant).is_file():
                found.append((name, variant, variant_path(name, variant)))
    return found


def random_models(folder: pathlib.Path, size: int) -> list[tuple[str, str, pathlib.Path]]:
    """ECCV16 and SIGGRAPH17 with random weights, fp32/fp16/int8, written to ``folder``."""
    from streamcolor.contract import ModelContract
    from streamcolor.zoo import samples
    from streamcolor.zoo.architectures import random_state_dict
    from streamcolor.zoo.export import export_onnx
    from streamcolor.zoo.variants import build_int8

    found = []
    contract = ModelContract(input_size=size)
    pictures = samples.list_images(samples.calibration_dir(), 8)
    calibration = (samples.model_inputs(pictures, contract) if pictures
                   else samples.synthetic_inputs(8, contract))
    for family in ("eccv16", "siggraph17"):
        state = random_state_dict(family)
        fp32 = export_onnx(family, state, folder / f"{family}.onnx")
        fp16 = export_onnx(family, state, folder / f"{family}-fp16.onnx", dtype="float16")
        int8 = build_int8(fp32, folder / f"{family}-int8.onnx", calibration)
        found += [(family, "fp32", fp32), (family, "fp16", fp16), (family, "int8", int8)]
    return found


def measure(models, size: int | None, seconds: float, threads: int | None) -> list[dict]:
    rows = []
    for name, variant, path in models:
        contract = file_contract(path)
        side = size or contract.input_size or 256
        row = {"model": name, "variant": variant, "size": side}
        for batch in (1, 8):
            row[f"fps_batch{batch}"] = cpu_fps(path, contract, batch=batch, size=side,
                                               seconds=seconds, max_runs=10, threads=threads)
        rows.append(row)
        print(f"{name:12} {variant:5} {side:5} {row['fps_batch1']:10.2f} "
              f"{row['fps_batch8']:10.2f}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-weights", action="store_true",
                        help="benchmark ECCV16/SIGGRAPH17 built from random weights")
    parser.add_argument("--size", type=int, help="input side (default: each model's own)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = (random_models(pathlib.Path(tmp), args.size or 256) if args.random_weights
                  else cached_models())
        if not models:
            print("no models in the cache: fetch or import one, or pass --random-weights",
                  file=sys.stderr)
            return 1
        print(f"{'model':12} {'var':5} {'size':>5} {'fps b=1':>10} {'fps b=8':>10}")
        rows = measure(models, args.size, args.seconds, args.threads)
    if args.json:
        args.json.write_text(json.dumps({
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "random_weights": args.random_weights, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

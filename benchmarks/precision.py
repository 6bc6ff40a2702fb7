"""Precision variants of the bundled model: build them, and measure what each costs and gains.

    python benchmarks/precision.py --build        # writes streamcolor/weights/*-{fp16,int8}.onnx
    python benchmarks/precision.py [--frames 48]  # error, model fps, 720p end to end, quality

--build calibrates int8 on pictures of the training split, converts fp16 (inputs and outputs
stay float32), measures each variant's |delta ab| against fp32 on the val split and stores it
in the variant's metadata (``streamcolor.ab_mean_abs_error``), which ``--precision auto``
reads. Without --build it prints and writes (--json) a table: mean/max |delta ab|, model-only
fps at batch 8, end-to-end fps on a generated 720p clip, and PSNR/colourfulness on the val
photos, fp32 and int8 measured side by side in one run, with the CPU model.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamcolor import EncodeConfig, ModelConfig, colorize_file  # noqa: E402
from streamcolor.contract import ModelContract  # noqa: E402
from streamcolor.diagnostics.quality import evaluate_folder  # noqa: E402
from streamcolor.runtime import DEFAULT_MODEL, ModelRunner  # noqa: E402
from streamcolor.testing import ClipSpec, make_clip  # noqa: E402
from streamcolor.zoo import samples  # noqa: E402
from streamcolor.zoo.variants import build_int8, compare_outputs  # noqa: E402

ERROR_KEY = "streamcolor.ab_mean_abs_error"


def _variant(precision: str) -> pathlib.Path:
    return DEFAULT_MODEL.with_name(f"{DEFAULT_MODEL.stem}-{precision}.onnx")


def _set_error(path: pathlib.Path, error: dict) -> None:
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props[ERROR_KEY] = f"{error['ab_mean_abs_error']:.4f}"
    props["streamcolor.ab_max_abs_error"] = f"{error['ab_max_abs_error']:.4f}"
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    onnx.save(model, str(path))


def build(calibration: int, evaluation: int) -> None:
    """Write the fp16 and int8 variants beside the bundled model, with their measured error."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    contract = ModelContract.from_metadata(_metadata(DEFAULT_MODEL))
    model = onnx.load(str(DEFAULT_MODEL))
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(_variant("fp16")))
    pictures = samples.list_images(samples.calibration_dir(), calibration)
    build_int8(DEFAULT_MODEL, _variant("int8"), samples.model_inputs(pictures, contract))
    inputs = samples.model_inputs(samples.list_images(samples.evaluation_dir(), evaluation),
                                  contract)
    for precision in ("fp16", "int8"):
        error = compare_outputs(DEFAULT_MODEL, _variant(precision), inputs)
        _set_error(_variant(precision), error)
        print(f"{precision}: {error} -> {_variant(precision)}")


def _metadata(path: pathlib.Path) -> dict:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) \
        .get_modelmeta().custom_metadata_map


def _model_seconds(runner: ModelRunner, feed) -> float:
    started = time.perf_counter()
    runner.run(feed)
    return time.perf_counter() - started


def _end_to_end(clip: pathlib.Path, precision: str, folder: pathlib.Path) -> float:
    summary = colorize_file(clip, folder / f"out-{precision}.mkv",
                            model=ModelConfig(provider="cpu", precision=precision),
                            encode=EncodeConfig(preset="veryfast"))
    return summary.seconds


def measure(frames: int, repeats: int, photos: int) -> dict:
    """fp32 and int8 side by side, interleaved run by run (medians): error, model-only fps
    at batch 8, 720p end to end, val quality."""
    import numpy as np

    names = ("fp32", "int8")
    runners = {p: ModelRunner(None, provider="cpu", precision=p) for p in names}
    feed = np.random.default_rng(0).uniform(0, 100, (8, 1, 256, 256)).astype(np.float32)
    model, e2e = {p: [] for p in names}, {p: [] for p in names}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        clip = make_clip(folder / "in720.mkv", ClipSpec(width=1280, height=720, frames=frames))
        for p in names:
            _model_seconds(runners[p], feed)  # warm-up
        for _ in range(repeats):
            for p in names:
                model[p].append(_model_seconds(runners[p], feed))
        for _ in range(max(1, repeats // 2)):
            for p in names:
                e2e[p].append(_end_to_end(clip, p, folder))
    rows = {}
    for p in names:
        meta = _metadata(runners[p].path)
        quality = evaluate_folder(samples.evaluation_dir(), runners[p], photos)["rows"]["ours"]
        rows[p] = {"file": runners[p].path.name,
                   "ab_mean_abs_error": float(meta.get(ERROR_KEY, 0.0)),
                   "model_fps_batch8": round(8 / statistics.median(model[p]), 1),
                   "end_to_end_fps_720p": round(frames / statistics.median(e2e[p]), 1),
                   "val_psnr": quality["psnr"], "val_colorfulness": quality["colorfulness"]}
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "frames": frames, "photos": photos,
            "repeats": repeats, "rows": rows}


def _cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="(re)build the variants")
    parser.add_argument("--calibration", type=int, default=128)
    parser.add_argument("--evaluation", type=int, default=64)
    parser.add_argument("--frames", type=int, default=48, help="720p frames end to end")
    parser.add_argument("--repeats", type=int, default=5, help="model-only timed runs")
    parser.add_argument("--photos", type=int, default=64, help="val photos for quality")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.build:
        build(args.calibration, args.evaluation)
        return 0
    result = measure(args.frames, args.repeats, args.photos)
    print(f"CPU: {result['cpu']} ({result['cores']} cores); 720p clip of "
          f"{result['frames']} frames; {result['photos']} val photos")
    print("precision  mean|dab|  model fps b8  720p e2e fps  val PSNR  colourfulness")
    for name, row in result["rows"].items():
        print(f"{name:<10} {row['ab_mean_abs_error']:>9.3f} {row['model_fps_batch8']:>13.1f} "
              f"{row['end_to_end_fps_720p']:>13.1f} {row['val_psnr']:>9.2f} "
              f"{row['val_colorfulness']:>14.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

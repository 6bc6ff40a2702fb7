"""Export a checkpoint to the shipped ONNX file.

    python -m models.compact.export CHECKPOINT [-o streamcolor/weights/streamcolor-compact.onnx]
        [--temperature T] [--prior-shift B] [--input-size S]

The graph takes L* (N,1,S,S) in 0..100 and returns a*b* (N,2,S/4,S/4): normalization,
softmax with temperature and the annealed mean are inside it. Batch and spatial axes are
dynamic; ``streamcolor.input_size`` in the metadata is the native size S.
"""

from __future__ import annotations

import argparse
import pathlib
import warnings

import numpy as np
import torch

from streamcolor.contract import ModelContract

from .model import Colorizer, CompactNet, bin_centers

__all__ = ["export", "load_colorizer", "DEFAULT_OUTPUT"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "streamcolor/weights/streamcolor-compact.onnx"
NAME = "streamcolor-compact"


def load_colorizer(checkpoint: str | pathlib.Path, *, temperature: float | None = None,
                   prior_shift: float | None = None) -> tuple[Colorizer, dict]:
    """The export wrapper of a checkpoint's model, and the checkpoint's config."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = state["config"]
    bins = np.asarray(state["bins"])
    net = CompactNet(len(bins), config["width"])
    net.load_state_dict(state["model"])
    net.eval()
    t = config["temperature"] if temperature is None else temperature
    shift = config["prior_shift"] if prior_shift is None else prior_shift
    model = Colorizer(net, bin_centers(bins), np.log(np.asarray(state["prior"])), t, shift)
    return model.eval(), config


def export(checkpoint: str | pathlib.Path, output: str | pathlib.Path = DEFAULT_OUTPUT, *,
           temperature: float | None = None, prior_shift: float | None = None,
           input_size: int | None = None) -> pathlib.Path:
    """Write the ONNX model of ``checkpoint`` with the contract in its metadata."""
    import onnx
    from onnx import helper

    model, config = load_colorizer(checkpoint, temperature=temperature, prior_shift=prior_shift)
    size = input_size or config["input_size"]
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.full((1, 1, size, size), 50.0),), str(tmp), dynamo=False,
            input_names=["lightness"], output_names=["ab"], opset_version=17,
            dynamic_axes={"lightness": {0: "N", 2: "H", 3: "W"}, "ab": {0: "N", 2: "h", 3: "w"}},
        )
    graph = onnx.load(str(tmp))
    contract = ModelContract(input_kind="L", output_kind="ab", input_size=size, name=NAME,
                             family="compact")
    helper.set_model_props(graph, contract.to_metadata())
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))
    tmp.replace(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--prior-shift", type=float)
    parser.add_argument("--input-size", type=int)
    args = parser.parse_args(argv)
    path = export(args.checkpoint, args.output, temperature=args.temperature,
                  prior_shift=args.prior_shift, input_size=args.input_size)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

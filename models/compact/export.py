"""Export a checkpoint to the shipped ONNX file.

    python -m models.compact.export CHECKPOINT [-o streamcolor/weights/streamcolor-compact.onnx]
        [--temperature T] [--prior-shift B] [--input-size S] [--guided]

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

__all__ = ["export", "export_guided", "load_colorizer", "DEFAULT_OUTPUT"]

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


def export_guided(checkpoint: str | pathlib.Path, output: str | pathlib.Path = DEFAULT_OUTPUT, *,
                  temperature: float | None = None, input_size: int | None = None
                  ) -> pathlib.Path:
    """Write v2 (:mod:`.guided`): L*, hint a*b* and hint mask in, a*b* out, the hint inputs
    declared as the contract's guidance."""
    import onnx
    from onnx import helper

    from .guided import GuidedColorizer, GuidedNet

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config, bins = state["config"], np.asarray(state["bins"])
    net = GuidedNet(len(bins), config["width"])
    net.load_state_dict(state["model"])
    t = config["temperature"] if temperature is None else temperature
    model = GuidedColorizer(net.eval(), bin_centers(bins), t).eval()
    size = input_size or config["input_size"]
    output = pathlib.Path(output)
    tmp = output.with_name(output.name + ".tmp")
    names = ["lightness", "hint_ab", "hint_mask"]
    example = (torch.full((1, 1, size, size), 50.0), torch.zeros(1, 2, size, size),
               torch.zeros(1, 1, size, size))
    axes = {name: {0: "N", 2: "H", 3: "W"} for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(tmp), dynamo=False, input_names=names,
                          output_names=["ab"], opset_version=17,
                          dynamic_axes={**axes, "ab": {0: "N", 2: "h", 3: "w"}})
    graph = onnx.load(str(tmp))
    contract = ModelContract(input_kind="L", output_kind="ab", input_size=size, name=NAME,
                             family="compact", guidance=("hint_ab", "hint_mask"))
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
    parser.add_argument("--guided", action="store_true",
                        help="a checkpoint of models.compact.train_guided (v2, takes hints)")
    args = parser.parse_args(argv)
    if args.guided:
        path = export_guided(args.checkpoint, args.output, temperature=args.temperature,
                             input_size=args.input_size)
    else:
        path = export(args.checkpoint, args.output, temperature=args.temperature,
                      prior_shift=args.prior_shift, input_size=args.input_size)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

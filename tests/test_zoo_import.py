"""``import`` of ONNX files by family (DDColor/DeOldify adapters), contract errors,
``verify``, the int8/fp16 variants with their figures, and the ``models`` CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="importing models needs the onnx package")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from streamcolor.cli.models import add_models_parser, run_models_command  # noqa: E402
from streamcolor.contract import ModelContract  # noqa: E402
from streamcolor.zoo import (  # noqa: E402
    ContractError,
    import_model,
    model_dir,
    resolve_model,
    variant_path,
    verify_models,
)
from streamcolor.zoo.validate import cpu_session  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STREAMCOLOR_MANIFESTS", raising=False)
    return tmp_path / "cache"


def tiny_model(path, channels_in, channels_out, size=None, batch=None):
    """A 1x1 convolution model: (N,Cin,S,S) -> (N,Cout,S,S)."""
    shape_in = [batch or "n", channels_in, size or "h", size or "w"]
    shape_out = [batch or "n", channels_out, size or "h", size or "w"]
    weight = np.full((channels_out, channels_in, 1, 1), 0.1, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["out"])], "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape_out)],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def contract_of(path):
    meta = cpu_session(path).get_modelmeta().custom_metadata_map
    return ModelContract.from_metadata(dict(meta))


def test_import_ddcolor_onnx_takes_contract_and_native_size(tmp_path):
    path = import_model("ddcolor", tiny_model(tmp_path / "dd.onnx", 3, 2, size=64))
    assert path == variant_path("ddcolor") == resolve_model("ddcolor")
    contract = contract_of(path)
    assert (contract.input_kind, contract.output_kind) == ("gray_rgb", "ab")
    assert contract.input_size == 64 and contract.family == "ddcolor"


def test_import_deoldify_with_dynamic_size_uses_manifest_size(tmp_path):
    path = import_model("deoldify", tiny_model(tmp_path / "do.onnx", 3, 3))
    contract = contract_of(path)
    assert (contract.input_kind, contract.output_kind, contract.input_size) == (
        "gray_rgb", "rgb", 256)


def test_import_new_name_with_family_is_listed(tmp_path, capsys):
    import_model("my-deoldify", tiny_model(tmp_path / "m.onnx", 3, 3), family="deoldify")
    assert run_cli("list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("my-deoldify"))
    assert "deoldify" in row and "fp32" in row


def test_generic_family_is_inferred_from_channels(tmp_path):
    path = import_model("plain", tiny_model(tmp_path / "p.onnx", 1, 2), family="generic")
    assert (contract_of(path).input_kind, contract_of(path).output_kind) == ("L", "ab")


def test_wrong_contract_is_a_clear_error(tmp_path, cache):
    with pytest.raises(ContractError, match="output has 3 channels, not 2"):
        import_model("ddcolor", tiny_model(tmp_path / "bad.onnx", 3, 3))
    with pytest.raises(ContractError, match="input has 1 channels, not 3"):
        import_model("deoldify", tiny_model(tmp_path / "bad2.onnx", 1, 3))
    assert not variant_path("ddcolor").exists()


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ContractError, match="not a readable ONNX file|no graph inputs"):
        import_model("ddcolor", corrupt)


def test_unknown_name_needs_a_family(tmp_path):
    with pytest.raises(LookupError, match="--family"):
        import_model("mystery", tiny_model(tmp_path / "x.onnx", 3, 2))


def test_verify_detects_a_changed_file(tmp_path):
    path = import_model("ddcolor", tiny_model(tmp_path / "dd.onnx", 3, 2, size=32))
    assert all(r.ok for r in verify_models())
    path.write_bytes(path.read_bytes() + b"\0")
    failed = [r for r in verify_models("ddcolor") if not r.ok]
    assert failed and "sha256 differs" in failed[0].message
    assert run_cli("verify", "ddcolor") == 1


def test_int8_and_fp16_variants_with_figures(tmp_path, monkeypatch, capsys):
    """A real ECCV16 graph (random weights) at 32x32 so that calibration is quick."""
    cv2 = pytest.importorskip("cv2", reason="calibration pictures are read with OpenCV")
    from streamcolor.zoo import build_variants
    from streamcolor.zoo.architectures import random_state_dict
    from streamcolor.zoo.export import export_onnx
    from streamcolor.zoo.registry import Manifest, save_user_manifest

    for split, count in (("train", 4), ("val", 2)):
        folder = tmp_path / split
        folder.mkdir()
        for i in range(count):
            picture = np.random.default_rng(i).integers(0, 255, (40, 48, 3), np.uint8)
            cv2.imwrite(str(folder / f"{i}.png"), cv2.GaussianBlur(picture, (9, 9), 3))
    monkeypatch.setenv("STREAMCOLOR_CALIBRATION_DIR", str(tmp_path / "train"))
    monkeypatch.setenv("STREAMCOLOR_EVAL_DIR", str(tmp_path / "val"))
    save_user_manifest(Manifest(name="small", family="eccv16", input_size=32, builtin=False))
    state = random_state_dict("eccv16")
    rng = np.random.default_rng(0)  # a head that gives varied colour (+-30 ab), not grey
    state["model8.6.weight"] = rng.normal(0, 1.2, state["model8.6.weight"].shape).astype(
        np.float32)
    state["model_out.weight"] = rng.uniform(-1, 1, state["model_out.weight"].shape).astype(
        np.float32)
    model_dir("small").mkdir(parents=True, exist_ok=True)
    export_onnx("eccv16", state, variant_path("small"), input_size=32)
    info = build_variants("small", state=state)
    lightness = np.stack([_lightness(cv2, path, 32) for path in sorted(
        (tmp_path / "val").glob("*.png"))])
    outputs = {variant: cpu_session(resolve_model(f"small:{variant}")).run(
        None, {"L": lightness})[0] for variant in ("fp32", "fp16", "int8")}
    spread = np.abs(outputs["fp32"] - outputs["fp32"].mean(axis=(0, 2, 3), keepdims=True))
    assert spread.mean() > 10, "the fp32 model's colour varies: a garbage variant would show"
    # mean and max |delta ab| against fp32, as fractions of the fp32 colour's spread (here
    # fp16 0.002 and 0.015, int8 0.1 and 0.8; int8 with its weight scales 3x off: 2 and 7)
    bounds = {"fp16": (0.02, 0.1), "int8": (0.2, 1.5)}
    for variant in ("fp16", "int8"):
        figures = info["variants"][variant]
        assert figures["frames"] == 2 and figures["cpu_fps_batch1"] > 0
        assert 0 <= figures["ab_mean_abs_error"] <= figures["ab_max_abs_error"]
        assert contract_of(resolve_model(f"small:{variant}")).input_size == 32
        error = np.abs(outputs[variant] - outputs["fp32"])  # measured here, against fp32
        mean_bound, max_bound = (b * spread.mean() for b in bounds[variant])
        assert error.mean() < mean_bound and error.max() < max_bound, (
            variant, error.mean(), error.max(), spread.mean())
        # the reported figures say the same (they come from the same pictures)
        assert figures["ab_mean_abs_error"] < mean_bound, (variant, figures)
        assert figures["ab_max_abs_error"] < max_bound, (variant, figures)
    assert run_cli("info", "small", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown["variants"]) == {"fp32", "fp16", "int8"}
    assert all(r.ok for r in verify_models("small"))


def _lightness(cv2, path, size: int) -> np.ndarray:
    """(1, size, size) float32 L* (0..100) of a picture, by OpenCV's own Lab conversion."""
    picture = cv2.imread(str(path)).astype(np.float32) / 255
    lab = cv2.cvtColor(cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_BGR2Lab)
    return lab[None, :, :, 0]


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="streamcolor")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    return run_models_command(parser.parse_args(["models", *argv]))


def test_cli_errors_are_one_line(capsys):
    assert run_cli("info", "nope") == 1
    err = capsys.readouterr().err
    assert err.startswith("streamcolor: error: no model named 'nope'") and err.count("\n") == 1
    assert run_cli("import", "ddcolor", "/nonexistent.onnx") == 1
    assert "does not exist" in capsys.readouterr().err


def test_import_keeps_the_size_the_file_declares(tmp_path, cache):
    """A model with dynamic spatial axes that declares its native size keeps it."""
    from streamcolor.contract import ModelContract
    from streamcolor.testing import make_model
    from streamcolor.zoo import import_model

    source = make_model(tmp_path / "declared.onnx", input_size=None,
                        contract=ModelContract(input_size=224))
    path = import_model("declared", source, family="generic")
    assert contract_of(path).input_size == 224
    path = import_model("overridden", source, family="generic", input_size=160)
    assert contract_of(path).input_size == 160

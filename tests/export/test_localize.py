"""When parity fails, the first diverging layer is named: a fault planted in one middle layer of a
user's convolutional GAN (an ONNX initializer scaled, a TorchScript weight scaled, a layer that
computes something else when exported) is found at that layer, for both exporters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import (
    EXAMPLE,
    QUIET,
    assert_user_error,
    copy_export,
    gan,
    relist,
    rewrite_manifest,
    save_weights,
    scale_onnx_initializer,
)
from torch import nn

from gan.export.exporter import ExportRequest, export_models
from gan.models.architecture import Architecture

SPEC = f"{EXAMPLE}:TINY_DCGAN64"


# A user's 64x64 DCGAN, whose export fuses layers, through both exporters: the slow tier (its
# import and exports take tens of seconds). The fast tier localizes the MLP's planted faults and
# test_export_names_the_layer_that_exports_differently's model, under both exporters.
@pytest.fixture(
    scope="module", params=[pytest.param(e, marks=pytest.mark.slow) for e in ("dynamo", "torchscript")]
)
def exported(request, tmp_path_factory, user_dcgan_run) -> tuple[str, Path]:
    """(exporter, run dir): a user's DCGAN, imported and exported (into RUN/export) by `exporter`."""
    if request.param == "dynamo":
        return request.param, user_dcgan_run / "run"
    run = tmp_path_factory.mktemp(request.param) / "run"
    shutil.copytree(user_dcgan_run / "run", run, ignore=shutil.ignore_patterns("export"))
    result = gan("export", run, "--exporter", request.param)
    assert result.exit_code == 0, result.output
    return request.param, run


def planted_copy(run: Path, tmp_path: Path) -> Path:
    """A copy of the export that still names its run dir, so the eager model is found."""
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    return export


def test_a_clean_export_names_no_layer(exported_run, tmp_path):
    result = gan("verify", exported_run / "export", "--localize", "--plots", tmp_path)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for model in ("generator", "discriminator"):
        for backend in ("torchscript", "onnxruntime", "openvino"):
            assert f"{model} on {backend} (cpu): no layer diverges" in text
    assert "first diverging layer" not in text
    assert (tmp_path / "layers-generator-onnxruntime-cpu.png").stat().st_size > 0


@pytest.mark.slow  # the same on the user's DCGAN, whose export fuses layers
def test_a_clean_user_dcgan_export_names_no_layer(exported, tmp_path):
    _, run = exported
    result = gan("verify", run / "export", "--localize")
    assert result.exit_code == 0, result.output
    assert "first diverging layer" not in result.output
    assert result.output.count("no layer diverges") == 2 * 3  # G and D on three runtimes


def test_a_scaled_onnx_initializer_is_found_at_its_layer(exported, tmp_path):
    exporter, run = exported
    export = planted_copy(run, tmp_path)
    scale_onnx_initializer(export, "generator", "main.6.weight")
    result = gan("verify", export, "--plots", tmp_path / "plots")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    if (
        exporter == "dynamo"
    ):  # its graph computes ConvTranspose + BatchNorm as one node, named after the BatchNorm
        named = (
            "generator on onnxruntime (cpu): first diverging layer generator.main.7 (BatchNorm2d), run as "
            "ONNX ConvTranspose, with generator.main.6 (ConvTranspose2d) fused into it"
        )
    else:
        named = (
            "generator on onnxruntime (cpu): first diverging layer generator.main.6 (ConvTranspose2d), "
            "run as ONNX ConvTranspose"
        )
    assert named in text
    assert "the layer before, generator.main.5 (ReLU)" in text
    assert "generator on torchscript" not in text  # only the broken runtime is searched
    assert (tmp_path / "plots" / "layers-generator-onnxruntime-cpu.png").stat().st_size > 0


@pytest.mark.slow  # TorchScript's submodules, run alone: the MLP's are checked in the fast tier
@pytest.mark.parametrize("exported", ["dynamo"], indirect=True)  # one .pt, whichever made the ONNX
def test_a_scaled_torchscript_weight_is_found_at_its_layer(exported, tmp_path):
    _, run = exported
    export = planted_copy(run, tmp_path)
    traced = torch.jit.load(str(export / "discriminator.pt"))
    with torch.no_grad():
        dict(traced.named_parameters())["main.5.weight"].mul_(1.5)
    torch.jit.save(traced, str(export / "discriminator.pt"))
    relist(export, "discriminator.pt")
    result = gan("verify", export)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert (
        "discriminator on torchscript (cpu): first diverging layer discriminator.main.5 (Conv2d), "
        "run as traced TorchScript" in text
    )


def test_without_the_eager_model_it_says_how_to_give_it(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    scale_onnx_initializer(export, "generator", "net.2.weight")
    rewrite_manifest(export, lambda m: m["source"].__setitem__("run_dir", str(tmp_path / "gone")))
    result = gan("verify", export)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "layers not compared: comparing layers needs the eager model" in text
    assert "pass --run RUN_DIR, the run dir this export was made from" in text
    found = gan("verify", export, "--run", exported_run)
    assert found.exit_code == 1 and "first diverging layer generator.net.2" in " ".join(found.output.split())


def test_a_run_dir_that_is_not_the_exports_is_refused(exported_run, tmp_path):
    other = tmp_path / "other"
    g_path, d_path = save_weights("mlp", tmp_path, seed=11)
    assert (
        gan("import", other, "--arch", "mlp", "--generator", g_path, "--discriminator", d_path).exit_code == 0
    )
    assert_user_error(
        gan("verify", exported_run / "export", "--run", other),
        f"--run: the checkpoint in {other} is not the one this export was made from",
    )
    assert_user_error(gan("verify", exported_run / "export", "--run", tmp_path), "is not a run dir")


class ScaledWhenExported(nn.Module):
    """A layer that computes something else inside an exporter: the kind of branch
    (`torch.onnx.is_in_onnx_export()`) that makes an export disagree with its model."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        exporting = torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting() or torch.jit.is_tracing()
        return y * 1.5 if exporting else y


def branchy_generator():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        ScaledWhenExported(),
        nn.ReLU(),
        nn.Conv2d(4, 1, 3, padding=1),
        nn.Tanh(),
    )


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_export_names_the_layer_that_exports_differently(tmp_path, exporter):
    architecture = Architecture("branchy", branchy_generator, None, z_shape=(2, 8, 8), image_shape=(1, 8, 8))
    generator = architecture.build(seed=0)[0]
    request = ExportRequest(architecture, generator, None, tmp_path / "export", exporter=exporter)
    result = export_models(request, QUIET)
    assert not result.passed
    found = {(f.backend, f.first_layer.layer) for f in result.localizations if f.first is not None}
    assert found == {
        ("torchscript", "generator.2 (ScaledWhenExported)"),
        ("onnxruntime", "generator.2 (ScaledWhenExported)"),
        ("openvino", "generator.2 (ScaledWhenExported)"),
    }
    # The layer before matches (an ExportedProgram row fails too, with no per-layer comparison).
    assert all(f.layers[f.first - 1].passed for f in result.localizations if f.first is not None)
    recorded = json.loads((tmp_path / "export" / "manifest.json").read_text())["localization"]
    plots = {entry["plot"] for entry in recorded if entry["plot"]}
    assert plots == {f"layers-generator-{b}-cpu.png" for b in ("torchscript", "onnxruntime", "openvino")}
    assert all((tmp_path / "export" / plot).stat().st_size > 0 for plot in plots)

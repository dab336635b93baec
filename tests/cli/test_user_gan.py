"""Bring your own GAN: a user's architecture, defined outside the package, through every command."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import EXAMPLE, assert_user_error, checked_backends, gan, save_weights
from PIL import Image

from gan.export.backends.onnxruntime import OnnxRuntimeBackend
from gan.export.parity import PARITY_BATCHES
from gan.models.spec import load_architecture


# The user's 64x64 DCGAN takes tens of seconds to import and export: the slow tier runs it (and
# CI runs the slow tier); the generator-only model keeps every test here in the fast tier.
@pytest.fixture(
    scope="module", params=[pytest.param("TINY_DCGAN64", marks=pytest.mark.slow), "GENERATOR_ONLY"]
)
def imported(request, tmp_path_factory):
    """(spec, run dir with its dynamo export, G's weights file): a user's weights, imported."""
    spec = f"{EXAMPLE}:{request.param}"
    if request.param == "TINY_DCGAN64":  # shared with the other tests of a user's DCGAN
        built = request.getfixturevalue("user_dcgan_run")
        return spec, built / "run", built / "weights" / "netG.pth"
    tmp = tmp_path_factory.mktemp(request.param)
    g_path, d_path = save_weights(spec, tmp)
    args = ["import", tmp / "run", "--arch", spec, "--generator", g_path]
    result = gan(*args, *(["--discriminator", d_path] if d_path else []))
    assert result.exit_code == 0, result.output
    result = gan("export", tmp / "run")  # dynamo, into run/export: what the tests below read
    assert result.exit_code == 0, result.output
    return spec, tmp / "run", g_path


def test_user_model_exports_verifies_and_samples(imported, tmp_path):
    check_export_verify_sample(imported, "dynamo", tmp_path)


# The legacy exporter on a DCGAN with its D is checked in tests/export; on a user's, with the slow tests.
@pytest.mark.parametrize(
    "imported", ["GENERATOR_ONLY", pytest.param("TINY_DCGAN64", marks=pytest.mark.slow)], indirect=True
)
def test_user_model_exports_with_the_legacy_exporter(imported, tmp_path):
    check_export_verify_sample(imported, "torchscript", tmp_path)


def check_export_verify_sample(imported, exporter: str, tmp_path):
    spec, run_dir, _ = imported
    architecture, _ = load_architecture(spec)
    out = run_dir / "export"
    if exporter != "dynamo":
        out = tmp_path / "export"
        result = gan("export", run_dir, "--out", out, "--exporter", exporter)
        assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    for declared in manifest["models"]["generator"]["onnx_declared"]["outputs"]:
        # Only the batch axis is free: the legacy exporter once labelled an upsampled height "batch".
        assert declared["shape"] == ["batch", *architecture.image_shape]
    assert manifest["image_shape"] == list(architecture.image_shape)
    assert manifest["z_shape"] == list(architecture.z_shape)
    assert manifest["arch"]["spec"] == spec and len(manifest["arch"]["sha256"]) == 64
    # Every backend at every parity batch, for every model the architecture has.
    models = {"generator"} | ({"discriminator", "chain"} if architecture.has_discriminator else set())
    seen = {(c["model"], c["backend"], c["batch"]) for c in manifest["parity"] if c["passed"]}
    for model in models:
        for backend in (spec.name for spec in checked_backends()):
            assert {(model, backend, b) for b in PARITY_BATCHES} <= seen
    assert {c["model"] for c in manifest["parity"]} == models
    assert gan("verify", out).exit_code == 0
    picture = tmp_path / "s.png"
    assert gan("sample", out, "--backend", "onnxruntime", "-n", "4", "--out", picture).exit_code == 0
    assert Image.open(picture).mode == ("RGB" if architecture.image_shape[0] == 3 else "L")


def test_exported_onnx_equals_the_users_module_on_the_users_z(imported):
    spec, run_dir, g_path = imported
    architecture, _ = load_architecture(spec)
    users_module = architecture.generator()
    users_module.load_state_dict(torch.load(g_path, weights_only=True))
    z = torch.randn(5, *architecture.z_shape, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        expected = users_module.eval()(z)
    actual = OnnxRuntimeBackend(run_dir / "export" / "generator.onnx", torch.device("cpu"))(z)
    assert expected.shape == (5, *architecture.image_shape)
    assert (actual - expected).abs().max() <= 1e-4


def test_user_model_benches_and_generator_only_rows_say_why(imported, tmp_path):
    spec, run_dir, _ = imported
    report = tmp_path / "bench.json"
    backends = ["--backends", "eager,eager-onednn,onnxruntime"]
    result = gan(
        "bench",
        run_dir / "export",
        "--arch",
        spec,
        "--quick",
        *backends,
        "--batch-size",
        "4",
        "--json",
        report,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(report.read_text())["results"]
    ok = {(r["workload"], r["backend"]) for r in rows if r["status"] == "ok"}
    assert {("forward G", "onnxruntime"), ("forward G", "eager"), ("forward G", "eager-onednn")} <= ok
    if load_architecture(spec)[0].has_discriminator:
        assert {("train iteration", "eager"), ("train iteration", "eager-onednn")} <= ok
    else:
        d_rows = [r for r in rows if r["workload"] != "forward G"]
        assert d_rows and all(r["status"] == "n/a" and "no discriminator" in r["reason"] for r in d_rows)


# Without the Architecture the rows are the same for any model: the user's DCGAN runs it slow.
@pytest.mark.parametrize(
    "imported", ["GENERATOR_ONLY", pytest.param("TINY_DCGAN64", marks=pytest.mark.slow)], indirect=True
)
def test_bench_without_the_architecture_measures_the_artifacts_alone(imported, tmp_path):
    spec, run_dir, _ = imported
    report = tmp_path / "bench.json"
    args = ["--quick", "--workloads", "forward", "--batch-size", "2", "--json", report]
    result = gan("bench", run_dir / "export", *args)
    assert result.exit_code == 0, result.output
    rows = {(r["workload"], r["backend"]): r for r in json.loads(report.read_text())["results"]}
    assert rows[("forward G", "onnxruntime")]["status"] == "ok"
    assert rows[("forward G", "eager")]["status"] == "unavailable"
    assert "--arch" in rows[("forward G", "eager")]["reason"]


@pytest.mark.parametrize("gemm", ["aten", "onednn"])
def test_a_28x28_user_architecture_trains_with_logits(tmp_path, data_dir, gemm):
    spec = f"{EXAMPLE}:SMALL28"
    out = tmp_path / "run"
    args = ["--epochs", "1", "--limit", "256", "--no-compile", "--gemm", gemm, "--out", out]
    result = gan("train", "--arch", spec, *args, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert f"GEMM engine: {gemm}" in result.output
    losses = (out / "losses.csv").read_text().splitlines()
    assert len(losses) == 1 + 4 and all("nan" not in line for line in losses)
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == spec and config["gemm"] == gemm


def test_train_refuses_an_image_shape_that_does_not_fit_the_dataset(tmp_path, data_dir):
    out = tmp_path / "run"
    result = gan("train", "--arch", f"{EXAMPLE}:TINY_DCGAN64", "--out", out, data_dir=data_dir)
    assert_user_error(result, "makes images of shape (3, 64, 64), but fashion-mnist has (1, 28, 28)")
    assert not out.exists()

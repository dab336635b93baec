"""Bring your own GAN: a user's architecture, defined outside the package, through every command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gan.architectures import load_architecture
from gan.cli import app
from gan.export.backends import OnnxRuntimeBackend
from gan.export.parity import PARITY_BATCHES
from tests.conftest import REPO
from tests.test_cli_train import assert_user_error

runner = CliRunner()
EXAMPLE = REPO / "examples" / "my_gan.py"


def gan(*args, data_dir=None):
    env = {"GAN_DATA_DIR": str(data_dir)} if data_dir else {}
    return runner.invoke(app, [str(a) for a in args], env=env)


def save_weights(arch_spec: str, directory: Path, seed: int = 3) -> tuple[Path, Path | None]:
    """What a user's training script leaves behind: state_dicts in .pth files."""
    architecture, _ = load_architecture(arch_spec)
    generator, discriminator = architecture.build(seed)
    g_path = directory / "netG.pth"
    torch.save(generator.state_dict(), g_path)
    if discriminator is None:
        return g_path, None
    d_path = directory / "netD.pth"
    torch.save(discriminator.state_dict(), d_path)
    return g_path, d_path


@pytest.fixture(scope="module", params=["TINY_DCGAN64", "GENERATOR_ONLY"])
def imported(request, tmp_path_factory):
    spec = f"{EXAMPLE}:{request.param}"
    tmp = tmp_path_factory.mktemp(request.param)
    g_path, d_path = save_weights(spec, tmp)
    args = ["import", tmp / "run", "--arch", spec, "--generator", g_path]
    result = gan(*args, *(["--discriminator", d_path] if d_path else []))
    assert result.exit_code == 0, result.output
    result = gan("export", tmp / "run")  # dynamo, into run/export: what the tests below read
    assert result.exit_code == 0, result.output
    return spec, tmp / "run", g_path


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_user_model_exports_verifies_and_samples(imported, exporter, tmp_path):
    spec, run_dir, _ = imported
    architecture, _ = load_architecture(spec)
    out = run_dir / "export"
    if exporter != "dynamo":
        out = tmp_path / "export"
        result = gan("export", run_dir, "--out", out, "--exporter", exporter)
        assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image_shape"] == list(architecture.image_shape)
    assert manifest["z_shape"] == list(architecture.z_shape)
    assert manifest["arch"]["spec"] == spec and len(manifest["arch"]["sha256"]) == 64
    # Every backend at every parity batch, for every model the architecture has.
    models = {"generator"} | ({"discriminator", "chain"} if architecture.has_discriminator else set())
    seen = {(c["model"], c["backend"], c["batch"]) for c in manifest["parity"] if c["passed"]}
    for model in models:
        for backend in ("eager", "torchscript", "onnxruntime"):
            assert {(model, backend, b) for b in PARITY_BATCHES} <= seen
    assert {c["model"] for c in manifest["parity"]} == models
    assert gan("verify", out).exit_code == 0
    picture = tmp_path / "s.png"
    assert gan("sample", out, "--backend", "onnxruntime", "-n", "4", "--out", picture).exit_code == 0
    from PIL import Image

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
    result = gan(
        "bench", run_dir / "export", "--arch", spec, "--quick",
        "--backends", "eager,eager-onednn,onnxruntime", "--batch-size", "4", "--json", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(report.read_text())["results"]
    ok = {(r["workload"], r["backend"]) for r in rows if r["status"] == "ok"}
    assert {("forward G", "onnxruntime"), ("forward G", "eager"), ("forward G", "eager-onednn")} <= ok
    if load_architecture(spec)[0].has_discriminator:
        assert {("train iteration", "eager"), ("train iteration", "eager-onednn")} <= ok
    else:
        d_rows = [r for r in rows if r["workload"] != "forward G"]
        assert d_rows and all(r["status"] == "n/a" and "no discriminator" in r["reason"] for r in d_rows)


def test_bench_without_the_architecture_measures_the_artifacts_alone(imported, tmp_path):
    spec, run_dir, _ = imported
    report = tmp_path / "bench.json"
    result = gan(
        "bench", run_dir / "export", "--quick", "--workloads", "forward", "--batch-size", "2",
        "--json", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {(r["workload"], r["backend"]): r for r in json.loads(report.read_text())["results"]}
    assert rows[("forward G", "onnxruntime")]["status"] == "ok"
    assert rows[("forward G", "eager")]["status"] == "unavailable"
    assert "--arch" in rows[("forward G", "eager")]["reason"]


def test_a_28x28_user_architecture_trains_with_logits(tmp_path, data_dir):
    spec = f"{EXAMPLE}:SMALL28"
    out = tmp_path / "run"
    result = gan(
        "train", "--arch", spec, "--epochs", "1", "--limit", "256", "--no-compile", "--out", out,
        data_dir=data_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    losses = (out / "losses.csv").read_text().splitlines()
    assert len(losses) == 1 + 4 and all("nan" not in line for line in losses)
    assert json.loads((out / "config.json").read_text())["arch"] == spec


def test_a_user_architecture_with_logits_trains_on_onednn(tmp_path, data_dir):
    out = tmp_path / "run"
    result = gan(
        "train", "--arch", f"{EXAMPLE}:SMALL28", "--epochs", "1", "--limit", "256", "--no-compile",
        "--gemm", "onednn", "--out", out, data_dir=data_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "GEMM engine: onednn" in result.output
    losses = (out / "losses.csv").read_text().splitlines()
    assert len(losses) == 1 + 4 and all("nan" not in line for line in losses)
    assert json.loads((out / "config.json").read_text())["gemm"] == "onednn"


def test_an_installed_package_registers_an_architecture(tmp_path, monkeypatch):
    """A test-only distribution: a dist-info with the entry point, on sys.path, as pip would lay it."""
    package = tmp_path / "tiny_gan_pkg.py"
    package.write_text(
        textwrap.dedent(
            """
            from torch import nn
            from gan import Architecture

            ARCH = Architecture(
                name="tiny", generator=lambda: nn.Sequential(nn.Linear(4, 12), nn.Unflatten(1, (3, 2, 2))),
                discriminator=None, z_shape=(4,), image_shape=(3, 2, 2),
            )
            """
        )
    )
    dist = tmp_path / "tiny_gan-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-gan\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gan_toolkit.architectures]\ntiny-gan = tiny_gan_pkg:ARCH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    architecture, ref = load_architecture("tiny-gan")
    assert architecture.name == "tiny" and ref.spec == "tiny-gan"
    assert "tiny-gan" in runner.invoke(app, ["train", "--arch", "nope"]).output


def test_a_users_export_bench_and_cli_modules_do_not_shadow_the_toolkit(tmp_path):
    for name in ("export", "bench", "cli"):
        (tmp_path / f"{name}.py").write_text("raise RuntimeError('the user module was imported')\n")
    script = textwrap.dedent(
        f"""
        import torch
        from gan.architectures import load_architecture
        from gan.export.exporter import export_models
        from gan.bench.runner import BenchConfig, run_bench

        arch, ref = load_architecture("{EXAMPLE}:GENERATOR_ONLY")
        g, d = arch.build(0)
        result = export_models(arch, g, d, "out", arch_ref=ref, exporter="torchscript")
        assert result.passed and result.manifest["models"].keys() == {{"generator"}}
        print("OK", run_bench.__module__, BenchConfig.__module__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK gan.bench.runner gan.bench.runner" in result.stdout


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("specs")
    (tmp / "bad.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            from gan import Architecture

            NOT_AN_ARCH = 42

            def broken():
                raise ValueError("channels must be even")

            RAISES = Architecture(name="raises", generator=broken, discriminator=None,
                                  z_shape=(4,), image_shape=(1, 28, 28))
            """
        )
    )
    g_path, d_path = save_weights(f"{EXAMPLE}:TINY_DCGAN64", tmp)
    state = torch.load(g_path, weights_only=True)
    torch.save({**state, "main.0.weight": torch.zeros(3)}, tmp / "wrong_shape.pth")
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp / "wrong_keys.pth")
    torch.save(load_architecture(f"{EXAMPLE}:TINY_DCGAN64")[0].generator(), tmp / "pickled_module.pth")
    return tmp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "{tmp}/missing.py:ARCH"], "missing.py does not exist"),
        (["--arch", "{tmp}/bad.py:NOPE"], "has no attribute 'NOPE'"),
        (["--arch", "{tmp}/bad.py:NOT_AN_ARCH"], "is a int, not a gan.Architecture"),
        (["--arch", "{tmp}/bad.py:RAISES"], "its generator factory raised ValueError: channels must be even"),
        (["--generator", "{tmp}/wrong_keys.pth"], "unexpected key 'extra.weight'"),
        (["--generator", "{tmp}/wrong_shape.pth"], "'main.0.weight' has shape (3,), the model expects"),
        (["--generator", "{tmp}/pickled_module.pth"], "holds more than plain tensors, so it was not loaded"),
        (["--arch", f"{EXAMPLE}:GENERATOR_ONLY", "--discriminator", "{tmp}/netD.pth"], "is generator-only"),
    ],
)
def test_import_refuses_bad_input_and_writes_nothing(user_files, args, message):
    defaults = {"--arch": f"{EXAMPLE}:TINY_DCGAN64", "--generator": str(user_files / "netG.pth")}
    given = dict(zip(args[::2], (a.format(tmp=user_files) for a in args[1::2])))
    options = [x for k, v in {**defaults, **given}.items() for x in (k, v)]
    out = user_files / "run"
    assert_user_error(gan("import", out, *options), message)
    assert not out.exists()


def test_train_refuses_an_image_shape_that_does_not_fit_the_dataset(tmp_path, data_dir):
    out = tmp_path / "run"
    result = gan("train", "--arch", f"{EXAMPLE}:TINY_DCGAN64", "--out", out, data_dir=data_dir)
    assert_user_error(result, "makes images of shape (3, 64, 64), but fashion-mnist has (1, 28, 28)")
    assert not out.exists()


def test_export_of_a_weights_file_points_to_import(user_files):
    assert_user_error(gan("export", user_files / "netG.pth"), "is a file, not a run dir")
    assert_user_error(gan("export", user_files / "netG.pth"), "gan import RUN_DIR --arch SPEC --generator")

"""gan export / verify / sample through the CLI, including every bad input the issue names."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gan.cli import app
from tests.test_cli_train import assert_user_error

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("cli") / "run"
    result = runner.invoke(
        app,
        ["train", "--limit", "128", "--epochs", "1", "--no-compile", "--out", str(path)],
        env={"GAN_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(path)])
    assert result.exit_code == 0, result.output
    assert "27/27 comparisons within tolerance; all match" in result.output
    assert result.output.count("TorchScript (torch.jit.trace/save) as deprecated") == 1
    return path


def test_verify_passes(run_dir):
    result = runner.invoke(app, ["verify", str(run_dir / "export")])
    assert result.exit_code == 0, result.output
    assert "18/18 comparisons within tolerance" in result.output


def test_verify_exits_1_on_mismatch(run_dir, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(run_dir / "export", copy)
    golden = dict(np.load(copy / "golden.npz"))
    golden["generator.output"] = golden["generator.output"] + 1e-3
    with open(copy / "golden.npz", "wb") as f:
        np.savez(f, **golden)
    manifest = json.loads((copy / "manifest.json").read_text())
    from gan.hashing import sha256_file

    manifest["files"]["golden.npz"] = sha256_file(copy / "golden.npz")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["verify", str(copy)])
    assert result.exit_code == 1, result.output
    assert "mismatch: generator on torchscript (cpu), batch 1" in result.output
    assert "comparisons FAILED" in result.output


def test_sample_is_identical_across_backends(run_dir, tmp_path):
    pictures = []
    for backend in ("eager", "torchscript", "onnxruntime"):
        out = tmp_path / f"{backend}.png"
        result = runner.invoke(
            app, ["sample", str(run_dir), "--backend", backend, "-n", "16", "--seed", "3", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        pictures.append(np.asarray(Image.open(out)))
    assert pictures[0].shape == (2 * (4 * 30 + 2),) * 2  # 4x4 grid of 28px + 2px padding, scaled 2x
    for picture in pictures[1:]:
        assert np.abs(picture.astype(int) - pictures[0]).max() <= 1
    other = tmp_path / "other.png"
    runner.invoke(
        app,
        [
            "sample",
            str(run_dir / "export" / "generator.onnx"),
            "--backend",
            "onnxruntime",
            "-n",
            "16",
            "--seed",
            "4",
            "--out",
            str(other),
        ],
    )
    assert not np.array_equal(np.asarray(Image.open(other)), pictures[0])


def test_missing_run_dir(tmp_path):
    assert_user_error(runner.invoke(app, ["export", str(tmp_path / "nope")]), "does not exist")


def test_checkpoint_with_mismatched_shapes(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("export"))
    meta = json.loads((copy / "checkpoint.json").read_text())
    meta["config"]["arch"] = "dcgan"
    (copy / "checkpoint.json").write_text(json.dumps(meta))
    assert_user_error(
        runner.invoke(app, ["export", str(copy)]),
        "the generator weights do not fit DCGANGenerator: missing key 'project.weight'",
    )


@pytest.mark.parametrize("name", ["generator.onnx", "generator.pt"])
def test_corrupt_artifact_to_sample_and_verify(run_dir, tmp_path, name):
    copy = tmp_path / "export"
    shutil.copytree(run_dir / "export", copy)
    (copy / name).write_bytes((copy / name).read_bytes()[:200])
    backend = "onnxruntime" if name.endswith(".onnx") else "torchscript"
    assert_user_error(
        runner.invoke(app, ["sample", str(copy / name), "--backend", backend]), "corrupt or truncated"
    )
    assert_user_error(runner.invoke(app, ["verify", str(copy)]), f"{name} changed since export")


def test_export_dir_without_manifest(tmp_path):
    assert_user_error(runner.invoke(app, ["verify", str(tmp_path)]), "has no manifest.json")


def test_unknown_backend_and_exporter(run_dir):
    assert_user_error(
        runner.invoke(app, ["sample", str(run_dir), "--backend", "tensorrt"]), "unknown backend 'tensorrt'"
    )
    assert_user_error(
        runner.invoke(app, ["export", str(run_dir), "--exporter", "jax", "--force"]), "unknown exporter 'jax'"
    )


def test_existing_export_dir_refused(run_dir):
    assert_user_error(runner.invoke(app, ["export", str(run_dir)]), "already exists; pass --force")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(run_dir):
    assert_user_error(
        runner.invoke(app, ["verify", str(run_dir / "export"), "--device", "cuda"]),
        "--device cuda was asked for, but",
    )

"""`gan sample`: the same seed draws the same picture through every backend; a stale, corrupt or
missing export is one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import assert_user_error, copy_export, gan
from PIL import Image


def test_sample_is_identical_across_backends(exported_run, tmp_path):
    pictures = []
    for backend in ("eager", "torchscript", "onnxruntime"):
        out = tmp_path / f"{backend}.png"
        result = gan("sample", exported_run, "--backend", backend, "-n", "16", "--seed", "3", "--out", out)
        assert result.exit_code == 0, result.output
        pictures.append(np.asarray(Image.open(out)))
    assert pictures[0].shape == (2 * (4 * 30 + 2),) * 2  # 4x4 grid of 28px + 2px padding, scaled 2x
    for picture in pictures[1:]:
        assert np.abs(picture.astype(int) - pictures[0]).max() <= 1
    other = tmp_path / "other.png"
    onnx_file = exported_run / "export" / "generator.onnx"
    result = gan("sample", onnx_file, "--backend", "onnxruntime", "-n", "16", "--seed", "4", "--out", other)
    assert result.exit_code == 0, result.output
    assert not np.array_equal(np.asarray(Image.open(other)), pictures[0])


def test_a_stale_export_is_refused(exported_run, tmp_path, data_dir):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    result = gan("train", "--resume", run, "--epochs", "2", "--no-compile", data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert_user_error(gan("sample", run, "--backend", "onnxruntime"), "export is stale")
    assert_user_error(gan("eval", run, "--backend", "onnxruntime", data_dir=data_dir), "export is stale")


@pytest.mark.parametrize("name", ["generator.onnx", "generator.pt"])
def test_a_changed_artifact_is_named_by_every_reader(exported_run, tmp_path, name):
    copy = copy_export(exported_run, tmp_path)
    (copy / name).write_bytes((copy / name).read_bytes()[:200])
    backend = "onnxruntime" if name.endswith(".onnx") else "torchscript"
    assert_user_error(gan("sample", copy / name, "--backend", backend), "corrupt or truncated")
    for command in (["verify", copy], ["sample", copy, "--backend", backend], ["bench", copy, "--quick"]):
        assert_user_error(gan(*command), f"{name} changed since export")


@pytest.mark.parametrize("command", ["verify", "sample", "bench"])
def test_a_dir_without_a_manifest(tmp_path, command):
    message = "is neither a run dir" if command == "sample" else "has no manifest.json"
    assert_user_error(gan(command, tmp_path), message)


def test_unknown_backend_and_exporter(exported_run):
    assert_user_error(gan("sample", exported_run, "--backend", "tensorrt"), "unknown backend 'tensorrt'")
    assert_user_error(gan("export", exported_run, "--exporter", "jax", "--force"), "unknown exporter 'jax'")


def test_export_of_a_missing_run_dir_or_mismatched_weights(exported_run, tmp_path):
    import json

    assert_user_error(gan("export", tmp_path / "nope"), "does not exist")
    copy = tmp_path / "run"
    shutil.copytree(exported_run, copy, ignore=shutil.ignore_patterns("export"))
    meta = json.loads((copy / "checkpoint.json").read_text())
    meta["config"]["arch"] = "dcgan"
    (copy / "checkpoint.json").write_text(json.dumps(meta))
    assert_user_error(
        gan("export", copy), "the generator weights do not fit DCGANGenerator: missing key 'project.weight'"
    )

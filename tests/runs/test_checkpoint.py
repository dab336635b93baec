"""Checkpoints are checked on load: a missing, truncated or edited one is one line, before any
epoch runs; --resume refuses options it would ignore."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import assert_user_error, gan


def test_resume_missing_run_dir(tmp_path):
    assert_user_error(gan("train", "--resume", tmp_path / "nope"), "does not exist")


def test_resume_dir_without_checkpoint(tmp_path):
    assert_user_error(gan("train", "--resume", tmp_path), "has no checkpoint.json")


def test_resume_corrupt_checkpoint(trained_run, tmp_path, data_dir):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tensors = next(run.glob("checkpoint-epoch*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:-100])
    assert_user_error(
        gan("train", "--resume", run, "--epochs", "2", data_dir=data_dir),
        "do not match their sha256: corrupt or truncated",
    )
    (run / "checkpoint.json").write_text("{not json")
    assert_user_error(
        gan("train", "--resume", run, "--epochs", "2", data_dir=data_dir), "checkpoint.json is corrupt"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epoch", -1, "epoch must be a whole number >= 0"),
        ("epoch", 1.5, "epoch must be a whole number >= 0"),
        ("config", [], "config must be an object"),
        ("tensors", "../../x.safetensors", "must name a checkpoint-epochNNN.safetensors file"),
        ("rng_state", "AAAA", "RNG state"),
        ("fixed_noise", [[0.0]], "fixed noise"),
    ],
)
def test_edited_checkpoint_fields_are_refused_on_load(trained_run, tmp_path, field, value, message):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    meta = json.loads((run / "checkpoint.json").read_text())
    meta[field] = value
    (run / "checkpoint.json").write_text(json.dumps(meta))
    assert_user_error(gan("train", "--resume", run, "--epochs", "3", "--no-compile"), message)


def test_resume_refuses_options_it_would_ignore(trained_run):
    assert_user_error(
        gan("train", "--resume", trained_run, "--lr", "0.1", "--epochs", "5"), "--lr cannot change"
    )

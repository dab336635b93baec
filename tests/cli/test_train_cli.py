"""`gan train`, `gan data fetch` through the command line: a run and its resume, and one line with
exit 2 for every user mistake, with nothing written."""

from __future__ import annotations

import pytest
from helpers import assert_user_error, gan, without_cuda

from gan.train.step import GanStep


def test_train_and_resume_through_cli(tmp_path, data_dir):
    out = tmp_path / "run"
    args = ["--no-compile", "--gemm", "aten"]
    result = gan("train", "--limit", "128", "--epochs", "1", *args, "--out", out, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert "done: 1 epochs" in result.output
    result = gan("train", "--resume", out, "--epochs", "2", *args, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert (out / "samples" / "epoch_002.png").exists()
    assert_user_error(
        gan("train", "--limit", "128", "--epochs", "1", "--out", out, data_dir=data_dir),
        "already exists; use --resume",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
        (["--arch", "resnet"], "unknown architecture 'resnet'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (
            ["--limit", "100", "--batch-size", "512"],
            "--batch-size 512 is larger than the 100 training images",
        ),
    ],
)
def test_bad_train_arguments(tmp_path, args, message, data_dir):
    assert_user_error(gan("train", "--out", tmp_path / "r", *args, data_dir=data_dir), message)
    assert not (tmp_path / "r").exists()


@without_cuda
@pytest.mark.parametrize("command", [["train"], ["verify", "{run}/export"], ["bench"]])
def test_cuda_without_cuda_exits_3(command, exported_run, tmp_path, data_dir):
    """A machine without what was asked for is not a usage error: CI can tell the two apart."""
    args = [a.format(run=exported_run) for a in command]
    extra = ["--out", tmp_path / "r"] if command == ["train"] else []
    result = gan(*args, "--device", "cuda", *extra, data_dir=data_dir)
    assert_user_error(result, "--device cuda was asked for, but", exit_code=3)


def test_unreadable_data_dir(tmp_path):
    bad = tmp_path / "data.txt"
    bad.write_text("not a directory")
    assert_user_error(gan("train", "--out", tmp_path / "r", "--data-dir", bad), "is not a directory")


def test_data_fetch_from_cache(data_dir):
    result = gan("data", "fetch", "--dataset", "fashion-mnist", data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert "60000 train + 10000 test images, from cache" in result.output


def test_ctrl_c_in_the_first_epoch_says_no_checkpoint_exists(tmp_path, data_dir, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GanStep, "eager", interrupted)
    result = gan("train", "--limit", "64", "--no-compile", "--out", tmp_path / "r", data_dir=data_dir)
    assert result.exit_code == 130
    assert "no epoch had completed, so there is no checkpoint to resume" in " ".join(result.output.split())

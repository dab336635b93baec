"""Every user mistake gets one line on stderr and exit code 2, never a traceback."""

import pytest
import torch
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()


def gan(*args: str, data_dir=None):
    env = {"GAN_DATA_DIR": str(data_dir)} if data_dir else {}
    return runner.invoke(app, list(args), env=env)


def assert_user_error(result, message: str):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert message in text, text


def test_train_and_resume_through_cli(tmp_path, data_dir):
    out = tmp_path / "run"
    result = gan(
        "train", "--limit", "128", "--epochs", "1", "--no-compile", "--out", str(out), data_dir=data_dir
    )
    assert result.exit_code == 0, result.output
    assert "done: 1 epochs" in result.output
    result = gan("train", "--resume", str(out), "--epochs", "2", "--no-compile", data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert (out / "samples" / "epoch_002.png").exists()
    assert_user_error(
        gan("train", "--limit", "128", "--epochs", "1", "--out", str(out), data_dir=data_dir),
        "already exists; use --resume",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
        (["--arch", "resnet"], "unknown architecture 'resnet'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_train_arguments(tmp_path, args, message, data_dir):
    result = gan("train", "--out", str(tmp_path / "r"), *args, data_dir=data_dir)
    assert_user_error(result, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path, data_dir):
    assert_user_error(
        gan("train", "--device", "cuda", "--out", str(tmp_path / "r"), data_dir=data_dir),
        "--device cuda was asked for, but",
    )


def test_resume_missing_run_dir(tmp_path):
    assert_user_error(gan("train", "--resume", str(tmp_path / "nope")), "does not exist")


def test_resume_dir_without_checkpoint(tmp_path):
    assert_user_error(gan("train", "--resume", str(tmp_path)), "has no checkpoint.json")


def test_resume_corrupt_checkpoint(tmp_path, data_dir):
    out = tmp_path / "run"
    assert (
        gan(
            "train", "--limit", "64", "--epochs", "1", "--no-compile", "--out", str(out), data_dir=data_dir
        ).exit_code
        == 0
    )
    tensors = next(out.glob("checkpoint-epoch*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:-100])
    assert_user_error(
        gan("train", "--resume", str(out), "--epochs", "2", data_dir=data_dir),
        "do not match their sha256: corrupt or truncated",
    )
    (out / "checkpoint.json").write_text("{not json")
    assert_user_error(
        gan("train", "--resume", str(out), "--epochs", "2", data_dir=data_dir), "checkpoint.json is corrupt"
    )


def test_unreadable_data_dir(tmp_path):
    bad = tmp_path / "data.txt"
    bad.write_text("not a directory")
    assert_user_error(
        gan("train", "--out", str(tmp_path / "r"), "--data-dir", str(bad)), "is not a directory"
    )


def test_data_fetch_from_cache(data_dir):
    result = gan("data", "fetch", "--dataset", "fashion-mnist", data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert "60000 train + 10000 test images, from cache" in result.output


def test_help_explains():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "--resume" in result.output and "Ctrl-C" in result.output

"""Training what people bring: a class-conditional GAN on its own image folder with the hinge
loss, the built-in conditional MLP, and a WGAN-GP critic; resumed bit for bit; the losses a D
cannot take refused in one line."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import QUIET, REPO, assert_user_error, fresh_models, gan, gan_step, image_folder, torchrun
from PIL import Image

from gan.report.pictures import read_losses
from gan.runs.checkpoint import load_checkpoint
from gan.train.config import TrainConfig
from gan.train.loop import train
from gan.train.loss import GanLoss

COLOUR = f"{REPO}/examples/conditional_dcgan.py:TINY_COLOUR_CDCGAN"
WGAN = f"{REPO}/examples/wgan_gp.py:TINY_WGAN_GP"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def clothes(tmp_path_factory, data_dir):
    """640 colour 3x32x32 pictures in 10 class subfolders, and a cache dir for them."""
    root = tmp_path_factory.mktemp("clothes")
    return image_folder(root / "images", data_dir, per_class=64), root / "cache"


def colour_run(out, clothes, epochs, resume=False):
    images, cache = clothes
    config = TrainConfig(arch=COLOUR, dataset=str(images), epochs=epochs, compile=False, gemm="aten")
    return train(config, out, CPU, data_dir=cache, resume=resume, console=QUIET)


def test_a_conditional_gan_trains_on_its_folder_with_hinge_loss(tmp_path, clothes):
    result = colour_run(tmp_path / "run", clothes, epochs=1)
    run = result.run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["loss"] == "hinge" and config["n_critic"] == 1 and config["train_images"] == 640
    rows = read_losses(run / "losses.csv")
    assert len(rows) == 10 and all(r["loss_d"] >= 0 for r in rows)  # hinge D loss is never negative
    assert load_checkpoint(run).epoch == 1
    grid = Image.open(run / "samples" / "epoch_001.png")
    # One row of 8 per class: 10 rows of 32-pixel images with 2-pixel gaps, scaled 2x.
    assert grid.size == ((8 * 34 + 2) * 2, (10 * 34 + 2) * 2) and grid.mode == "RGB"


# Three short runs (~5 s): the slow tier, which CI runs too.
@pytest.mark.slow
def test_a_conditional_run_resumes_bit_for_bit(tmp_path, clothes):
    straight = colour_run(tmp_path / "straight", clothes, epochs=2).run_dir
    colour_run(tmp_path / "resumed", clothes, epochs=1)
    resumed = colour_run(tmp_path / "resumed", clothes, epochs=2, resume=True).run_dir
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    for key in a.generator:
        assert torch.equal(a.generator[key], b.generator[key]), key
    for key in a.discriminator:
        assert torch.equal(a.discriminator[key], b.discriminator[key]), key
    assert read_losses(straight / "losses.csv") == read_losses(resumed / "losses.csv")


def test_the_builtin_cgan_draws_one_row_per_class(tmp_path, data_dir):
    result = gan(
        "train",
        "--arch",
        "cgan",
        "--epochs",
        "1",
        "--limit",
        "320",
        "--no-compile",
        "--out",
        tmp_path / "run",
        data_dir=data_dir,
    )
    assert result.exit_code == 0, result.output
    grid = Image.open(tmp_path / "run" / "samples" / "epoch_001.png")
    assert grid.size == ((8 * 30 + 2) * 2, (10 * 30 + 2) * 2)
    assert load_checkpoint(tmp_path / "run").fixed_noise.shape == (80, 100)


def test_wgan_gp_trains_a_critic_with_n_critic_steps(tmp_path, data_dir):
    result = gan(
        "train",
        "--arch",
        WGAN,
        "--epochs",
        "1",
        "--limit",
        "640",
        "--out",
        tmp_path / "run",
        data_dir=data_dir,
    )
    assert result.exit_code == 0, result.output
    assert "training with the eager step" in result.output  # its G has BatchNorm; and the penalty:
    _, generator, _ = fresh_models("mlp")
    _, _, critic = fresh_models(WGAN)
    step = gan_step(generator, critic, loss=GanLoss("wgan-gp", "logits", n_critic=5), compile=True)
    assert "gradient penalty takes a second backward" in step.eager_reason
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss"] == "wgan-gp" and config["n_critic"] == 5
    rows = read_losses(tmp_path / "run" / "losses.csv")
    assert len(rows) == 10 and all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in rows)
    assert (tmp_path / "run" / "losses.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("arch", "loss", "message"),
    [
        ("mlp", "hinge", "the hinge loss needs D's raw score, but this D ends in a sigmoid"),
        (
            WGAN,
            "bce",
            "this D is declared a WGAN critic (loss 'wgan-gp'); BCE would read its unbounded scores",
        ),
    ],
)
def test_a_loss_the_d_cannot_take_is_refused(tmp_path, data_dir, arch, loss, message):
    out = tmp_path / "run"
    result = gan("train", "--arch", arch, "--loss", loss, "--out", out, data_dir=data_dir)
    assert_user_error(result, message)
    assert not out.exists()


@pytest.mark.slow
def test_two_ranks_train_the_conditional_folder_run_as_one_process(tmp_path, clothes, data_dir):
    images, cache = clothes
    one = colour_run(tmp_path / "one", clothes, epochs=1).run_dir
    two = torchrun(
        "--arch",
        COLOUR,
        "--data",
        images,
        "--epochs",
        "1",
        "--no-compile",
        "--gemm",
        "aten",
        "--data-dir",
        cache,
        "--out",
        tmp_path / "two",
        data_dir=data_dir,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = load_checkpoint(one), load_checkpoint(tmp_path / "two")
    difference = max(float((a.generator[k] - b.generator[k]).abs().max()) for k in a.generator)
    print(f"max abs G weight difference, 2 ranks vs 1 process: {difference:.2e}")
    assert difference <= 1e-4


@pytest.mark.slow
def test_a_folder_trained_conditional_gan_exports_verifies_and_benches(tmp_path, clothes, data_dir):
    run = colour_run(tmp_path / "run", clothes, epochs=1).run_dir
    exported = gan("export", run, data_dir=data_dir)
    assert exported.exit_code == 0, exported.output
    assert json.loads((run / "export" / "manifest.json").read_text())["loss"] == "hinge"
    verified = gan("verify", run / "export", data_dir=data_dir)
    assert verified.exit_code == 0, verified.output
    bench_json = tmp_path / "bench.json"
    benched = gan(
        "bench",
        run / "export",
        "--quick",
        "--batch-size",
        "16",
        "--workloads",
        "train",
        "--backends",
        "eager",
        "--arch",
        COLOUR,
        "--json",
        bench_json,
        data_dir=data_dir,
    )
    assert benched.exit_code == 0, benched.output
    rows = json.loads(bench_json.read_text())["results"]
    assert {r["workload"] for r in rows if r["status"] == "ok"} == {
        "train D step",
        "train G step",
        "train iteration",
    }

"""`gan train`'s loop: every artifact, the partial last batch, bit-identical resume, NaN stops,
Ctrl-C keeps a consistent checkpoint, and an existing run dir is never overwritten."""

from pathlib import Path

import pytest
import torch
from helpers import CPU, QUIET

from gan.errors import GanError
from gan.report.pictures import read_losses
from gan.runs.checkpoint import load_checkpoint
from gan.train.config import TrainConfig
from gan.train.loop import train
from gan.train.step import GanStep


def run(tmp_path: Path, data_dir, name="run", **overrides):
    config = TrainConfig(**{"limit": 640, "epochs": 2, "compile": False, "gemm": "aten", **overrides})
    return train(config, tmp_path / name, CPU, data_dir=data_dir, console=QUIET)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = load_checkpoint(run_dir)
    return {
        **{f"g.{k}": v for k, v in checkpoint.generator.items()},
        **{f"d.{k}": v for k, v in checkpoint.discriminator.items()},
    }


def test_short_real_run_writes_every_artifact(tmp_path, data_dir):
    result = run(tmp_path, data_dir)
    run_dir = result.run_dir
    assert result.epochs_completed == 2 and not result.interrupted
    for name in (
        "config.json",
        "checkpoint.json",
        "real_samples.png",
        "progress.gif",
        "losses.csv",
        "losses.png",
        "samples/epoch_001.png",
        "samples/epoch_002.png",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    rows = read_losses(run_dir / "losses.csv")
    assert len(rows) == 2 * 10  # 640 images / 64 per step, per epoch
    assert [r["step"] for r in rows] == list(range(1, 21))
    assert all(0 < r["d_x"] < 1 and 0 < r["d_g_z"] < 1 and r["loss_d"] > 0 for r in rows)
    # D learns to tell real from fake on real data within a few steps.
    assert rows[-1]["d_x"] > rows[-1]["d_g_z"]
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint.epoch == 2 and checkpoint.step == 20
    assert checkpoint.fixed_noise.shape == (64, 100)
    assert list(run_dir.glob("checkpoint-epoch*.safetensors")) == [
        run_dir / "checkpoint-epoch002.safetensors"
    ]


def test_partial_last_batch_is_trained(tmp_path, data_dir):
    result = run(tmp_path, data_dir, limit=100, epochs=1)
    assert [r["step"] for r in read_losses(result.run_dir / "losses.csv")] == [1, 2]


@pytest.mark.parametrize(
    ("arch", "compile", "gemm", "limit"),
    [
        ("mlp", False, "aten", 320),
        pytest.param("mlp", True, "aten", 320, marks=pytest.mark.slow),  # a cold compile: ~10 s
        # Convolutions and BatchNorm; fewer steps, and still the slowest of these.
        pytest.param("dcgan", False, "aten", 128, marks=pytest.mark.slow),
        ("mlp", False, "onednn", 320),
    ],
)
def test_resume_equals_uninterrupted_run(tmp_path, data_dir, arch, compile, gemm, limit):
    """Both runs name their GEMM engine: two engines round differently, and which one `auto`
    measures faster is the machine's business. The resume itself says auto, so it must keep the
    run's engine to land on the same bits."""
    common = {"arch": arch, "compile": compile, "gemm": gemm, "limit": limit}
    straight = run(tmp_path, data_dir, "straight", epochs=3, **common)
    run(tmp_path, data_dir, "resumed", epochs=1, **common)
    config = TrainConfig(epochs=3, compile=compile)  # only epochs/compile/gemm are taken on resume
    train(config, tmp_path / "resumed", CPU, data_dir=data_dir, resume=True, console=QUIET)
    a, b = weights(straight.run_dir), weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert read_losses(straight.run_dir / "losses.csv") == read_losses(tmp_path / "resumed" / "losses.csv")


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, data_dir, monkeypatch):
    original = GanStep.eager
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        stats = original(self, *args, **kwargs)
        return stats * float("nan") if calls["n"] > 10 else stats  # epoch 2 diverges

    monkeypatch.setattr(GanStep, "eager", poisoned)
    with pytest.raises(GanError, match=r"NaN/inf at epoch 2, step \d+; the checkpoint of epoch 1"):
        run(tmp_path, data_dir)
    assert load_checkpoint(tmp_path / "run").epoch == 1


def test_ctrl_c_keeps_consistent_checkpoint(tmp_path, data_dir, monkeypatch):
    original = GanStep.eager
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GanStep, "eager", interrupted)
    result = run(tmp_path, data_dir, epochs=3)
    assert result.interrupted and result.epochs_completed == 1
    assert load_checkpoint(result.run_dir).epoch == 1
    assert len(read_losses(result.run_dir / "losses.csv")) == 10


def test_existing_run_dir_is_not_overwritten(tmp_path, trained_run, data_dir):
    before = sorted(p.name for p in trained_run.iterdir())
    with pytest.raises(GanError, match="already exists; use --resume"):
        train(TrainConfig(limit=64, epochs=1), trained_run, CPU, data_dir=data_dir, console=QUIET)
    assert sorted(p.name for p in trained_run.iterdir()) == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(GanError, match="will not delete"):
        train(TrainConfig(limit=64, epochs=1), other, CPU, data_dir=data_dir, force=True, console=QUIET)
    assert (other / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "--epochs must be at least 1"),
        ({"batch_size": 0}, "--batch-size must be"),
        ({"lr": -1.0}, "--lr must be positive"),
        ({"limit": 0}, "--limit must be at least 1"),
    ],
)
def test_bad_config(overrides, message):
    with pytest.raises(GanError, match=message):
        TrainConfig(**overrides)


def test_drawings_wait_while_they_cost_much_of_an_epoch(tmp_path):
    """losses.png is redrawn after an epoch only when the last drawing took under 5% of it, and
    always brought up to date when training stops."""
    from gan.train.artifacts import ProgressDrawings

    rows = [{"epoch": 1, "step": s, "loss_d": 1.0, "loss_g": 2.0, "d_x": 0.6, "d_g_z": 0.4} for s in (1, 2)]
    drawings = ProgressDrawings(tmp_path, steps_per_epoch=2)
    drawings.after_epoch(rows, epoch_seconds=0.01)  # the first epoch always draws: nothing to go by
    first = (tmp_path / "losses.png").read_bytes()
    assert drawings.cost_s > 0 and not drawings.stale
    more = rows + [{**rows[0], "epoch": 2, "step": 3, "loss_d": 5.0}]
    drawings.after_epoch(more, epoch_seconds=drawings.cost_s * 10)  # would be 10% of the epoch
    assert drawings.stale and (tmp_path / "losses.png").read_bytes() == first
    drawings.finish(more)
    assert not drawings.stale and (tmp_path / "losses.png").read_bytes() != first
    drawings.after_epoch(more, epoch_seconds=drawings.cost_s * 100)  # 1%: drawn at once
    assert not drawings.stale

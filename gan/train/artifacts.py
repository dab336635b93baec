"""What `gan train` writes into a run dir besides the checkpoint: config.json and the real-image
grid at the start; after each epoch the fixed-noise grid, progress.gif, losses.csv and losses.png,
and with --eval-every, fcd.csv and fcd.png. Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch
from torch import nn

from gan.data.images import normalize
from gan.files.atomic import write_text
from gan.files.ownership import RUN_FORMAT
from gan.report.pictures import plot_fcd, plot_losses, save_gif, save_grid
from gan.train.step import STAT_NAMES

LOSS_COLUMNS = ("epoch", "step", *STAT_NAMES)


def write_run_start(run_dir: Path, meta: dict, images: torch.Tensor, grid_size: int, seed: int) -> None:
    """config.json (the run's settings, marked as the toolkit's) and, once, real_samples.png."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.json", json.dumps({"format": RUN_FORMAT, **meta}, indent=2))
    if not (run_dir / "real_samples.png").exists():
        # A seeded sample of its own, so the picture never consumes the training RNG.
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        save_grid(normalize(images[order[:grid_size].to(images.device)]), run_dir / "real_samples.png")


@torch.no_grad()
def write_epoch_artifacts(
    run_dir: Path,
    epoch: int,
    generator: nn.Module,
    fixed_noise: torch.Tensor,
    loss_rows: list[dict],
    steps_per_epoch: int,
) -> None:
    generator.eval()
    samples = generator(fixed_noise)
    generator.train()
    save_grid(samples, run_dir / "samples" / f"epoch_{epoch:03d}.png")
    save_gif(sorted((run_dir / "samples").glob("epoch_*.png")), run_dir / "progress.gif")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in loss_rows:
        writer.writerow({k: int(row[k]) if k in ("epoch", "step") else f"{row[k]:.6g}" for k in LOSS_COLUMNS})
    write_text(run_dir / "losses.csv", buffer.getvalue())
    plot_losses(loss_rows, steps_per_epoch, run_dir / "losses.png")


def record_fcd(run_dir: Path, epoch: int, fcd: float) -> None:
    """Adds (or replaces) this epoch's FCD in fcd.csv, dropping rows of epochs a resume redoes."""
    path = run_dir / "fcd.csv"
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]] if path.exists() else []
    rows = [(int(e), float(v)) for e, v in rows if int(e) < epoch] + [(epoch, fcd)]
    write_text(path, "epoch,fcd\n" + "".join(f"{e},{v:.4f}\n" for e, v in rows))
    plot_fcd(rows, run_dir / "fcd.png")


def format_stats(stats: dict[str, float]) -> str:
    """The tutorial's progress line: both losses and D's mean outputs on real and fake."""
    return (
        f"Loss_D {stats['loss_d']:.3f}  Loss_G {stats['loss_g']:.3f}  "
        f"D(x) {stats['d_x']:.3f}  D(G(z)) {stats['d_g_z']:.3f}"
    )

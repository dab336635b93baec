"""What `gan train` writes into a run dir besides the checkpoint: config.json and the real-image
grid at the start; after each epoch the fixed-noise grid and losses.csv (and with --eval-every,
fcd.csv and fcd.png); progress.gif and losses.png whenever drawing them is cheap against an epoch,
and always when training stops. Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
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
def write_epoch_record(
    run_dir: Path,
    epoch: int,
    generator: nn.Module,
    fixed_inputs: tuple[torch.Tensor, ...],
    loss_rows: list[dict],
    nrow: int | None = None,
) -> None:
    """What every epoch leaves, in ~0.1 s: its fixed-noise grid (`nrow` images a row; a
    conditional G's has one class per row) and the whole losses.csv."""
    generator.eval()
    samples = generator(*fixed_inputs)
    generator.train()
    save_grid(samples, run_dir / "samples" / f"epoch_{epoch:03d}.png", nrow=nrow)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in loss_rows:
        writer.writerow({k: int(row[k]) if k in ("epoch", "step") else f"{row[k]:.6g}" for k in LOSS_COLUMNS})
    write_text(run_dir / "losses.csv", buffer.getvalue())


def draw_progress(run_dir: Path, loss_rows: list[dict], steps_per_epoch: int) -> None:
    """progress.gif and losses.png from what the epochs recorded. Matplotlib takes ~0.5 s a
    figure whatever the data: a sixth of a 3-second MLP epoch, so the loop calls this only when
    that is small against the epoch, and always when training stops (gan.train.loop)."""
    frames = sorted((run_dir / "samples").glob("epoch_*.png"))
    if frames:
        save_gif(frames, run_dir / "progress.gif")
    if loss_rows:
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


@dataclass
class ProgressDrawings:
    """progress.gif and losses.png (`draw_progress`), redrawn after an epoch only when the last
    drawing took at most `share` of an epoch's time; `finish` brings them up to date when
    training stops. A 3-second MLP epoch redraws them at the end; a minutes-long DCGAN epoch,
    after every epoch."""

    run_dir: Path
    steps_per_epoch: int
    share: float = 0.05
    cost_s: float | None = None  # what the last drawing took; None until the first epoch draws
    stale: bool = False

    def after_epoch(self, loss_rows: list[dict], epoch_seconds: float) -> None:
        if self.cost_s is not None and self.cost_s > self.share * epoch_seconds:
            self.stale = True
            return
        self._draw(loss_rows)

    def finish(self, loss_rows: list[dict]) -> None:
        if self.stale:
            self._draw(loss_rows)

    def _draw(self, loss_rows: list[dict]) -> None:
        started = time.perf_counter()
        draw_progress(self.run_dir, loss_rows, self.steps_per_epoch)
        self.cost_s, self.stale = time.perf_counter() - started, False

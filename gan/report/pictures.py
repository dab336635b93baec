"""Sample grids, the noise-to-clothes animation and loss curves: what people look at first."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from gan.files.atomic import atomic_path, write_bytes  # noqa: E402


def grid_image(images: torch.Tensor, nrow: int | None = None, scale: int = 2) -> Image.Image:
    """Images in [-1, 1], shape (N, C, H, W) with 1 or 3 channels, as one grid picture (grey or
    RGB) scaled up for the eye.

    The grid is as square as it gets unless `nrow` (images per row) says otherwise."""
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(
        images.detach().float().cpu(),
        nrow=nrow,
        padding=2,
        normalize=True,
        value_range=(-1, 1),
        pad_value=1.0,
    )
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    # make_grid repeats a single channel three times; keep one so grey stays grey and small.
    rgb = images.shape[1] == 3
    picture = Image.fromarray(pixels.permute(1, 2, 0).numpy() if rgb else pixels[0].numpy())
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    with atomic_path(path) as tmp:
        grid_image(images, nrow).save(tmp, format="PNG")


def save_gif(frames: Sequence[Path], path: Path, frame_ms: int = 400, shrink: int = 2) -> None:
    """The per-epoch grids as one animation; the last frame lingers so the result can be seen.

    Frames are shrunk back to one screen pixel per image pixel, which keeps the GIF small."""
    pictures = [Image.open(frame).reduce(shrink) for frame in frames]
    durations = [frame_ms] * (len(pictures) - 1) + [frame_ms * 5]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0
    )
    write_bytes(path, buffer.getvalue())


def save_side_by_side(pictures: dict[str, Image.Image], path: Path) -> None:
    """Labelled pictures in a row, for comparing what several backends drew."""
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.2 * len(pictures), 4.0))
    for ax, (title, picture) in zip(list(fig.axes) if len(pictures) > 1 else [axes], pictures.items()):
        ax.imshow(picture, cmap="gray" if picture.mode == "L" else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    save_figure(fig, path, grayscale=all(p.mode == "L" for p in pictures.values()))


def read_losses(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_losses(rows: list[dict[str, float]], steps_per_epoch: int, path: Path) -> None:
    """Loss_D and Loss_G per step (a faint band) with a per-epoch-smoothed line, and D's outputs.

    Kept cheap, as `gan train` redraws it: beyond ~1000 steps the per-step losses are drawn as a
    min-max band over ~1000 buckets rather than one vertex per step, and the figure is laid out
    once."""
    steps = [row["step"] for row in rows]
    fig, (ax_loss, ax_prob) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, layout="constrained")
    window = max(1, steps_per_epoch // 10)
    for key, label, color in (("loss_d", "Loss_D", "tab:blue"), ("loss_g", "Loss_G", "tab:orange")):
        values = [row[key] for row in rows]
        if len(values) <= MAX_POINTS:  # few enough to draw each step
            ax_loss.plot(steps, values, color=color, alpha=0.25, linewidth=0.6)
        else:
            ax_loss.fill_between(*_min_max_band(steps, values), color=color, alpha=0.25, linewidth=0)
        ax_loss.plot(*_thinned(steps, _moving_average(values, window)), color=color, label=label)
    ax_loss.set_ylabel("loss")
    ax_loss.legend(loc="upper right")
    outputs = {key: [row[key] for row in rows] for key in ("d_x", "d_g_z")}
    for key, label, color in (("d_x", "D(x)", "tab:green"), ("d_g_z", "D(G(z))", "tab:red")):
        ax_prob.plot(*_thinned(steps, _moving_average(outputs[key], window)), color=color, label=label)
    if all(0 <= v <= 1 for values in outputs.values() for v in values):
        ax_prob.set_ylim(0, 1)
        ax_prob.set_ylabel("mean D output (P(real))")
    else:  # hinge and WGAN-GP: D's raw score, unbounded
        ax_prob.set_ylabel("mean D score")
    ax_prob.set_xlabel("step")
    ax_prob.legend(loc="upper right")
    for ax in (ax_loss, ax_prob):
        for epoch_start in range(0, int(max(steps, default=0)) + 1, max(1, steps_per_epoch)):
            ax.axvline(epoch_start, color="0.85", linewidth=0.5, zorder=0)
    fig.suptitle("Training losses (faint: per step, or their range; solid: moving average)")
    save_figure(fig, path, laid_out=True)


# The most points a curve gets: about one per pixel of the 800-pixel-wide figure.
MAX_POINTS = 1000


def _buckets(n: int) -> list[range]:
    size = max(1, math.ceil(n / MAX_POINTS))
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def _min_max_band(steps: list[float], values: list[float]) -> tuple[list, list, list]:
    """(x, low, high) per bucket of steps: every per-step spike stays visible, in bounded cost."""
    buckets = _buckets(len(values))
    lows = [min(values[i] for i in b) for b in buckets]
    highs = [max(values[i] for i in b) for b in buckets]
    return [steps[b[len(b) // 2]] for b in buckets], lows, highs


def _thinned(steps: list[float], values: list[float]) -> tuple[list, list]:
    """Every k-th point of an already smooth curve, the last one always kept."""
    keep = [b[0] for b in _buckets(len(values))] + ([len(values) - 1] if values else [])
    return [steps[i] for i in keep], [values[i] for i in keep]


def plot_fcd(rows: list[tuple[int, float]], path: Path) -> None:
    """FCD per evaluated epoch (`gan train --eval-every K`)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([e for e, _ in rows], [v for _, v in rows], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("FCD (lower is better)")
    ax.set_title("Classifier-feature Fréchet distance to real test images")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def _moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def save_figure(fig, path: Path, grayscale: bool = False, laid_out: bool = False) -> None:
    """`laid_out`: the figure lays itself out as it draws (constrained layout), which saves the
    separate layout pass (a full draw) of tight_layout."""
    if not laid_out:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    if grayscale:  # a quarter of the bytes of matplotlib's RGBA for a picture with no colour
        picture = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
    write_bytes(path, buffer.getvalue())

"""Pictures of a parity check: where in an image the error sits (a heatmap of the worst sample),
and where in a model it starts (the error of every layer, in the order they run)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from gan.report.pictures import save_figure


def save_error_heatmap(error: torch.Tensor, path: Path, title: str) -> None:
    """|actual - expected| of one sample, (C, H, W) or (H, W), as a heatmap; colour channels are
    shown by their largest error."""
    error = error.detach().float().cpu()
    if error.dim() == 3:
        error = error.amax(dim=0)
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    shown = ax.imshow(error.numpy(), cmap="inferno", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="absolute error")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    save_figure(fig, path)


def plot_layer_errors(
    layers: Sequence[str], max_abs: Sequence[float], atol: float, path: Path, title: str, first: int | None
) -> None:
    """Max absolute error of each layer's output against eager, in the order the layers run, on a
    log scale with the tolerance as a line; the first layer over it is marked."""
    depth = range(len(layers))
    floor = 1e-12  # an exact match still shows as a point on the log scale
    values = [max(v, floor) for v in max_abs]
    fig = Figure(figsize=(max(5.0, 0.28 * len(layers) + 2.5), 3.6))
    ax = fig.subplots()
    ax.plot(depth, values, marker="o", markersize=3, linewidth=1)
    ax.axhline(atol, color="tab:red", linestyle="--", linewidth=1, label=f"atol {atol:.0e}")
    if first is not None:
        ax.plot([first], [values[first]], marker="o", markersize=9, fillstyle="none", color="tab:red")
        ax.annotate(layers[first], (first, values[first]), textcoords="offset points", xytext=(8, -12))
    ax.set_yscale("log")
    ax.set_xticks(list(depth), layers, rotation=90, fontsize=7)
    ax.set_ylabel("max abs error vs eager")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, path)

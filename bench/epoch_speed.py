"""Seconds per epoch of `gan train` against the tutorial's DataLoader loop, measured side by side.

    python -m gan.bench.epoch_speed        # or: make bench-epoch

Each row trains the seed's MLP GAN on Fashion-MNIST at batch 64 in this one process, so the
ratios are comparable even on a noisy shared machine; absolute seconds are not, across runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from gan.bench.peak import matmul_peak_gflops
from gan.bench.tutorial_loop import time_tutorial_epoch
from gan.console import silence_known_noise
from gan.data import load_dataset
from gan.device import cpu_model
from gan.train.config import TrainConfig
from gan.train.loop import train


def time_gan_train(compile: bool, gemm: str, epochs: int, data_dir: Path | None) -> tuple[float, float, str]:
    """(steady-state seconds per epoch, extra seconds of the first epoch, i.e. compilation, and
    the GEMM engine's choice as `gan train` printed it)."""
    with tempfile.TemporaryDirectory(prefix="gan-speed-") as tmp:
        config = TrainConfig(epochs=epochs + 1, compile=compile, gemm=gemm)
        result = train(
            config, Path(tmp) / "run", torch.device("cpu"), data_dir=data_dir, console=Console(quiet=True)
        )
        choice = json.loads((Path(tmp) / "run" / "config.json").read_text())["gemm_choice"]
    steady = sorted(result.seconds_per_epoch[1:])[len(result.seconds_per_epoch[1:]) // 2]
    return steady, result.seconds_per_epoch[0] - steady, f"{choice['engine']} ({choice['reason']})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per row (median)")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    silence_known_noise()
    console = Console()
    dataset = load_dataset("fashion-mnist", args.data_dir)
    rows = []
    with console.status("tutorial loop (torchvision dataset + DataLoader)"):
        tutorial = sorted(time_tutorial_epoch(dataset) for _ in range(args.epochs))[args.epochs // 2]
    rows.append(("tutorial: torchvision FashionMNIST + DataLoader", tutorial, None))
    choices = []
    for compile, gemm in ((False, "aten"), (False, "onednn"), (False, "auto"), (True, "auto")):
        label = f"gan train --{'' if compile else 'no-'}compile --gemm {gemm}"
        with console.status(label):
            seconds, first_extra, choice = time_gan_train(compile, gemm, args.epochs, args.data_dir)
        rows.append((label, seconds, first_extra))
        if gemm == "auto":
            choices.append(f"{label}: GEMM engine {choice}")
    peak = matmul_peak_gflops(torch.device("cpu"), quick=True)
    engines = ", ".join(
        f"{name} {max(v for k, v in rates.items() if k != 'error'):.0f}"
        for name, rates in peak["engines"].items()
        if len(rates) > (1 if "error" in rates else 0)
    )
    table = Table(
        title=f"Seconds per epoch, MLP GAN, batch 64, {torch.get_num_threads()} threads\n{cpu_model()} "
        f"({torch.backends.cpu.get_cpu_capability()}); fp32 GEMM 1024^3 GFLOP/s: {engines}"
    )
    for column in ("loop", "s/epoch", "speedup vs tutorial", "one-off first-epoch extra (s)"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    for label, seconds, extra in rows:
        table.add_row(
            label, f"{seconds:.2f}", f"{tutorial / seconds:.1f}x", "" if extra is None else f"{extra:.1f}"
        )
    console.print(table)
    for line in choices:
        console.print(line)


if __name__ == "__main__":
    main()

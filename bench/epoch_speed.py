"""Seconds per epoch of `gan train` against the tutorial's DataLoader loop, measured side by side,
and where `gan train`'s epoch goes.

    python -m gan.bench.epoch_speed        # or: make bench-epoch

Each row trains the seed's MLP GAN on Fashion-MNIST at batch 64 in this one process, so the
ratios are comparable even on a noisy shared machine; absolute seconds are not, across runs.
An epoch is its steps plus its end (grid, losses.csv, checkpoint, any drawing), as a user waits
for it. The breakdown sets the compiled row's steps against the bench's own timing of one
compiled iteration (`gan bench --workloads train --backends compile-step`): what is left is the
loop's overhead per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from gan.bench.flops import workload_flops
from gan.bench.peak import matmul_peak_gflops
from gan.bench.timing import measure
from gan.bench.train_variants import TrainSetup, make_train_variant
from gan.bench.tutorial_loop import time_tutorial_epoch
from gan.console import silence_known_noise
from gan.data import load_dataset
from gan.device import cpu_model
from gan.models.builtins import mlp
from gan.train.config import TrainConfig
from gan.train.loop import train
from gan.train.loss import GanLoss


@dataclass(frozen=True)
class EpochTiming:
    steps_s: float  # median over the timed epochs
    artifacts_s: float  # the epoch's end: grid, losses.csv, checkpoint, any drawing
    first_extra_s: float  # what the first epoch took beyond a later one: compilation
    steps: int
    gemm: str  # the GEMM engine's choice, as `gan train` printed it

    @property
    def epoch_s(self) -> float:
        return self.steps_s + self.artifacts_s


def time_gan_train(compile: bool, gemm: str, epochs: int, data_dir: Path | None) -> EpochTiming:
    """`gan train` for 1 + `epochs` epochs; the first is set apart (it compiles)."""
    with tempfile.TemporaryDirectory(prefix="gan-speed-") as tmp:
        config = TrainConfig(epochs=epochs + 1, compile=compile, gemm=gemm)
        result = train(
            config, Path(tmp) / "run", torch.device("cpu"), data_dir=data_dir, console=Console(quiet=True)
        )
        run_config = json.loads((Path(tmp) / "run" / "config.json").read_text())
    steady = statistics.median(result.seconds_per_epoch[1:])
    choice = run_config["gemm_choice"]
    return EpochTiming(
        steps_s=steady,
        artifacts_s=statistics.median(result.artifact_seconds[1:]),
        first_extra_s=result.seconds_per_epoch[0] - steady,
        steps=-(-run_config["train_images"] // config.batch_size),
        gemm=f"{choice['engine']} ({choice['reason']})",
    )


def compiled_iteration_ms(batch: int = 64) -> tuple[float, int]:
    """(median ms, FLOPs) of one compiled training iteration of the seed's MLP, as `gan bench`
    times its compile-step row: on synthetic data, the call repeated."""
    generator, discriminator = mlp().build(0)
    setup = TrainSetup(generator, discriminator, GanLoss(), mlp().signature, batch, torch.device("cpu"))
    run = make_train_variant("compile-step", setup).runs["iteration"]
    return measure(run, torch.device("cpu")).median_ms, workload_flops(setup)["iteration"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per row (median)")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    silence_known_noise()
    console = Console()
    dataset = load_dataset("fashion-mnist", args.data_dir)
    with console.status("tutorial loop (torchvision dataset + DataLoader)"):
        tutorial = statistics.median(time_tutorial_epoch(dataset) for _ in range(args.epochs))
    timings, iteration_ms = {}, []
    for compile, gemm in ((False, "aten"), (False, "onednn"), (False, "auto"), (True, "auto")):
        label = f"gan train --{'' if compile else 'no-'}compile --gemm {gemm}"
        if compile:
            # Timed just before and just after the epochs it is set against, and the faster kept:
            # on a noisy machine this errs towards a larger loop overhead, never a smaller one.
            with console.status("one compiled iteration, as gan bench times it"):
                iteration_ms.append(compiled_iteration_ms())
        with console.status(label):
            timings[label] = time_gan_train(compile, gemm, args.epochs, args.data_dir)
    with console.status("one compiled iteration, as gan bench times it"):
        iteration_ms.append(compiled_iteration_ms())
    (fastest_ms, iteration_flops), slowest_ms = min(iteration_ms), max(ms for ms, _ in iteration_ms)
    peak = matmul_peak_gflops(torch.device("cpu"), quick=True)
    console.print(_speed_table(tutorial, timings, peak))
    for label, timing in timings.items():
        if "auto" in label:
            console.print(f"{label}: GEMM engine {timing.gemm}")
    compiled = timings["gan train --compile --gemm auto"]
    console.print(_breakdown(compiled, fastest_ms, iteration_flops, peak))
    console.print(
        f"[dim]The compiled iteration measured {fastest_ms:.3f} and {slowest_ms:.3f} ms, before and after "
        "the epochs; the faster is used. A spread near the overhead means the machine was too noisy "
        "to tell it."
    )


def _speed_table(tutorial: float, timings: dict[str, EpochTiming], peak: dict) -> Table:
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
    table.add_row("tutorial: torchvision FashionMNIST + DataLoader", f"{tutorial:.2f}", "1.0x", "")
    for label, timing in timings.items():
        table.add_row(
            label, f"{timing.epoch_s:.2f}", f"{tutorial / timing.epoch_s:.1f}x", f"{timing.first_extra_s:.1f}"
        )
    return table


def _breakdown(timing: EpochTiming, iteration_ms: float, iteration_flops: int, peak: dict) -> Table:
    """Where `gan train --compile`'s epoch goes: the compiled iterations, the loop around them,
    the epoch's end."""
    in_graph = timing.steps * iteration_ms / 1e3
    overhead_ms = (timing.steps_s - in_graph) / timing.steps * 1e3
    gflops = iteration_flops / (iteration_ms / 1e3) / 1e9
    table = Table(
        title=f"Where an epoch of gan train --compile goes ({timing.steps} steps, "
        f"fp32 peak {peak['gflops']:.0f} GFLOP/s)"
    )
    for column in ("part", "seconds", "per step (ms)"):
        table.add_column(column, justify="left" if column == "part" else "right")
    table.add_row(
        f"compiled iterations ({gflops:.0f} GFLOP/s, {100 * gflops / peak['gflops']:.0f}% of peak)",
        f"{in_graph:.2f}",
        f"{iteration_ms:.3f}",
    )
    table.add_row(
        "loop overhead (the rest of the steps' time)",
        f"{timing.steps_s - in_graph:.2f}",
        f"{overhead_ms:.3f}",
    )
    table.add_row("epoch's end (grid, losses, checkpoint)", f"{timing.artifacts_s:.2f}", "")
    table.add_row("epoch", f"{timing.epoch_s:.2f}", f"{timing.epoch_s / timing.steps * 1e3:.3f}")
    return table


if __name__ == "__main__":
    main()

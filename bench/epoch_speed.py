"""Seconds per epoch of `gan train` against the tutorial's DataLoader loop, measured side by side,
and where `gan train`'s epoch goes.

    python -m gan.bench.epoch_speed        # or: make bench-epoch

Each row trains the seed's MLP GAN on Fashion-MNIST at batch 64 in this one process, so the
ratios are comparable even on a noisy shared machine; absolute seconds are not, across runs.
An epoch is its steps plus its end (grid, losses.csv, checkpoint, any drawing), as a user waits
for it. The breakdown sets the compiled row's steps against the bench's own timing of one
compiled iteration (`gan bench --workloads train --backends compile-step`), and measures the loop's
own overhead per step directly: `gan train`'s epoch loop and the bench's repeated call of the same
compiled step, alternated in short rounds so that a machine whose speed drifts (a shared host)
slows both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
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
from gan.train.distributed import World
from gan.train.loop import run_epoch, set_up, train
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


def loop_overhead_ms(data_dir: Path | None, steps: int = 200, rounds: int = 7) -> tuple[float, float]:
    """(median ms per step of `gan train`'s epoch loop beyond the bench's call of the same
    compiled step, and that call's median ms), from `rounds` alternations of `steps` steps each."""
    config = TrainConfig(epochs=rounds + 1, limit=steps * 64, gemm="aten")
    with tempfile.TemporaryDirectory(prefix="gan-overhead-") as tmp:
        state = set_up(
            config,
            Path(tmp) / "run",
            torch.device("cpu"),
            World(),
            data_dir=data_dir,
            resume=False,
            force=False,
            console=Console(quiet=True),
        )
        run_epoch(state, 1, lambda *_: None)  # compiles
        # A batch and a noise row as the loop passes them: a fresh tensor, and a view of the
        # epoch's noise.
        real = state.images.index_select(0, torch.arange(64))
        z = torch.randn(1, 64, *state.architecture.z_shape)[0]
        loop_ms, call_ms = [], []
        for epoch in range(2, rounds + 2):
            started = time.perf_counter()
            run_epoch(state, epoch, lambda *_: None)
            loop_ms.append((time.perf_counter() - started) / steps * 1e3)
            started = time.perf_counter()
            for _ in range(steps):
                state.step(real, z)  # as the bench's compile-step row calls it
            call_ms.append((time.perf_counter() - started) / steps * 1e3)
    return statistics.median(a - b for a, b in zip(loop_ms, call_ms)), statistics.median(call_ms)


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
    timings = {}
    for compile, gemm in ((False, "aten"), (False, "onednn"), (False, "auto"), (True, "auto")):
        label = f"gan train --{'' if compile else 'no-'}compile --gemm {gemm}"
        with console.status(label):
            timings[label] = time_gan_train(compile, gemm, args.epochs, args.data_dir)
    with console.status("one compiled iteration, as gan bench times it"):
        iteration_ms, iteration_flops = compiled_iteration_ms()
    with console.status("the epoch loop against the bench's call of the same step, alternated"):
        overhead_ms, call_ms = loop_overhead_ms(args.data_dir)
    peak = matmul_peak_gflops(torch.device("cpu"), quick=True)
    console.print(_speed_table(tutorial, timings, peak))
    for label, timing in timings.items():
        if "auto" in label:
            console.print(f"{label}: GEMM engine {timing.gemm}")
    compiled = timings["gan train --compile --gemm auto"]
    console.print(_breakdown(compiled, iteration_ms, overhead_ms, iteration_flops, peak))
    console.print(
        f"[dim]Loop overhead: gan train's epoch loop minus the bench's call of the same compiled "
        f"step ({call_ms:.3f} ms a call there), alternated in rounds of 200 steps, median of 7. The "
        "last row is what the parts measured apart do not account for: the machine's speed drifting "
        "between them."
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


def _breakdown(
    timing: EpochTiming, iteration_ms: float, overhead_ms: float, iteration_flops: int, peak: dict
) -> Table:
    """Where `gan train --compile`'s epoch goes: the compiled iterations, the loop around them,
    the epoch's end, and what separate measurements leave unexplained."""
    in_graph, in_loop = (timing.steps * ms / 1e3 for ms in (iteration_ms, overhead_ms))
    gflops = iteration_flops / (iteration_ms / 1e3) / 1e9
    table = Table(
        title=f"Where an epoch of gan train --compile goes ({timing.steps} steps, "
        f"fp32 peak {peak['gflops']:.0f} GFLOP/s)"
    )
    for column in ("part", "seconds", "per step (ms)"):
        table.add_column(column, justify="left" if column == "part" else "right")
    rest = timing.steps_s - in_graph - in_loop
    rows = (
        (
            f"compiled iterations ({gflops:.0f} GFLOP/s, {100 * gflops / peak['gflops']:.0f}% of peak)",
            in_graph,
        ),
        ("loop overhead, measured alternately", in_loop),
        ("epoch's end (grid, losses, checkpoint)", timing.artifacts_s),
        ("unaccounted (the machine's drift)", rest),
        ("epoch", timing.epoch_s),
    )
    for part, seconds in rows:
        table.add_row(part, f"{seconds:.2f}", f"{seconds / timing.steps * 1e3:.3f}")
    return table


if __name__ == "__main__":
    main()

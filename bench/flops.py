"""FLOPs per workload, counted by torch itself while the real forward or training step runs.

`torch.utils.flop_counter.FlopCounterMode` counts the matrix products and convolutions that the
dispatcher sees, forward and backward, at the shapes they really run at. Elementwise work
(activations, BatchNorm, the loss, Adam) is not counted: it is memory-bound and small next to the
products, so % of peak is a conservative figure.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan.bench.train_variants import TrainSetup, make_train_variant


def count_flops(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def workload_flops(setup: TrainSetup) -> dict[str, int]:
    """FLOPs of G, D and D(G(z)) forward and of each training step, at the setup's batch, on CPU."""
    cpu = TrainSetup(**{**vars(setup), "device": torch.device("cpu")})
    generator = cpu.generator.cpu().eval()
    z = torch.randn(cpu.batch, *cpu.z_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        flops = {"generator": count_flops(lambda: generator(z))}
        if cpu.discriminator is None:
            return flops
        discriminator = cpu.discriminator.cpu().eval()
        fake = generator(z)
        flops["discriminator"] = count_flops(lambda: discriminator(fake))
        flops["chain"] = flops["generator"] + flops["discriminator"]
    variant = make_train_variant("eager", cpu)
    flops |= {workload: count_flops(run) for workload, run in variant.runs.items()}
    return flops

"""FLOPs per workload, counted while the real forward or training step runs.

Every aten op the dispatcher sees is priced with torch's own formulas
(`torch.utils.flop_counter.flop_registry`: matrix products and convolutions, forward and
backward, at the shapes they really run at). Elementwise work (activations, BatchNorm, the loss,
Adam) is not counted: it is memory-bound and small next to the products, so % of peak is a
conservative figure.

torch's FlopCounterMode is not used: its per-module tracker hooks every module, and those hooks
break a spectral-norm D's step under autograd.grad and modules that take several tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gan.bench.train_variants import TrainSetup, make_train_variant
from gan.export.backends import NotApplicable
from gan.models.inputs import as_called


class _FlopCount(TorchDispatchMode):
    """The total of torch's FLOP formulas over every op run inside it."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if (formula := flop_registry.get(func._overloadpacket)) is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(run: Callable[[], object]) -> int:
    with _FlopCount() as counter:
        run()
    return counter.total


def workload_flops(setup: TrainSetup) -> dict[str, int]:
    """FLOPs of G, D and D(G(...)) forward and of each training step, at the setup's batch, on CPU.
    Models whose steps bench cannot train get their forward counts only."""
    cpu = TrainSetup(**{**vars(setup), "device": torch.device("cpu")})
    signature = cpu.signature
    generator = as_called(signature, "generator", cpu.generator.cpu().eval())
    args = signature.draw("generator", cpu.batch, 0, size=signature.sizes[0] if signature.sizes else None)
    with torch.no_grad():
        flops = {"generator": count_flops(lambda: generator(*args))}
        if cpu.discriminator is None:
            return flops
        discriminator = cpu.discriminator.cpu().eval()
        d_args = signature.discriminator_args(args, generator(*args))
        flops["discriminator"] = count_flops(lambda: discriminator(*d_args))
        flops["chain"] = flops["generator"] + flops["discriminator"]
    try:
        variant = make_train_variant("eager", cpu)
    except NotApplicable:
        return flops
    flops |= {workload: count_flops(run) for workload, run in variant.runs.items()}
    return flops

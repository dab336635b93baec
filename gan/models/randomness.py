"""Does a model draw random numbers inside forward, and where?

Noise drawn inside forward (torch.randn per layer, StyleGAN's noise injection) makes an export
random too: ONNX gets RandomNormalLike nodes, no two runs agree, and parity fails everywhere with
nothing to say why. So before exporting, G and D are run twice on the same inputs under two RNG
states; if the outputs differ, each submodule call is run again the same way to find the
innermost modules that draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan.models.outputs import leaves


def draws_random_numbers(module: nn.Module, args: Sequence) -> bool:
    """True when two runs on the same inputs under different RNG states disagree."""
    return not _same(module, tuple(args), {})


def random_modules(module: nn.Module, args: Sequence) -> list[str]:
    """The innermost submodules (by path, "" for `module` itself) whose own call disagrees with
    itself under two RNG states: where the random numbers are drawn."""
    calls: list[tuple[str, nn.Module, tuple, dict]] = []
    names = {m: name for name, m in module.named_modules()}

    def record(sub, sub_args, sub_kwargs):
        calls.append((names[sub], sub, sub_args, sub_kwargs))

    hooks = [m.register_forward_pre_hook(record, with_kwargs=True) for m in names]
    try:
        _run_seeded(module, args, 0)
    finally:
        for hook in hooks:
            hook.remove()
    drawing = {name for name, sub, a, k in calls if not _same(sub, a, k)}
    # A module is a source unless one of its submodules already draws.
    return sorted(name for name in drawing if not any(_inside(other, name) for other in drawing))


def _run_seeded(module: nn.Module, args: Sequence, seed: int, kwargs: dict | None = None):
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        return module(*args, **(kwargs or {}))


def _same(module: nn.Module, args: tuple, kwargs: dict) -> bool:
    first, second = (leaves(_run_seeded(module, args, seed, kwargs)) for seed in (1, 2))
    # Every tensor of a tuple or dict output counts; other values are not compared.
    return len(first) == len(second) and all(
        a.shape == b.shape and torch.equal(a, b) for (_, a), (_, b) in zip(first, second)
    )


def _inside(name: str, parent: str) -> bool:
    return name != parent and (parent == "" or name.startswith(parent + "."))

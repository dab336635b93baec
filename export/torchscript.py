"""TorchScript export: `torch.jit.trace` of the eval-mode module, saved with `torch.jit.save`."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from gan.files.atomic import atomic_path


def export_torchscript(module: nn.Module, examples: tuple[torch.Tensor, ...], path: Path) -> list[str]:
    """Traces with the inputs in G's or D's argument order and saves; returns torch's deprecation
    notices, deduplicated, for one polite mention."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(module.eval(), tuple(examples), check_trace=True)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
    notices = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    for w in caught:
        if not issubclass(w.category, (FutureWarning, DeprecationWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return sorted(set(notices))

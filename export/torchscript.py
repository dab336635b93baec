"""TorchScript export: `torch.jit.trace` of the eval-mode module, saved with `torch.jit.save`
into memory and written by Python (see `export_torchscript`)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from gan.files.atomic import write_bytes

TORCH_DIR = str(Path(torch.__file__).parent)


def export_torchscript(
    module: nn.Module, examples: tuple[torch.Tensor, ...], path: Path, check: bool = True
) -> list[str]:
    """Traces with the inputs in G's or D's argument order and saves; returns torch's deprecation
    notices, deduplicated, for one polite mention."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(module.eval(), tuple(examples), check_trace=check)
        # Into memory, then written by Python: torch's C++ file writer aborts the whole process
        # on a full disk, where Python raises an OSError that becomes one line.
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        write_bytes(path, buffer.getvalue())
    notices = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    for w in caught:
        # The user's own code's warnings pass on; those raised inside torch are about torch's code
        # (InstanceNorm's shape checks, ...), not the model, and would only alarm.
        inside_torch = str(w.filename).startswith(TORCH_DIR)
        if not issubclass(w.category, (FutureWarning, DeprecationWarning)) and not inside_torch:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return sorted(set(notices))

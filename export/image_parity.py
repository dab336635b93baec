"""The check a person can see: the fixed-noise grid drawn through every backend's generator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gan.export.backends import Backend
from gan.report.pictures import grid_image, save_side_by_side

# One grey level of 255: what rounding alone may change.
MAX_PIXEL_DIFF = 1


def check_image_parity(
    generators: Sequence[Backend], fixed: tuple[torch.Tensor, ...], reference: torch.Tensor, path: Path | None
) -> list[dict]:
    """Renders each backend's grid, compares pixels with eager's and (if `path`) saves them side by side."""
    expected = np.asarray(grid_image(reference), dtype=np.int16)
    pictures = {"eager (reference)": grid_image(reference)}
    results = []
    for backend in generators:
        picture = grid_image(backend(*fixed))
        diff = int(np.abs(np.asarray(picture, dtype=np.int16) - expected).max())
        label = f"{backend.name} ({backend.device})"
        pictures[f"{label}\nmax pixel diff {diff}"] = picture
        results.append(
            {
                "backend": backend.name,
                "device": str(backend.device),
                "max_pixel_diff": diff,
                "passed": diff <= MAX_PIXEL_DIFF,
            }
        )
    if path is not None:
        save_side_by_side(pictures, path)
    return results

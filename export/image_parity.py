"""The checks a person can see: the fixed-noise grid drawn through every backend's generator,
compared with eager's pixel by pixel (grey levels), by PSNR and by SSIM, with a heatmap of the
worst sample's error on request."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from gan.export.backends import Backend
from gan.report.parity_pictures import save_error_heatmap
from gan.report.pictures import grid_image, save_side_by_side

# One grey level of 255: what rounding alone may change.
MAX_PIXEL_DIFF = 1
# G's images are in [-1, 1] (tanh), so the largest possible difference is 2.
DATA_RANGE = 2.0


@dataclass(frozen=True)
class ImageGates:
    """What an image check must meet: the grey-level rule always; PSNR and SSIM when given."""

    min_psnr: float | None = None
    min_ssim: float | None = None


def check_image_parity(
    generators: Sequence[Backend],
    fixed: tuple[torch.Tensor, ...],
    reference: torch.Tensor,
    path: Path | None,
    gates: ImageGates = ImageGates(),
    heatmap_dir: Path | None = None,
) -> list[dict]:
    """Renders each backend's grid and compares it with eager's; saves them side by side into
    `path` and each backend's worst-sample heatmap into `heatmap_dir`, when given."""
    expected = np.asarray(grid_image(reference), dtype=np.int16)
    pictures = {"eager (reference)": grid_image(reference)}
    results = []
    for backend in generators:
        try:  # a runtime that fails here has its own row, like a comparison that fails
            images = backend(*fixed).detach().float().cpu()
            if images.shape != reference.shape:
                raise ValueError(f"its images have shape {tuple(images.shape)}, not {tuple(reference.shape)}")
        except Exception as error:
            results.append(_not_drawn(backend, error))
            continue
        picture = grid_image(images)
        diff = int(np.abs(np.asarray(picture, dtype=np.int16) - expected).max())
        label = f"{backend.name} ({backend.device})"
        pictures[f"{label}\nmax pixel diff {diff}"] = picture
        psnr, ssim = image_similarity(images, reference)
        result = {
            "backend": backend.name,
            "device": str(backend.device),
            "max_pixel_diff": diff,
            "psnr_db": psnr,  # None: identical images (an infinite PSNR)
            "ssim": ssim,  # None: images too small for SSIM's window
            "precision": backend.precision,
            # A reduced-precision variant is expected to move pixels: only the gates hold it.
            "passed": (diff <= MAX_PIXEL_DIFF or backend.precision != "fp32")
            and (gates.min_psnr is None or psnr is None or psnr >= gates.min_psnr)
            and (gates.min_ssim is None or ssim is None or ssim >= gates.min_ssim),
        }
        if heatmap_dir is not None:
            result["heatmap"] = str(_save_worst_heatmap(images, reference, heatmap_dir, backend))
        results.append(result)
    if path is not None:
        save_side_by_side(pictures, path)
    return results


def _not_drawn(backend: Backend, error: Exception) -> dict:
    message = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return {
        "backend": backend.name,
        "device": str(backend.device),
        "max_pixel_diff": None,
        "psnr_db": None,
        "ssim": None,
        "precision": backend.precision,
        "passed": False,
        "error": message,
    }


def image_similarity(images: torch.Tensor, reference: torch.Tensor) -> tuple[float | None, float | None]:
    """PSNR (dB) and SSIM of `images` against `reference`, both (N, C, H, W) in [-1, 1]."""
    reference = reference.detach().float().cpu()
    psnr = float(peak_signal_noise_ratio(images, reference, data_range=DATA_RANGE))
    side = min(images.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)  # SSIM's window must fit in the image
    ssim = None
    if kernel >= 3:
        ssim = float(
            structural_similarity_index_measure(images, reference, data_range=DATA_RANGE, kernel_size=kernel)
        )
    return (psnr if math.isfinite(psnr) else None), ssim


def _save_worst_heatmap(images: torch.Tensor, reference: torch.Tensor, directory: Path, backend) -> Path:
    error = (images - reference.detach().float().cpu()).abs()
    worst = int(error.flatten(1).amax(dim=1).argmax())
    path = Path(directory) / f"heatmap-{backend.name}-{backend.device.type}.png"
    title = (
        f"{backend.name} ({backend.device}) vs eager\nsample {worst}, max abs {float(error[worst].max()):.1e}"
    )
    save_error_heatmap(error[worst], path, title)
    return path

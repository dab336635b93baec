"""Images as the models see them."""

from __future__ import annotations

import torch


def with_channels(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) grey images as (N, 1, H, W): the layout models take, whatever the dataset stores."""
    return images.unsqueeze(1) if images.dim() == 3 else images


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) or (N, C, H, W) in [0, 255] -> float (N, C, H, W) in [-1, 1], as
    ToTensor + Normalize(0.5, 0.5)."""
    return with_channels(images).float().div_(127.5).sub_(1.0)

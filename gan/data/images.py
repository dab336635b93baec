"""Images as the models see them: uint8 datasets to [-1, 1], and image files to tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageOps

from gan.errors import GanError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def with_channels(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) grey images as (N, 1, H, W): the layout models take, whatever the dataset stores."""
    return images.unsqueeze(1) if images.dim() == 3 else images


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) or (N, C, H, W) in [0, 255] -> float (N, C, H, W) in [-1, 1], as
    ToTensor + Normalize(0.5, 0.5)."""
    return with_channels(images).float().div_(127.5).sub_(1.0)


def read_images(path: Path, shape: tuple, limit: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Up to `limit` image files (`path` is one, or a dir of them, read in name order) as one
    float batch in [-1, 1] of `shape` (C, H, W): converted to C channels, resized and center-cropped
    to H x W (or to `size` where H and W are free)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    elif path.is_file():
        files = [path]
    else:
        raise GanError(f"{path} does not exist")
    if not files:
        raise GanError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    channels, height, width = shape
    height, width = (height, width) if height and width else size
    pictures = []
    for file in files:
        try:
            with PILImage.open(file) as picture:
                picture = picture.convert("L" if channels == 1 else "RGB")
        except (OSError, ValueError) as error:
            raise GanError(f"{file} is not a readable image ({type(error).__name__})") from None
        fitted = ImageOps.fit(picture, (width, height), method=PILImage.Resampling.BICUBIC)
        pictures.append(torch.from_numpy(np.array(fitted)).reshape(height, width, channels).permute(2, 0, 1))
    return normalize(torch.stack(pictures))

"""The tutorial's suggested next step: a convolutional GAN (DCGAN) for images whose side is a
multiple of 4 (28x28 for the bundled datasets)."""

from __future__ import annotations

import torch
from torch import nn


class DCGANGenerator(nn.Module):
    """z -> Linear to 2w x H/4 x W/4 -> BN -> ReLU -> ConvT to w x H/2 x W/2 -> BN -> ReLU
    -> ConvT to C x H x W -> tanh."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        channels, height, width_px = image_shape
        self.seed_shape = (2 * width, height // 4, width_px // 4)
        self.project = nn.Linear(z_dim, 2 * width * (height // 4) * (width_px // 4), bias=False)
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # -1 keeps the batch axis free in traced and exported graphs.
        return self.net(self.project(z).view(-1, *self.seed_shape))


class DCGANDiscriminator(nn.Module):
    """Conv to w x H/2 x W/2 -> LeakyReLU -> Conv to 2w x H/4 x W/4 -> BN -> LeakyReLU -> Linear 1
    -> sigmoid: P(real), (N, 1)."""

    def __init__(self, image_shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        channels, height, width_px = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * (height // 4) * (width_px // 4), 1),
            nn.Sigmoid(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)

"""The seed tutorial's fully connected GAN, layer for layer."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> Linear 128 -> LeakyReLU(0.2) -> Linear C*H*W -> tanh -> (N, C, H, W)."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], hidden: int = 128):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, math.prod(image_shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # -1, not z.shape[0]: a traced or exported graph must keep the batch axis free.
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """(N, C, H, W) -> flatten -> Linear 128 -> LeakyReLU(0.2) -> Linear 1 -> sigmoid: P(real), (N, 1)."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(image_shape), hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)

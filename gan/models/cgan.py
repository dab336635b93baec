"""The seed's MLP GAN made class-conditional: each model also takes the class label, as a learned
embedding concatenated to its input (Mirza & Osindero, 2014, with the tutorial's layers)."""

from __future__ import annotations

import math

import torch
from torch import nn


class ConditionalMLPGenerator(nn.Module):
    """[z, embed(label)] -> Linear 128 -> LeakyReLU(0.2) -> Linear C*H*W -> tanh -> (N, C, H, W)."""

    def __init__(self, z_dim: int, classes: int, image_shape: tuple[int, int, int], hidden: int = 128):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.embed = nn.Embedding(classes, classes)
        self.net = nn.Sequential(
            nn.Linear(z_dim + classes, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, math.prod(image_shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(labels)], dim=1)).view(-1, *self.image_shape)


class ConditionalMLPDiscriminator(nn.Module):
    """[flatten(image), embed(label)] -> Linear 128 -> LeakyReLU(0.2) -> Linear 1 -> sigmoid."""

    def __init__(self, classes: int, image_shape: tuple[int, int, int], hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(classes, classes)
        self.net = nn.Sequential(
            nn.Linear(math.prod(image_shape) + classes, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image.flatten(1), self.embed(labels)], dim=1))

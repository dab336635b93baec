"""The seed tutorial's fully connected GAN, layer for layer."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 28 * 28


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> Linear 128 -> LeakyReLU(0.2) -> Linear 784 -> tanh -> (N, 1, 28, 28)."""

    def __init__(self, z_dim: int = 100, hidden: int = 128):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, IMAGE_PIXELS),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # -1, not z.shape[0]: a traced or exported graph must keep the batch axis free.
        return self.net(z).view(-1, *IMAGE_SHAPE)


class MLPDiscriminator(nn.Module):
    """(N, 1, 28, 28) -> flatten 784 -> Linear 128 -> LeakyReLU(0.2) -> Linear 1 -> sigmoid."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMAGE_PIXELS, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores (N, 1); training uses these with BCE-with-logits for stability."""
        return self.net(image)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The probability that `image` is real, (N, 1), as the seed's D returns it."""
        return torch.sigmoid(self.logits(image))

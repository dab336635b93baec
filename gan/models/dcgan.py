"""The tutorial's suggested next step: a convolutional GAN (DCGAN) sized for 28x28 images."""

from __future__ import annotations

import torch
from torch import nn

from gan.models.mlp import IMAGE_SHAPE


class DCGANGenerator(nn.Module):
    """z -> Linear to 128x7x7 -> BN -> ReLU -> ConvT to 64x14x14 -> BN -> ReLU -> ConvT to 1x28x28 -> tanh."""

    def __init__(self, z_dim: int = 100, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        self.width = width
        self.project = nn.Linear(z_dim, 2 * width * 7 * 7, bias=False)
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, IMAGE_SHAPE[0], 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # -1 keeps the batch axis free in traced and exported graphs.
        return self.net(self.project(z).view(-1, 2 * self.width, 7, 7))


class DCGANDiscriminator(nn.Module):
    """Conv to 64x14x14 -> LeakyReLU -> Conv to 128x7x7 -> BN -> LeakyReLU -> Linear 1 -> sigmoid."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(IMAGE_SHAPE[0], width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(image))


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)

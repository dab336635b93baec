"""A class-conditional DCGAN, as a user writes one: G(z, labels), D(image, labels).

Grey 1x28x28 for the bundled datasets, trained with the tutorial's BCE:

    gan train --arch examples/conditional_dcgan.py:CDCGAN --epochs 1
    gan sample runs/latest --labels 0,1,2          # one row per class

Colour 3x32x32 for your own images (one subfolder per class), trained with the hinge loss of
SNGAN/SAGAN, so its D returns a raw score. Its G has no BatchNorm, so `gan train` compiles its
whole step, and torchrun ranks compute exactly what one process does:

    gan train --arch examples/conditional_dcgan.py:COLOUR_CDCGAN --data path/to/images --epochs 1
    gan export runs/latest && gan verify runs/latest/export
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture, Labels, Noise


class Generator(nn.Module):
    """z and a label embedding, concatenated, up to CxSxS through two transposed convolutions."""

    def __init__(self, nz=100, classes=10, width=64, channels=1, size=28, batchnorm=True):
        super().__init__()
        self.embed = nn.Embedding(classes, 16)
        self.base = size // 4
        self.project = nn.Sequential(nn.Linear(nz + 16, 2 * width * self.base**2), nn.ReLU())
        self.width = width
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width) if batchnorm else nn.Identity(),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z, labels):
        x = self.project(torch.cat([z, self.embed(labels)], dim=1))
        return self.up(x.view(-1, 2 * self.width, self.base, self.base))


class Discriminator(nn.Module):
    """The image and its label as one more channel (an embedding reshaped to SxS), to P(real), or
    to a raw score when `sigmoid` is False (hinge, WGAN-GP)."""

    def __init__(self, classes=10, width=64, channels=1, size=28, sigmoid=True):
        super().__init__()
        self.size = size
        self.embed = nn.Embedding(classes, size * size)
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * (size // 4) ** 2, 1),
            *([nn.Sigmoid()] if sigmoid else []),
        )

    def forward(self, image, labels):
        return self.net(torch.cat([image, self.embed(labels).view(-1, 1, self.size, self.size)], dim=1))


def cdcgan(width: int = 64, channels: int = 1, size: int = 28, loss: str = "bce") -> Architecture:
    sigmoid, colour = loss == "bce", channels == 3
    return Architecture(
        name=f"cdcgan{'-colour' if colour else ''}{'' if width == 64 else f'-w{width}'}",
        generator=partial(Generator, width=width, channels=channels, size=size, batchnorm=not colour),
        discriminator=partial(Discriminator, width=width, channels=channels, size=size, sigmoid=sigmoid),
        image_shape=(channels, size, size),
        generator_inputs=(Noise((100,)), Labels(10)),
        discriminator_inputs=("image", "labels"),
        discriminator_output="probability" if sigmoid else "logits",
        loss=loss,
    )


CDCGAN = cdcgan()
TINY_CDCGAN = cdcgan(width=8)
COLOUR_CDCGAN = cdcgan(channels=3, size=32, loss="hinge")
TINY_COLOUR_CDCGAN = cdcgan(width=8, channels=3, size=32, loss="hinge")

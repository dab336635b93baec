"""A class-conditional DCGAN for 1x28x28 images, as a user writes one: G(z, labels), D(image, labels).

    gan import runs/cgan --arch examples/conditional_dcgan.py:CDCGAN \
        --generator netG.pth --discriminator netD.pth
    gan export runs/cgan && gan verify runs/cgan/export
    gan sample runs/cgan --labels 0,1,2          # one row per class
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture, Labels, Noise


class Generator(nn.Module):
    """z and a label embedding, concatenated, up to 1x28x28 through two transposed convolutions."""

    def __init__(self, nz=100, classes=10, width=64):
        super().__init__()
        self.embed = nn.Embedding(classes, 16)
        self.project = nn.Sequential(nn.Linear(nz + 16, 2 * width * 7 * 7), nn.ReLU())
        self.width = width
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z, labels):
        x = self.project(torch.cat([z, self.embed(labels)], dim=1))
        return self.up(x.view(-1, 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    """The image and its label as a second channel (an embedding reshaped to 28x28), to P(real)."""

    def __init__(self, classes=10, width=64):
        super().__init__()
        self.embed = nn.Embedding(classes, 28 * 28)
        self.net = nn.Sequential(
            nn.Conv2d(2, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
            nn.Sigmoid(),
        )

    def forward(self, image, labels):
        return self.net(torch.cat([image, self.embed(labels).view(-1, 1, 28, 28)], dim=1))


def cdcgan(width: int = 64) -> Architecture:
    return Architecture(
        name="cdcgan" if width == 64 else f"cdcgan-w{width}",
        generator=partial(Generator, width=width),
        discriminator=partial(Discriminator, width=width),
        image_shape=(1, 28, 28),
        generator_inputs=(Noise((100,)), Labels(10)),
        discriminator_inputs=("image", "labels"),
    )


CDCGAN = cdcgan()
TINY_CDCGAN = cdcgan(width=8)

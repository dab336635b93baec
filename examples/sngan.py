"""An SN-GAN for 1x28x28 images, as a user writes one: a DCGAN-style G and a discriminator whose
every layer is spectral-normalized (torch.nn.utils.parametrizations.spectral_norm), as in SNGAN,
SAGAN and BigGAN. D returns logits. It trains on the bundled datasets:

    gan train --arch examples/sngan.py:SNGAN --epochs 1
    gan export runs/latest         # the dynamo exporter bakes the normalized weights
    gan bench runs/latest/export --arch examples/sngan.py:SNGAN --quick
"""

from functools import partial

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan import Architecture


class Generator(nn.Module):
    def __init__(self, nz=64, width=64):
        super().__init__()
        self.width = width
        self.project = nn.Linear(nz, 2 * width * 7 * 7)
        self.up = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.project(z).view(-1, 2 * self.width, 7, 7))


class SNDiscriminator(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(1, width, 4, 2, 1)),
            nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)),
            nn.LeakyReLU(0.1),
            nn.Flatten(),
            spectral_norm(nn.Linear(2 * width * 7 * 7, 1)),
        )

    def forward(self, image):
        return self.net(image)


def sngan(width: int = 64) -> Architecture:
    return Architecture(
        name="sngan" if width == 64 else f"sngan-w{width}",
        generator=partial(Generator, width=width),
        discriminator=partial(SNDiscriminator, width=width),
        z_shape=(64,),
        image_shape=(1, 28, 28),
        discriminator_output="logits",
    )


SNGAN = sngan()
TINY_SNGAN = sngan(width=8)

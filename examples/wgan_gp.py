"""A WGAN-GP for 1x28x28 images, as a user writes one (Gulrajani et al., 2017): a DCGAN-style G
and a critic with no sigmoid and no BatchNorm (the gradient penalty is per sample), declared
with loss="wgan-gp", so `gan train` gives D five steps per G step and the penalty:

    gan train --arch examples/wgan_gp.py:WGAN_GP --epochs 1
    gan export runs/latest && gan verify runs/latest/export
"""

from functools import partial

from torch import nn

from gan import Architecture


class Generator(nn.Module):
    def __init__(self, nz=64, width=64):
        super().__init__()
        self.width = width
        self.project = nn.Sequential(nn.Linear(nz, 2 * width * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.project(z).view(-1, 2 * self.width, 7, 7))


class Critic(nn.Module):
    """An unbounded score: higher for what looks real. LayerNorm-free and BatchNorm-free, as the
    paper recommends for the penalty."""

    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def forward(self, image):
        return self.net(image)


def wgan_gp(width: int = 64) -> Architecture:
    return Architecture(
        name="wgan-gp" if width == 64 else f"wgan-gp-w{width}",
        generator=partial(Generator, width=width),
        discriminator=partial(Critic, width=width),
        z_shape=(64,),
        image_shape=(1, 28, 28),
        discriminator_output="logits",
        loss="wgan-gp",
    )


WGAN_GP = wgan_gp()
TINY_WGAN_GP = wgan_gp(width=8)

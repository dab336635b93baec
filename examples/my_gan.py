"""Your own GAN, described for gan-toolkit: a complete user file.

    gan import runs/mine --arch examples/my_gan.py:DCGAN64 --generator netG.pth --discriminator netD.pth
    gan export runs/mine && gan verify runs/mine/export && gan sample runs/mine --backend onnxruntime
    gan bench runs/mine/export --arch examples/my_gan.py:DCGAN64 --quick

Three architectures, as a user would write them:
- DCGAN64: the classic 64x64 RGB DCGAN (pytorch/examples dcgan/main.py): z of shape (N, 100, 1, 1),
  a discriminator that ends in Sigmoid() and .view(-1, 1) and has no logits method;
- GENERATOR_ONLY: a generator with no discriminator (export, verify, sample and bench G alone);
- SMALL28: a 1x28x28 GAN with a logits discriminator, trainable on the bundled Fashion-MNIST.
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture


class Generator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ndf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input).view(-1, 1)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan64(width: int = 64) -> Architecture:
    """The classic DCGAN; `width` scales ngf and ndf (64 is the paper's, 8 makes a quick test)."""
    return Architecture(
        name="my-dcgan64" if width == 64 else f"my-dcgan64-w{width}",
        generator=partial(Generator, ngf=width),
        discriminator=partial(Discriminator, ndf=width),
        z_shape=(100, 1, 1),
        image_shape=(3, 64, 64),
        discriminator_output="probability",
        init_weights=weights_init,
    )


DCGAN64 = dcgan64()
TINY_DCGAN64 = dcgan64(width=8)


class Upsampler(nn.Module):
    """z (N, 16) -> a 3x32x32 image: a generator whose discriminator was thrown away."""

    def __init__(self):
        super().__init__()
        self.project = nn.Linear(16, 32 * 8 * 8)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 3, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.project(z).view(-1, 32, 8, 8))


GENERATOR_ONLY = Architecture(
    name="upsampler32",
    generator=Upsampler,
    discriminator=None,
    z_shape=(16,),
    image_shape=(3, 32, 32),
)


def small28() -> Architecture:
    """A 1x28x28 GAN whose D returns logits (no sigmoid): trained with BCE-with-logits."""
    return Architecture(
        name="small28",
        generator=lambda: nn.Sequential(
            nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28))
        ),
        discriminator=lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(784, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
        ),
        z_shape=(32,),
        image_shape=(1, 28, 28),
        discriminator_output="logits",
    )


SMALL28 = small28


if __name__ == "__main__":
    # Writes random-init weights the way a user's training script would save them.
    torch.manual_seed(0)
    torch.save(Generator().apply(weights_init).state_dict(), "netG.pth")
    torch.save(Discriminator().apply(weights_init).state_dict(), "netD.pth")
    print("wrote netG.pth and netD.pth")

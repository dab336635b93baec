"""A pix2pix-style image-to-image GAN, as a user writes one: a U-Net G that turns a source image
into an image of the same size, and a PatchGAN D that judges the source and an image together
(6 channels) and returns a map of logits. Fully convolutional: any size that is a multiple of 4.

    gan import runs/p2p --arch examples/pix2pix.py:PIX2PIX --generator netG.pth --discriminator netD.pth
    gan export runs/p2p            # ONNX with free height and width, parity at 32, 48 and 64 pixels
    gan sample runs/p2p --input photos/
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture, Image


def down(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2))


def up(cin, cout):
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, channels=3, width=64):
        super().__init__()
        self.d1, self.d2 = down(channels, width), down(width, 2 * width)
        self.u1 = up(2 * width, width)
        self.u2 = nn.Sequential(nn.ConvTranspose2d(2 * width, channels, 4, 2, 1), nn.Tanh())

    def forward(self, source):
        x1 = self.d1(source)
        x2 = self.d2(x1)
        return self.u2(torch.cat([self.u1(x2), x1], dim=1))  # the skip connection


class PatchGAN(nn.Module):
    def __init__(self, channels=3, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 1, 1),
            nn.InstanceNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 4, 1, 1),  # a logit per patch
        )

    def forward(self, source, image):
        return self.net(torch.cat([source, image], dim=1))


def pix2pix(width: int = 64) -> Architecture:
    return Architecture(
        name="pix2pix" if width == 64 else f"pix2pix-w{width}",
        generator=partial(UNet, width=width),
        discriminator=partial(PatchGAN, width=width),
        image_shape=(3, None, None),
        generator_inputs=(Image((3, None, None), "source", sizes=((32, 32), (48, 48), (64, 64))),),
        discriminator_inputs=("source", "image"),
        discriminator_output="logits",
    )


PIX2PIX = pix2pix()
TINY_PIX2PIX = pix2pix(width=8)

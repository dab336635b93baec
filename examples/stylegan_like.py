"""A StyleGAN-like generator, as a user writes one: a mapping network, a learned constant, styled
convolutions with per-layer noise, and a truncation argument.

Its forward draws the per-layer noise itself unless it is given, as StyleGAN's does. Exported
that way, the noise would be random inside the ONNX graph and no two runs would agree, so:
- STYLEGAN lifts the noise to declared inputs (noise8, noise16): deterministic, exported and
  checked like any other input, with truncation fixed at 0.7;
- STYLEGAN_DRAWS_NOISE leaves it inside: `gan export` refuses it and names the modules that draw;
- STYLEGAN_STOCHASTIC declares that, and is exported and compared by distribution.

    gan import runs/style --arch examples/stylegan_like.py:STYLEGAN \
        --generator netG.pth --discriminator netD.pth
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture, Noise


class NoiseInjection(nn.Module):
    """x + weight * noise, one learned weight per channel; draws the noise when none is given."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device)
        return x + self.weight * noise


class StyledBlock(nn.Module):
    """Upsample, convolve, add noise, modulate by the style w (AdaIN-like)."""

    def __init__(self, cin, cout, w_dim):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.noise = NoiseInjection(cout)
        self.style = nn.Linear(w_dim, 2 * cout)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x, w, noise=None):
        x = self.noise(self.conv(nn.functional.interpolate(x, scale_factor=2.0)), noise)
        scale, shift = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return self.act(nn.functional.instance_norm(x) * (1 + scale) + shift)


class StyleGenerator(nn.Module):
    def __init__(self, z_dim=64, w_dim=64, width=32):
        super().__init__()
        self.mapping = nn.Sequential(nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2), nn.Linear(w_dim, w_dim))
        self.register_buffer("w_mean", torch.zeros(w_dim))
        self.const = nn.Parameter(torch.randn(1, width, 4, 4))
        self.block8 = StyledBlock(width, width, w_dim)
        self.block16 = StyledBlock(width, width, w_dim)
        self.to_rgb = nn.Conv2d(width, 3, 1)

    def forward(self, z, noise8=None, noise16=None, truncation=1.0):
        w = self.mapping(z)
        w = self.w_mean + truncation * (w - self.w_mean)  # the truncation trick
        x = self.const.expand(z.shape[0], -1, -1, -1)
        x = self.block16(self.block8(x, w, noise8), w, noise16)
        return torch.tanh(self.to_rgb(x))


class Critic(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 4 * 4, 1),
        )

    def forward(self, image):
        return self.net(image)


def trained_like(module: nn.Module) -> None:
    """Noise weights as a trained StyleGAN has them (non-zero): at their zero init, noise would
    change nothing and a randomness check would pass for the wrong reason."""
    if isinstance(module, NoiseInjection):
        nn.init.uniform_(module.weight, 0.05, 0.2)


def stylegan_like(width: int = 32, lifted: bool = True, **overrides) -> Architecture:
    noise = (Noise((1, 8, 8), "noise8"), Noise((1, 16, 16), "noise16")) if lifted else ()
    values = dict(
        name="stylegan-like" if width == 32 else f"stylegan-like-w{width}",
        generator=partial(StyleGenerator, width=width),
        discriminator=partial(Critic, width=width),
        image_shape=(3, 16, 16),
        generator_inputs=(Noise((64,), "z"), *noise),
        generator_kwargs={"truncation": 0.7},
        discriminator_output="logits",
        init_weights=trained_like,
    )
    return Architecture(**(values | overrides))


STYLEGAN = stylegan_like()
TINY_STYLEGAN = stylegan_like(width=8)
STYLEGAN_DRAWS_NOISE = stylegan_like(width=8, lifted=False)
STYLEGAN_STOCHASTIC = stylegan_like(width=8, lifted=False, stochastic=True)

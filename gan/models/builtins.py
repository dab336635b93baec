"""The built-in architectures: two `Architecture` objects like any user's, nothing special-cased."""

from __future__ import annotations

from functools import partial

from gan.models.architecture import Architecture
from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.models.mlp import MLPDiscriminator, MLPGenerator


def mlp(z_dim: int = 100, image_shape: tuple[int, int, int] = (1, 28, 28)) -> Architecture:
    """The seed tutorial's GAN for Fashion-MNIST."""
    return Architecture(
        name="mlp",
        generator=partial(MLPGenerator, z_dim, image_shape),
        discriminator=partial(MLPDiscriminator, image_shape),
        z_shape=(z_dim,),
        image_shape=image_shape,
        discriminator_output="probability",
    )


def dcgan(z_dim: int = 100, image_shape: tuple[int, int, int] = (1, 28, 28)) -> Architecture:
    """The convolutional GAN the tutorial suggests next."""
    return Architecture(
        name="dcgan",
        generator=partial(DCGANGenerator, z_dim, image_shape),
        discriminator=partial(DCGANDiscriminator, image_shape),
        z_shape=(z_dim,),
        image_shape=image_shape,
        discriminator_output="probability",
        init_weights=dcgan_init,
    )


BUILTIN_ARCHITECTURES = {"mlp": mlp, "dcgan": dcgan}

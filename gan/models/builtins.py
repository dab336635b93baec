"""The built-in architectures: `Architecture` objects like any user's, nothing special-cased."""

from __future__ import annotations

from functools import partial

from gan.models.architecture import Architecture
from gan.models.cgan import ConditionalMLPDiscriminator, ConditionalMLPGenerator
from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.models.inputs import Labels, Noise
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


def cgan(
    z_dim: int = 100, classes: int = 10, image_shape: tuple[int, int, int] = (1, 28, 28)
) -> Architecture:
    """The seed's MLP, class-conditional: G(z, labels) makes the asked-for class, D(image, labels)
    judges an image as that class. Ten classes, as the bundled datasets have."""
    return Architecture(
        name="cgan",
        generator=partial(ConditionalMLPGenerator, z_dim, classes, image_shape),
        discriminator=partial(ConditionalMLPDiscriminator, classes, image_shape),
        generator_inputs=(Noise((z_dim,)), Labels(classes)),
        discriminator_inputs=("image", "labels"),
        image_shape=image_shape,
        discriminator_output="probability",
    )


BUILTIN_ARCHITECTURES = {"mlp": mlp, "dcgan": dcgan, "cgan": cgan}

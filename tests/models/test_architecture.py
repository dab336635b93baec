import pytest
import torch
from helpers import fresh_models

from gan.errors import GanError
from gan.models.architecture import Architecture
from gan.models.builtins import BUILTIN_ARCHITECTURES
from gan.models.spec import load_architecture


@pytest.mark.parametrize("name", list(BUILTIN_ARCHITECTURES))
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_shapes_and_ranges(name, batch):
    architecture, _ = load_architecture(name)
    generator, discriminator = architecture.build(seed=0)
    generator.eval(), discriminator.eval()
    signature = architecture.signature
    args = signature.draw("generator", batch, seed=batch)  # z, and labels for the conditional one
    images = generator(*args)
    assert images.shape == (batch, *architecture.image_shape) == (batch, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    probability = discriminator(*signature.discriminator_args(args, images))
    assert probability.shape == (batch, 1) and architecture.discriminator_output == "probability"
    assert ((probability > 0) & (probability < 1)).all()


def test_mlp_is_the_seed_architecture():
    generator, discriminator = load_architecture("mlp")[0].build(seed=0)
    g_linears = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    d_linears = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linears] == [(100, 128), (128, 784)]
    assert [(m.in_features, m.out_features) for m in d_linears] == [(784, 128), (128, 1)]
    slopes = {m.negative_slope for m in generator.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2} and isinstance(list(discriminator.modules())[-1], torch.nn.Sigmoid)


def test_same_seed_same_weights_and_global_rng_untouched():
    architecture, _ = load_architecture("mlp")
    before = torch.random.get_rng_state()
    a, _ = architecture.build(seed=3)
    b, _ = architecture.build(seed=3)
    c, _ = architecture.build(seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_unknown_architecture():
    with pytest.raises(GanError, match="unknown architecture 'resnet'; choose one of mlp, dcgan, cgan"):
        load_architecture("resnet")


def test_architecture_validates_its_fields():
    with pytest.raises(GanError, match="image_shape must be \\(C, H, W\\)"):
        Architecture("x", torch.nn.Identity, None, z_shape=(4,), image_shape=(28, 28))
    with pytest.raises(GanError, match="discriminator_output must be one of probability, logits"):
        Architecture("x", torch.nn.Identity, None, (4,), (1, 2, 2), discriminator_output="score")
    with pytest.raises(GanError, match="z_shape must be non-empty and positive"):
        Architecture("x", torch.nn.Identity, None, z_shape=(0,), image_shape=(1, 2, 2))


def test_dcgan_layers_and_init():
    _, generator, discriminator = fresh_models("dcgan")
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(128, 64), (64, 1)]
    assert abs(convs[0].weight.std().item() - 0.02) < 0.002
    x = torch.randn(5, 100)
    with torch.no_grad():
        hidden = generator.net[:3](generator.project(x).view(-1, 128, 7, 7))
    assert hidden.shape == (5, 64, 14, 14)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())


def test_noise_is_seeded_and_leaves_the_global_rng_alone():
    architecture, _ = load_architecture("mlp")
    before = torch.random.get_rng_state()
    a, b = architecture.noise(4, seed=7), architecture.noise(4, seed=7)
    assert a.shape == (4, 100) and torch.equal(a, b)
    assert not torch.equal(a, architecture.noise(4, seed=8))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_cgan_makes_the_class_it_is_asked_for_from_its_label():
    """The conditional built-in: the seed's layers plus a label embedding in G and in D, so the
    label changes both G's image and D's verdict."""
    architecture, _ = load_architecture("cgan")
    generator, discriminator = architecture.build(seed=0)
    z = torch.randn(4, 100).repeat(2, 1)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    images = generator(z, labels)
    assert not torch.allclose(images[:4], images[4:])  # the same z, other classes
    assert not torch.allclose(discriminator(images, labels), discriminator(images, labels.flip(0)))
    linears = [(m.in_features, m.out_features) for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(100, 128), (128, 784)] and generator.label.weight.shape == (10, 128)
    # The label's embedding is the first layer's weights of a concatenated one-hot code, exactly.
    one_hot = torch.nn.functional.one_hot(labels, 10).float()
    weights = torch.cat([generator.project.weight, generator.label.weight.t()], dim=1)
    first = torch.cat([z, one_hot], dim=1) @ weights.t() + generator.project.bias
    torch.testing.assert_close(first, generator.project(z) + generator.label(labels))

import pytest
import torch

from gan.errors import GanError
from gan.models import ARCHITECTURES, build_models, get_architecture


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_shapes_and_ranges(arch, batch):
    generator, discriminator = build_models(arch, 100, seed=0)
    generator.eval(), discriminator.eval()
    z = torch.randn(batch, 100, generator=torch.Generator().manual_seed(batch))
    images = generator(z)
    assert images.shape == (batch, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    probability = discriminator(images)
    assert probability.shape == (batch, 1)
    assert ((probability > 0) & (probability < 1)).all()
    torch.testing.assert_close(probability, torch.sigmoid(discriminator.logits(images)))


def test_mlp_is_the_seed_architecture():
    generator, discriminator = build_models("mlp", 100, seed=0)
    g_linears = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    d_linears = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linears] == [(100, 128), (128, 784)]
    assert [(m.in_features, m.out_features) for m in d_linears] == [(784, 128), (128, 1)]
    slopes = {m.negative_slope for m in generator.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2}


def test_same_seed_same_weights_and_global_rng_untouched():
    before = torch.random.get_rng_state()
    a, _ = build_models("mlp", 100, seed=3)
    b, _ = build_models("mlp", 100, seed=3)
    c, _ = build_models("mlp", 100, seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_unknown_architecture():
    with pytest.raises(GanError, match="unknown architecture 'resnet'; choose one of mlp"):
        get_architecture("resnet")

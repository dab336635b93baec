"""GANs written in ordinary PyTorch style that the toolkit was never shaped around, one per way a
user's model can surprise it. Each is tiny (seconds through every command on 2 cores); the
failure-boundary tests (test_zoo.py) take each through import, train, export, verify, sample and
bench, and expect one line and an exit code wherever something cannot be done, never a traceback.
"""

from functools import partial

import torch
from torch import nn

from gan import Architecture, Image, Labels, Noise


class FeatureG(nn.Module):
    """Returns (image, features): the hidden activations a feature-matching loss reads."""

    def __init__(self, z_dim=16):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(z_dim, 32), nn.LeakyReLU(0.2))
        self.out = nn.Linear(32, 784)

    def forward(self, z):
        features = self.hidden(z)
        return torch.tanh(self.out(features)).view(-1, 1, 28, 28), features


class SmallD(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, image):
        return self.net(image)


class AuxClassifierD(nn.Module):
    """An AC-GAN D: a dict of the real/fake score and class logits."""

    def __init__(self, classes=10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.LeakyReLU(0.2))
        self.adv, self.cls = nn.Linear(32, 1), nn.Linear(32, classes)

    def forward(self, image):
        h = self.body(image)
        return {"adv": self.adv(h), "cls": self.cls(h)}


class LabelG(nn.Module):
    def __init__(self, z_dim=16, classes=10):
        super().__init__()
        self.embed = nn.Embedding(classes, z_dim)
        self.net = nn.Sequential(nn.Linear(z_dim, 32), nn.ReLU(), nn.Linear(32, 784), nn.Tanh())

    def forward(self, z, labels):
        return self.net(z * self.embed(labels)).view(-1, 1, 28, 28)


class PlainG(nn.Module):
    def __init__(self, z_dim=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 32), nn.ReLU(), nn.Linear(32, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class SqueezeD(nn.Module):
    """Ends in `.squeeze()`, as many public Ds do: (N,) for a batch, a 0-d tensor for one image."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, image):
        return torch.sigmoid(self.net(image)).squeeze()


class UpscaleG(nn.Module):
    """Super-resolution: a (1, H, W) source to a (1, 2H, 2W) image (pixel shuffle)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(1, 8, 3, padding=1)
        self.up = nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, source):
        return torch.tanh(self.up(torch.relu(self.body(source))))


class PatchD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, 1, 1))

    def forward(self, image):
        return self.net(image)


class InPlaceG(nn.Module):
    """Writes into views of its own activations: a slice scaled in place, a clamp_ on a view."""

    def __init__(self, z_dim=16):
        super().__init__()
        self.fc = nn.Linear(z_dim, 784)

    def forward(self, z):
        x = self.fc(z)
        x[:, :392].mul_(0.5)  # the top half of the image, in place
        image = x.view(-1, 1, 28, 28)
        image.clamp_(-3.0, 3.0)
        return torch.tanh(image)


class VarArgsG(nn.Module):
    """forward(*args): a G written to take its inputs however it is called."""

    def __init__(self, z_dim=16, classes=10):
        super().__init__()
        self.embed = nn.Embedding(classes, z_dim)
        self.net = nn.Sequential(nn.Linear(z_dim, 784), nn.Tanh())

    def forward(self, *args):
        z = args[0]
        if len(args) > 1:
            z = z + self.embed(args[1])
        return self.net(z).view(-1, 1, 28, 28)


class VarArgsD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))

    def forward(self, *args, **kwargs):
        return torch.sigmoid(self.net(args[0]))


class ConfiguredG(nn.Module):
    """An __init__ with required arguments and no defaults."""

    def __init__(self, z_dim, hidden, out_shape):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, *self.out_shape)


class SortingG(nn.Module):
    """Sorts each sample's pixels' order by a learned key: torch.argsort's ONNX is TopK, which the
    exporters write, while the legacy exporter and OpenVINO take other routes."""

    def __init__(self, z_dim=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 784), nn.Tanh())

    def forward(self, z):
        x = self.net(z)
        return torch.sort(x, dim=1, stable=True).values.view(-1, 1, 28, 28)


class BrokenInitG(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("weights file not found: pretrained/g.pth")


TUPLE_OUTPUT = Architecture(
    name="zoo-tuple-output",
    generator=FeatureG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
    generator_output=0,
)
# The same G, its output not declared: every command says how to declare it.
TUPLE_UNDECLARED = Architecture(
    name="zoo-tuple-undeclared",
    generator=FeatureG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
)
DICT_OUTPUT = Architecture(
    name="zoo-acgan",
    generator=LabelG,
    discriminator=AuxClassifierD,
    image_shape=(1, 28, 28),
    generator_inputs=(Noise((16,)), Labels(10)),
    discriminator_output="logits",
    discriminator_score="adv",
)
SQUEEZE_D = Architecture(
    name="zoo-squeeze-d", generator=PlainG, discriminator=SqueezeD, z_shape=(16,), image_shape=(1, 28, 28)
)
SUPER_RESOLUTION = Architecture(
    name="zoo-super-resolution",
    generator=UpscaleG,
    discriminator=PatchD,
    image_shape=(1, None, None),
    generator_inputs=(Image((1, None, None), "source", sizes=((8, 8), (12, 12))),),
    discriminator_output="logits",
)
IN_PLACE = Architecture(
    name="zoo-in-place",
    generator=InPlaceG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
)
VAR_ARGS = Architecture(
    name="zoo-varargs",
    generator=VarArgsG,
    discriminator=VarArgsD,
    image_shape=(1, 28, 28),
    generator_inputs=(Noise((16,)), Labels(10)),
)
INIT_ARGS = Architecture(
    name="zoo-init-args",
    generator=partial(ConfiguredG, 16, 32, (1, 28, 28)),
    discriminator=partial(SmallD, 16),
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
)
# The class itself where a zero-argument factory belongs: one line that says to use partial.
INIT_ARGS_UNBOUND = Architecture(
    name="zoo-init-args-unbound",
    generator=ConfiguredG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
)
SORTING = Architecture(
    name="zoo-sorting",
    generator=SortingG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
    discriminator_output="logits",
)
BROKEN_INIT = Architecture(
    name="zoo-broken-init",
    generator=BrokenInitG,
    discriminator=SmallD,
    z_shape=(16,),
    image_shape=(1, 28, 28),
)


class StyledUp(nn.Module):
    """Upsample, convolve, add the layer's noise input, modulate by w."""

    def __init__(self, cin, cout, w_dim):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.noise_weight = nn.Parameter(torch.full((1, cout, 1, 1), 0.1))
        self.style = nn.Linear(w_dim, 2 * cout)

    def forward(self, x, w, noise):
        x = self.conv(nn.functional.interpolate(x, scale_factor=2.0)) + self.noise_weight * noise
        scale, shift = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return nn.functional.leaky_relu(nn.functional.instance_norm(x) * (1 + scale) + shift, 0.2)


class Style64G(nn.Module):
    """A StyleGAN-like 3x64x64 G: mapping network, learned constant, four styled upsamplings whose
    noise is lifted to inputs, truncation as a keyword."""

    def __init__(self, z_dim=64, width=32):
        super().__init__()
        self.mapping = nn.Sequential(nn.Linear(z_dim, z_dim), nn.LeakyReLU(0.2), nn.Linear(z_dim, z_dim))
        self.const = nn.Parameter(torch.randn(1, width, 4, 4))
        self.blocks = nn.ModuleList(StyledUp(width, width, z_dim) for _ in range(4))
        self.to_rgb = nn.Conv2d(width, 3, 1)

    def forward(self, z, noise8, noise16, noise32, noise64, truncation=1.0):
        w = truncation * self.mapping(z)
        x = self.const.expand(z.shape[0], -1, -1, -1)
        for block, noise in zip(self.blocks, (noise8, noise16, noise32, noise64)):
            x = block(x, w, noise)
        return torch.tanh(self.to_rgb(x))


class Critic64(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        layers, cin = [], 3
        for _ in range(4):  # 64 -> 4
            layers += [nn.Conv2d(cin, width, 4, 2, 1), nn.LeakyReLU(0.2)]
            cin = width
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 16, 1))

    def forward(self, image):
        return self.net(image)


STYLEGAN64 = Architecture(
    name="zoo-stylegan64",
    generator=Style64G,
    discriminator=Critic64,
    image_shape=(3, 64, 64),
    generator_inputs=(Noise((64,)), *(Noise((1, s, s), f"noise{s}") for s in (8, 16, 32, 64))),
    generator_kwargs={"truncation": 0.7},
    discriminator_output="logits",
)

"""The losses that train G and D, in one place, with how D's output reads.

- "bce", the tutorial's: D on real=1 / fake=0, G with flipped labels (non-saturating). A D that
  ends in a sigmoid ("probability") takes BCE, one that returns logits takes BCE-with-logits.
- "hinge", as SNGAN, SAGAN and BigGAN train: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G
  maximises D(G(z)). D returns a raw score.
- "wgan-gp" (Gulrajani et al., 2017): D is a critic; it minimises D(G(z)) - D(x) plus 10 x the
  squared distance of its input-gradient norm from 1 on random mixes of real and fake, and takes
  `n_critic` steps per G step (5, as the paper does).

An Architecture declares its loss; `gan train --loss` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan.errors import GanError
from gan.train.config import LOSSES

# D steps per G step, unless a run says otherwise.
DEFAULT_N_CRITIC = {"bce": 1, "hinge": 1, "wgan-gp": 5}


@dataclass(frozen=True)
class GanLoss:
    kind: str = "bce"
    output: str = "probability"  # D's output kind: "probability" or "logits" (a raw score)
    n_critic: int = 1
    gp_weight: float = 10.0

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise GanError(f"unknown loss {self.kind!r}; choose one of {', '.join(LOSSES)}")
        if self.kind != "bce" and self.output == "probability":
            raise GanError(
                f"the {self.kind} loss needs D's raw score, but this D ends in a sigmoid "
                "(discriminator_output='probability'); drop the sigmoid and declare "
                "discriminator_output='logits', or train with --loss bce"
            )
        if self.n_critic < 1:
            raise GanError(f"--n-critic must be at least 1, got {self.n_critic}")

    @property
    def penalized(self) -> bool:
        """The gradient penalty differentiates D's gradient: a second backward."""
        return self.kind == "wgan-gp"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        if self.kind == "hinge":
            return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()
        if self.kind == "wgan-gp":
            return fake_out.mean() - real_out.mean()
        # The tutorial's errD_real + errD_fake, each a mean over its own half.
        return self._bce(real_out, 1.0) + self._bce(fake_out, 0.0)

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        if self.kind == "bce":
            return self._bce(fake_out, 1.0)
        return -fake_out.mean()

    def mean_output(self, output: torch.Tensor) -> torch.Tensor:
        """What the progress line shows as D(x) and D(G(z)): the mean P(real) under BCE, the mean
        raw score under hinge and WGAN-GP (where no probability is defined)."""
        if self.kind == "bce" and self.output == "logits":
            return torch.sigmoid(output).mean()
        return output.mean()

    def _bce(self, output: torch.Tensor, target: float) -> torch.Tensor:
        labels = torch.full_like(output, target)
        if self.output == "logits":
            return F.binary_cross_entropy_with_logits(output, labels)
        return F.binary_cross_entropy(output, labels)


def gradient_penalty(discriminate, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """mean((|grad_x D(x)| - 1)^2) at x = mix * real + (1 - mix) * fake, one `mix` in [0, 1] per
    sample; `discriminate` maps images to D's outputs (with any labels already bound). The graph
    is kept, so the penalty's own gradient reaches D's weights."""
    shape = (-1,) + (1,) * (real.dim() - 1)
    mixed = (mix.view(shape) * real + (1 - mix.view(shape)) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def loss_for(declared: str, output: str, asked: str | None, n_critic: int | None) -> GanLoss:
    """The loss a run trains with: the Architecture's `declared` one, or `asked` (--loss). A D
    declared as a WGAN critic is not trained with BCE, which would read its scores as logits."""
    kind = asked or declared
    if declared == "wgan-gp" and kind == "bce":
        raise GanError(
            "this D is declared a WGAN critic (loss 'wgan-gp'); BCE would read its unbounded scores "
            "as logits. Train it with --loss wgan-gp or --loss hinge"
        )
    return GanLoss(kind, output, n_critic or DEFAULT_N_CRITIC.get(kind, 1))

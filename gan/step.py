"""One iteration of the seed's GAN algorithm, in eager PyTorch or as one compiled graph.

The algorithm is the tutorial's: D learns real=1 / fake=0 on real images and detached fakes, then G
learns with flipped labels (non-saturating), through the freshly updated D. Losses are computed on
D's logits with BCE-with-logits, which is the same loss as sigmoid + BCE but numerically stable.

Two ways to run it, with identical semantics and one shared optimizer state:
- `eager`: autograd + `torch.optim.Adam(fused=True)`; the reference, and the one used for any
  batch the compiled graph has not seen.
- `compiled`: the whole iteration (both forwards, both backwards, both Adam updates) traced with
  torch.func and compiled into one graph. At batch 64 the MLP is dominated by per-op overhead,
  and removing it is what makes `gan train` several times faster than the tutorial's loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vjp
from torch.optim.adam import adam as adam_update

from gan.models import Logits, has_batch_statistics

# Order of the per-step statistics this module returns.
STAT_NAMES = ("loss_d", "loss_g", "d_x", "d_g_z")


def make_optimizer(
    module: nn.Module, lr: float, betas: tuple[float, float], capturable: bool = False
) -> torch.optim.Adam:
    # fused=True is one kernel for all parameters; it is supported on CPU and CUDA. capturable
    # keeps step counters on the device, which CUDA-graph capture needs.
    optimizer = torch.optim.Adam(
        module.parameters(), lr=lr, betas=betas, fused=True, **({"capturable": True} if capturable else {})
    )
    _init_adam_state(optimizer)
    return optimizer


def _init_adam_state(optimizer: torch.optim.Adam) -> None:
    """Creates Adam's state up front (as its first step would), so the compiled step can own it."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if not optimizer.state[p]:
                optimizer.state[p] = {
                    "step": torch.tensor(0.0, dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) in [0, 255] -> float (N, 1, 28, 28) in [-1, 1], as ToTensor+Normalize(0.5, 0.5)."""
    return images.unsqueeze(1).float().div_(127.5).sub_(1.0)


class GanStep:
    """Call with a uint8 batch of real images and noise z; returns the stats in `STAT_NAMES` order."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        opt_g: torch.optim.Adam,
        opt_d: torch.optim.Adam,
        compile: bool = False,
    ):
        self.generator, self.discriminator = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        # Concatenating real and fake into one D pass is exact only without batch statistics.
        self.concat_d_pass = not has_batch_statistics(discriminator)
        # torch.func cannot trace BatchNorm's in-place running-stat updates, so architectures
        # with batch statistics run the eager step (where convolutions dominate anyway).
        self.compile_skipped = compile and (has_batch_statistics(generator) or not self.concat_d_pass)
        # cpp_wrapper calls the generated CPU kernels from C++ rather than Python: at this size the
        # per-call wrapper is a measurable share of the step.
        on_cpu = next(generator.parameters()).device.type == "cpu"
        self._compiled = (
            torch.compile(self._functional_iteration, options={"cpp_wrapper": on_cpu})
            if compile and not self.compile_skipped
            else None
        )
        self._compiled_batch: int | None = None
        self._logits = Logits(discriminator)

    def __call__(self, real_images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self._compiled is None:
            return self.eager(real_images, z)
        # One shape per compiled graph: the short last batch of an epoch runs eagerly rather
        # than paying for a second compilation.
        if self._compiled_batch is None:
            self._compiled_batch = real_images.shape[0]
        if real_images.shape[0] != self._compiled_batch:
            return self.eager(real_images, z)
        return self._compiled(real_images, z)

    def _d_logits(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.concat_d_pass:
            return self.discriminator.logits(torch.cat([real, fake])).split(real.shape[0])
        return self.discriminator.logits(real), self.discriminator.logits(fake)

    @staticmethod
    def _d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        # The tutorial's errD_real + errD_fake, each a mean over its own half.
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    @staticmethod
    def _g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def eager(self, real_images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The full iteration: the D step, then the G step through the same fakes."""
        fake = self.generator(z)
        loss_d, real_logits = self._update_d(normalize(real_images), fake.detach())
        loss_g, fake_logits_g = self._update_g(fake)
        return _stats(loss_d, loss_g, real_logits, fake_logits_g)

    def d_step(self, real_images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The D step alone (for benchmarks): fakes are made without a graph, D is updated."""
        with torch.no_grad():
            fake = self.generator(z)
        return self._update_d(normalize(real_images), fake)[0]

    def g_step(self, z: torch.Tensor) -> torch.Tensor:
        """The G step alone (for benchmarks): D(G(z)) with flipped labels, G is updated."""
        return self._update_g(self.generator(z))[0]

    def _update_d(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real_logits, fake_logits = self._d_logits(real, fake)
        loss_d = self._d_loss(real_logits, fake_logits)
        d_params = list(self.discriminator.parameters())
        # autograd.grad w.r.t. D's parameters only: no G gradients are computed in the D step.
        for p, g in zip(d_params, torch.autograd.grad(loss_d, d_params)):
            p.grad = g
        self.opt_d.step()
        return loss_d, real_logits

    def _update_g(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake_logits = self.discriminator.logits(fake)
        loss_g = self._g_loss(fake_logits)
        g_params = list(self.generator.parameters())
        # ...and only G's here: D's weight gradients are never computed in the G step.
        for p, g in zip(g_params, torch.autograd.grad(loss_g, g_params)):
            p.grad = g
        self.opt_g.step()
        return loss_g, fake_logits

    def _functional_iteration(self, real_images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        real = normalize(real_images)
        g_params = dict(self.generator.named_parameters())
        g_buffers = dict(self.generator.named_buffers())
        d_params = {f"d.{k}": v for k, v in self.discriminator.named_parameters()}
        d_buffers = {f"d.{k}": v for k, v in self.discriminator.named_buffers()}

        def generate(params):
            return functional_call(self.generator, {**params, **g_buffers}, (z,))

        def d_logits(params, image):
            return functional_call(self._logits, {**params, **d_buffers}, (image,))

        fake, generator_vjp = vjp(generate, {k: v.detach() for k, v in g_params.items()})

        def d_loss(params):
            if self.concat_d_pass:
                real_logits, fake_logits = d_logits(params, torch.cat([real, fake.detach()])).split(
                    real.shape[0]
                )
            else:
                real_logits = d_logits(params, real)
                fake_logits = d_logits(params, fake.detach())
            return self._d_loss(real_logits, fake_logits), real_logits

        d_grads, (loss_d, real_logits) = grad_and_value(d_loss, has_aux=True)(
            {k: v.detach() for k, v in d_params.items()}
        )
        with torch.no_grad():
            _adam(self.opt_d, [d_params[k] for k in d_params], [d_grads[k] for k in d_params])

        def g_loss(image):
            fake_logits = d_logits({k: v.detach() for k, v in d_params.items()}, image)
            return self._g_loss(fake_logits), fake_logits

        fake_grad, (loss_g, fake_logits_g) = grad_and_value(g_loss, has_aux=True)(fake)
        (g_grads,) = generator_vjp(fake_grad)
        with torch.no_grad():
            _adam(self.opt_g, [g_params[k] for k in g_params], [g_grads[k] for k in g_params])
        return _stats(loss_d, loss_g, real_logits, fake_logits_g)


def _adam(optimizer: torch.optim.Adam, params: list, grads: list) -> None:
    """torch's own Adam arithmetic on the optimizer's own state, traceable into a graph."""
    (group,) = optimizer.param_groups
    states = [optimizer.state[p] for p in params]
    adam_update(
        params,
        grads,
        [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states],
        [],
        [s["step"] for s in states],
        foreach=False,
        # On CUDA the step counters live on the device; capturable keeps them there.
        capturable=params[0].device.type != "cpu",
        amsgrad=False,
        beta1=group["betas"][0],
        beta2=group["betas"][1],
        lr=group["lr"],
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


def _stats(loss_d, loss_g, real_logits, fake_logits_g) -> torch.Tensor:
    return torch.stack(
        [
            loss_d.detach(),
            loss_g.detach(),
            torch.sigmoid(real_logits.detach()).mean(),
            torch.sigmoid(fake_logits_g.detach()).mean(),
        ]
    )

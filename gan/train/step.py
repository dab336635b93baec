"""One iteration of a GAN's training, in eager PyTorch or as one compiled graph.

The algorithm is the tutorial's: D learns on real images and detached fakes, then G learns
through the freshly updated D. The loss is the run's (gan.train.loss): the tutorial's BCE on
probabilities or logits, hinge, or WGAN-GP with its gradient penalty and n_critic D steps per G
step. A conditional GAN's G and D also take the real batch's class labels (the fakes are drawn
for the same labels, so D sees both halves with one class mix).

Two ways to run it, with identical semantics and one shared optimizer state:
- `eager`: autograd + `torch.optim.Adam(fused=True)`; the reference, and the one used for any
  batch the compiled graph has not seen, for BatchNorm, and for WGAN-GP's second backward.
- `compiled`: the whole iteration (both forwards, both backwards, both Adam updates) traced with
  torch.func and compiled into one graph. At batch 64 the MLP is dominated by per-op overhead,
  and removing it is what makes `gan train` several times faster than the tutorial's loop.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vjp

from gan.data.images import normalize
from gan.models.architecture import has_batch_statistics
from gan.models.inputs import IMAGE, Labels, Signature
from gan.train.adam import adam_at_rates, adam_in_graph, adam_rates
from gan.train.loss import GanLoss, gradient_penalty

# Sums gradients across processes in place, each scaled by its rank's share of the global batch
# (torchrun); None in a single process.
GradSync = Callable[[list[torch.Tensor], float], None]

# Order of the per-step statistics this module returns.
STAT_NAMES = ("loss_d", "loss_g", "d_x", "d_g_z")


class GanStep:
    """Call with a uint8 batch of real images, noise z, and the batch's labels for a conditional
    GAN; returns the stats in `STAT_NAMES` order."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        opt_g: torch.optim.Adam,
        opt_d: torch.optim.Adam,
        loss: GanLoss = GanLoss(),
        compile: bool = False,
        grad_sync: GradSync | None = None,
        signature: Signature | None = None,
    ):
        self.generator, self.discriminator = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.loss = loss
        self.grad_sync = grad_sync
        self.share = 1.0
        # Which of G's and D's arguments are the labels (None: an unconditional GAN).
        self._label_slots = label_slots(signature)
        # Concatenating real and fake into one D pass is exact only without batch statistics.
        self.concat_d_pass = not has_batch_statistics(discriminator)
        # Why this step runs eagerly although compiling was asked for (None: it compiles).
        self.eager_reason = _eager_reason(generator, discriminator, loss) if compile else None
        # cpp_wrapper calls the generated CPU kernels from C++ rather than Python: at this size the
        # per-call wrapper is a measurable share of the step.
        on_cpu = next(generator.parameters()).device.type == "cpu"
        # Adam's scalars come from the host on CPU (see adam_rates); on CUDA the step counters
        # live on the device, and reading them would synchronise every step.
        self._rates_from_host = on_cpu
        self._compiled = (
            torch.compile(_own_copy(self._functional_iteration), options={"cpp_wrapper": on_cpu})
            if compile and self.eager_reason is None
            else None
        )
        # The shapes, dtypes and batch share the graph was compiled for (see __call__).
        self._compiled_for: tuple | None = None

    def __call__(
        self,
        real_images: torch.Tensor,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        share: float = 1.0,
        mix: torch.Tensor | None = None,
        update_g: bool = True,
    ) -> torch.Tensor:
        """`share`: this process's part of the global batch (1.0 in a single process). `mix`: for
        WGAN-GP, each sample's weight of real in the penalty's mixed image. `update_g`: False on
        the D-only steps of n_critic > 1."""
        self.share = share
        if self._compiled is None:
            return self.eager(real_images, z, labels, mix=mix, update_g=update_g)
        # Whether an input is a view counts too: dynamo guards a view's base (the epoch's noise
        # tensor) when the graph was compiled on one.
        views = tuple(t is not None and t._base is not None for t in (real_images, z, labels))
        call = (real_images.shape, real_images.dtype, z.shape, z.dtype, labels is None, views, share)
        if self._compiled_for is None:
            try:
                stats = self._call_compiled(real_images, z, labels)  # compiles, checking every guard once
            except Exception as error:  # a model the compiler cannot take still trains, eagerly
                self._compiled = None
                first = (str(error).strip().splitlines() or [""])[0][:200]
                self.eager_reason = f"could not be compiled ({type(error).__name__}: {first})"
                return self.eager(real_images, z, labels, mix=mix, update_g=update_g)
            self._compiled_for = call
            return stats
        # One graph per run: the short last batch of an epoch runs eagerly rather than paying for
        # a second compilation.
        if call != self._compiled_for:
            return self.eager(real_images, z, labels)
        # Dynamo re-checks some 500 guards on each call (the identity, type or value of every
        # parameter, optimizer state, module attribute and constant the graph read): 0.3-0.5 ms
        # of a 2-3 ms MLP step, torch.profiler's "TorchDynamo Cache Lookup". Nothing they check
        # can change between these calls: shapes, dtypes and share were just compared, and lr,
        # betas and the loss are fixed for a run. (Dynamo still checks tensor properties in this
        # mode, and refuses a call whose tensors differ from the compiled ones before running any
        # of it; that call is then made again with every guard checked.)
        try:
            with torch.compiler.set_stance(skip_guard_eval_unsafe=True):
                return self._call_compiled(real_images, z, labels)
        except RuntimeError as error:
            if "Recompilation triggered" not in str(error):
                raise
        return self._call_compiled(real_images, z, labels)

    def _call_compiled(self, real_images: torch.Tensor, z: torch.Tensor, labels) -> torch.Tensor:
        if not self._rates_from_host:
            return self._compiled(real_images, z, labels, None)
        rates = torch.tensor([adam_rates(self.opt_d), adam_rates(self.opt_g)])
        return self._compiled(real_images, z, labels, rates)

    def _g_args(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple:
        return call_args(self._label_slots, 0, z, labels)

    def _d_args(self, image: torch.Tensor, labels: torch.Tensor | None) -> tuple:
        return call_args(self._label_slots, 1, image, labels)

    def _d_outputs(self, real: torch.Tensor, fake: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        if self.concat_d_pass:
            both = None if labels is None else torch.cat([labels, labels])
            return self.discriminator(*self._d_args(torch.cat([real, fake]), both)).split(real.shape[0])
        return self.discriminator(*self._d_args(real, labels)), self.discriminator(
            *self._d_args(fake, labels)
        )

    def eager(
        self,
        real_images: torch.Tensor,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        mix: torch.Tensor | None = None,
        update_g: bool = True,
    ) -> torch.Tensor:
        """The full iteration: the D step, then the G step through the same fakes."""
        fake = self.generator(*self._g_args(z, labels))
        loss_d, real_out = self._update_d(normalize(real_images), fake.detach(), labels, mix)
        if update_g:
            loss_g, fake_out_g = self._update_g(fake, labels)
        else:  # a D-only step of n_critic > 1: G's loss as it stands, for the log
            with torch.no_grad():
                fake_out_g = self.discriminator(*self._d_args(fake, labels))
                loss_g = self.loss.g_loss(fake_out_g)
        return self._stats(loss_d, loss_g, real_out, fake_out_g)

    def d_step(self, real_images: torch.Tensor, z: torch.Tensor, labels=None, mix=None) -> torch.Tensor:
        """The D step alone (for benchmarks): fakes are made without a graph, D is updated."""
        with torch.no_grad():
            fake = self.generator(*self._g_args(z, labels))
        return self._update_d(normalize(real_images), fake, labels, mix)[0]

    def g_step(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """The G step alone (for benchmarks): D(G(z)) with flipped labels, G is updated."""
        return self._update_g(self.generator(*self._g_args(z, labels)), labels)[0]

    def _update_d(self, real, fake, labels, mix) -> tuple[torch.Tensor, torch.Tensor]:
        real_out, fake_out = self._d_outputs(real, fake, labels)
        loss_d = self.loss.d_loss(real_out, fake_out)
        if self.loss.penalized:
            if mix is None:
                mix = torch.rand(real.shape[0], device=real.device)
            penalty = gradient_penalty(
                lambda x: self.discriminator(*self._d_args(x, labels)), real, fake, mix
            )
            loss_d = loss_d + self.loss.gp_weight * penalty
        # autograd.grad w.r.t. D's parameters only: no G gradients are computed in the D step.
        self._apply(self.opt_d, self.discriminator, loss_d)
        return loss_d, real_out

    def _update_g(self, fake: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        fake_out = self.discriminator(*self._d_args(fake, labels))
        loss_g = self.loss.g_loss(fake_out)
        # ...and only G's here: D's weight gradients are never computed in the G step.
        self._apply(self.opt_g, self.generator, loss_g)
        return loss_g, fake_out

    def _apply(self, optimizer: torch.optim.Adam, module: nn.Module, loss: torch.Tensor) -> None:
        params = [p for p in module.parameters() if p.requires_grad]  # a frozen layer stays frozen
        # A head the loss does not reach (an AC-GAN D's class logits, a G's attention output) gets
        # zero gradients: Adam leaves it where it is.
        grads = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True))
        ]
        if self.grad_sync is not None:
            self.grad_sync(grads, self.share)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()

    def _functional_iteration(
        self,
        real_images: torch.Tensor,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        rates: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`rates`: each optimizer's `adam_rates` for this step (D's row, then G's), or None to
        let torch's Adam compute them in the graph (CUDA, where the step counters live)."""
        real = normalize(real_images)
        g_params = dict(self.generator.named_parameters())
        g_buffers = dict(self.generator.named_buffers())
        d_params = dict(self.discriminator.named_parameters())
        d_buffers = dict(self.discriminator.named_buffers())

        def generate(params):
            return functional_call(self.generator, {**params, **g_buffers}, self._g_args(z, labels))

        def discriminate(params, image, image_labels):
            return functional_call(
                self.discriminator, {**params, **d_buffers}, self._d_args(image, image_labels)
            )

        fake, generator_vjp = vjp(generate, {k: v.detach() for k, v in g_params.items()})
        both = None if labels is None else torch.cat([labels, labels])

        def d_loss(params):
            # Concatenation is exact here: compiling is skipped for D with batch statistics.
            real_out, fake_out = discriminate(params, torch.cat([real, fake.detach()]), both).split(
                real.shape[0]
            )
            return self.loss.d_loss(real_out, fake_out), real_out

        d_grads, (loss_d, real_out) = grad_and_value(d_loss, has_aux=True)(
            {k: v.detach() for k, v in d_params.items()}
        )
        self._functional_adam(self.opt_d, d_params, d_grads, None if rates is None else rates[0])

        def g_loss(image):
            fake_out = discriminate({k: v.detach() for k, v in d_params.items()}, image, labels)
            return self.loss.g_loss(fake_out), fake_out

        fake_grad, (loss_g, fake_out_g) = grad_and_value(g_loss, has_aux=True)(fake)
        (g_grads,) = generator_vjp(fake_grad)
        self._functional_adam(self.opt_g, g_params, g_grads, None if rates is None else rates[1])
        return self._stats(loss_d, loss_g, real_out, fake_out_g)

    def _functional_adam(self, optimizer, params: dict, grads: dict, rates: torch.Tensor | None) -> None:
        grads = [grads[k] for k in params]
        if self.grad_sync is not None:
            self.grad_sync(grads, self.share)
        with torch.no_grad():
            if rates is None:
                adam_in_graph(optimizer, list(params.values()), grads)
            else:
                adam_at_rates(optimizer, list(params.values()), grads, rates)

    def _stats(self, loss_d, loss_g, real_out, fake_out_g) -> torch.Tensor:
        return torch.stack(
            [
                loss_d.detach(),
                loss_g.detach(),
                self.loss.mean_output(real_out.detach()),
                self.loss.mean_output(fake_out_g.detach()),
            ]
        )


def _own_copy(method):
    """`method` with a code object of its own. Dynamo keeps compiled graphs per code object, so
    every GanStep of a process would otherwise share one cache, and the guard-skipping call could
    be handed the graph of another step (one whose object id a new step reuses). With its own
    code, a step's cache holds its graph alone."""
    function = method.__func__
    copy = types.FunctionType(
        function.__code__.replace(), function.__globals__, function.__name__, function.__defaults__
    )
    return types.MethodType(copy, method.__self__)


def _eager_reason(generator: nn.Module, discriminator: nn.Module, loss: GanLoss) -> str | None:
    if has_batch_statistics(generator) or has_batch_statistics(discriminator):
        # torch.func cannot trace BatchNorm's in-place running-stat updates.
        return "has BatchNorm, which the whole-step graph cannot hold"
    if loss.penalized:
        return "trains with WGAN-GP, whose gradient penalty takes a second backward the graph does not hold"
    if loss.n_critic > 1:
        return f"takes {loss.n_critic} D steps per G step, which the one-iteration graph does not hold"
    return None


def why_untrainable(signature: Signature) -> str | None:
    """Why the GAN step cannot train a G and D called this way, or None: it feeds G one noise
    input and at most one label input, and D the image and at most those labels."""
    inputs = signature.generator_inputs
    kinds = sorted(type(spec).__name__ for spec in inputs)
    labels = [spec.name for spec in inputs if isinstance(spec, Labels)]
    if kinds not in (["Noise"], ["Labels", "Noise"]) or not set(signature.discriminator_inputs) <= {
        IMAGE,
        *labels,
    }:
        return (
            f"G takes {', '.join(spec.name for spec in inputs)}, but the GAN step trains a G of noise "
            "(and a class label) and a D of the image (and that label)"
        )
    return None


def label_slots(signature: Signature | None) -> tuple[int, int | None] | None:
    """Where the labels go among G's two arguments (0 or 1, beside z) and among D's (beside the
    image, or None for a D that judges the image alone), for a conditional GAN."""
    if signature is None or signature.plain:
        return None
    labels = next(spec.name for spec in signature.generator_inputs if isinstance(spec, Labels))
    g_names = [spec.name for spec in signature.generator_inputs]
    d_names = list(signature.discriminator_inputs)
    return g_names.index(labels), d_names.index(labels) if labels in d_names else None


def call_args(slots, model: int, tensor: torch.Tensor, labels: torch.Tensor | None) -> tuple:
    """What G (`model` 0, `tensor` z) or D (1, the image) is called with: the labels beside it
    where `slots` (label_slots) puts them, for a conditional GAN."""
    return (tensor,) if labels is None else _placed(slots[model], tensor, labels)


def _placed(labels_slot: int | None, other: torch.Tensor, labels: torch.Tensor) -> tuple:
    if labels_slot is None:
        return (other,)
    return (other, labels) if labels_slot == 1 else (labels, other)

"""Which engine runs nn.Linear's matrix products on CPU, chosen by timing both on the model's own
shapes on the machine at hand.

torch's CPU linear goes through MKL on x86 wheels ("aten"). On some CPUs MKL takes a slow path: on
a Zen 5 EPYC it ran fp32 GEMM at ~200 GFLOP/s where torch's own oneDNN reached ~480. On others MKL
is the faster of the two (a Zen 3 EPYC: aten 100-137, oneDNN 88-127 GFLOP/s). So no CPU name is
consulted: `choose_engine` times the forward and backward of every nn.Linear call in the user's
own models on each engine, at the shapes their training batch gives them, and keeps aten unless
oneDNN is clearly faster.

The oneDNN path is an op of its own with an autograd.Function for its gradients, so eager
training runs it. Swapping it in keeps the same Parameter objects: optimizers, checkpoints and
state_dict keys do not change. The compiled whole step (torch.func inside torch.compile) cannot
use it while dynamo drops a custom backward under torch.func (pytorch/pytorch#193279: wrong
gradients, silently); `compiled_backward_is_kept` checks for that fix instead of trusting a version.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from gan.errors import GanError
from gan.models.inputs import Signature, as_called
from gan.train.config import GEMM_CHOICES, GEMM_ENGINES

# oneDNN must take under this fraction of aten's time: a near tie keeps the default, so two runs
# of one seed on one machine do not pick differently from timing noise.
ONEDNN_MUST_TAKE = 0.9


# The bare oneDNN product as an op of its own: opaque to inductor (whose lowering of
# mkldnn._linear_pointwise accepts only frozen weights), with no autograd rule of its own; its
# gradients come from _OneDnnLinearFunction.
_LIBRARY = torch.library.Library("gan_toolkit", "DEF")
_LIBRARY.define("onednn_linear(Tensor x, Tensor weight, Tensor? bias) -> Tensor")


@torch.library.impl(_LIBRARY, "onednn_linear", "CPU")
def _onednn_linear_cpu(x, weight, bias):
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight.contiguous(), bias, "none", [], "")


@torch.library.register_fake("gan_toolkit::onednn_linear", lib=_LIBRARY)
def _(x, weight, bias):
    return x.new_empty(*x.shape[:-1], weight.shape[0])


class _OneDnnLinearFunction(torch.autograd.Function):
    """The three products of a linear layer, each through oneDNN. setup_context is what makes it
    usable under torch.func as well as autograd."""

    @staticmethod
    def forward(x, weight, bias):
        # x @ weight.T + bias, through the kernel inductor uses for frozen linears.
        return torch.ops.gan_toolkit.onednn_linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])
        linear = _OneDnnLinearFunction.apply  # itself again, so torch.func can nest it
        grad_x = linear(grad, weight.t(), None)  # (.., out) @ (out, in)
        grad_weight = linear(rows.t(), x.reshape(-1, x.shape[-1]).t(), None)  # (out, N) @ (N, in)
        grad_bias = rows.sum(0) if ctx.has_bias else None
        return grad_x, grad_weight, grad_bias


class OneDnnLinear(nn.Linear):
    """An nn.Linear whose products run through oneDNN; made only by `use_engine`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _OneDnnLinearFunction.apply(x, self.weight, self.bias)


def use_engine(module: nn.Module, engine: str) -> nn.Module:
    """In place: every nn.Linear of `module` runs through `engine`, with the same Parameters."""
    if engine not in GEMM_ENGINES:
        raise GanError(f"unknown GEMM engine {engine!r}; choose one of {', '.join(GEMM_CHOICES)}")
    target = OneDnnLinear if engine == "onednn" else nn.Linear
    for parent in module.modules():
        for name, child in parent.named_children():
            if _is_swappable(child) and type(child) is not target:
                swapped = target.__new__(target)
                swapped.__dict__ = child.__dict__.copy()  # the same Parameters, hooks and flags
                parent._modules[name] = swapped
    return module


def _is_swappable(layer: nn.Module) -> bool:
    """What `use_engine` swaps: a plain nn.Linear (or ours), never a user's own subclass."""
    return type(layer) in (nn.Linear, OneDnnLinear)


def _swappable(module: nn.Module) -> list[nn.Linear]:
    return [layer for layer in module.modules() if _is_swappable(layer)]


def _linear_calls(
    generator: nn.Module, discriminator: nn.Module | None, signature: Signature, batch: int
) -> list[tuple[nn.Linear, torch.Tensor]]:
    """Each call of a swappable layer in one forward through G then D (on G's image and the inputs
    it shares with G), with an input of the shape and dtype it got. Runs on copies: a forward in
    train mode moves BatchNorm statistics."""
    models = [copy.deepcopy(m) for m in (generator, discriminator) if m is not None]
    calls = []

    def record(layer, args, kwargs):
        x = args[0] if args else kwargs["input"]
        calls.append((layer, torch.randn(x.shape, dtype=x.dtype, requires_grad=True)))

    hooks = [
        layer.register_forward_pre_hook(record, with_kwargs=True) for m in models for layer in _swappable(m)
    ]
    try:
        with torch.no_grad():
            args = signature.draw("generator", batch, 0, size=signature.sizes[0] if signature.sizes else None)
            image = as_called(signature, "generator", models[0])(*args)
            if len(models) == 2:
                models[1](*signature.discriminator_args(args, image))
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def time_engines(
    generator: nn.Module, discriminator: nn.Module | None, signature: Signature, batch: int, rounds: int = 5
) -> dict[str, float]:
    """Seconds of one forward and backward through every nn.Linear call of G and D, at the shapes
    the models feed them, on each engine (the best round). Only the layers the engine swaps are
    timed: in a convolutional GAN the convolutions would drown the difference in noise, and the
    choice would flip from run to run. The engines alternate round by round, so a noisy
    neighbour slows both alike."""
    calls = _linear_calls(generator, discriminator, signature, batch)
    cases = {
        engine: [(use_engine(nn.Sequential(layer), engine)[0], x) for layer, x in calls]
        for engine in GEMM_ENGINES
    }

    def run(engine: str) -> None:
        for layer, x in cases[engine]:
            layer(x).sum().backward()  # all three products: x, weight and bias gradients

    best = {engine: float("inf") for engine in GEMM_ENGINES}
    for engine in GEMM_ENGINES:
        run(engine)  # warm-up: oneDNN builds its kernels on first use
    for _ in range(rounds):
        for engine in GEMM_ENGINES:
            calls_made, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < 0.01 or calls_made < 2:
                run(engine)
                calls_made += 1
            best[engine] = min(best[engine], elapsed / calls_made)
    return best


def compiled_backward_is_kept() -> bool:
    """Whether torch.compile over torch.func keeps this op's own backward: a 3x2 layer's weight
    gradient through both, compared. Costs one small compile (a few seconds), so it runs only
    when oneDNN would be chosen for a compiled step."""
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(4, 3, generator=generator), torch.randn(2, 3, generator=generator)

    def loss(w):
        return _OneDnnLinearFunction.apply(x, w, None).square().sum()

    expected = torch.func.grad(loss)(weight)
    try:
        with warnings.catch_warnings():  # the broken torch also warns that it lost the backward
            warnings.simplefilter("ignore", UserWarning)
            compiled = torch.compile(torch.func.grad(loss), fullgraph=True)(weight)
    except Exception:  # a torch that cannot trace it at all is as unusable as a wrong one
        return False
    return torch.allclose(compiled, expected, rtol=1e-4, atol=1e-5)


@dataclass
class EngineChoice:
    engine: str
    reason: str
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"engine": self.engine, "reason": self.reason, "seconds": self.seconds}


def onednn_problem(device: torch.device, compiled: bool) -> str | None:
    """Why the oneDNN engine cannot train here, or None."""
    if device.type != "cpu":
        return f"oneDNN linear is a CPU engine; {device.type} uses its own BLAS"
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN"
    if compiled and not compiled_backward_is_kept():
        return (
            f"torch {torch.__version__} compiles the whole step with wrong oneDNN gradients "
            "(pytorch/pytorch#193279); use --no-compile to train on oneDNN"
        )
    return None


def choose_engine(
    requested: str,
    device: torch.device,
    generator: nn.Module,
    discriminator: nn.Module | None,
    signature: Signature,
    batch: int,
    compiled: bool = False,
    resumed_on: str | None = None,
) -> EngineChoice:
    """The engine for these models at this batch: the one asked for, or on "auto" the faster
    one that can train here (`compiled`: in the whole-step graph of gan.train.step). A resumed run
    keeps the engine it was trained on (`resumed_on`) while that can run here: its weights then
    follow the uninterrupted run bit for bit, which a second measurement could not promise."""
    if requested not in GEMM_CHOICES:
        raise GanError(f"unknown GEMM engine {requested!r}; choose one of {', '.join(GEMM_CHOICES)}")
    if requested == "onednn" and (problem := onednn_problem(device, compiled)) is not None:
        raise GanError(f"--gemm onednn cannot be used: {problem}")
    if requested != "auto":
        return EngineChoice(requested, "asked for")
    if resumed_on == "aten" or (resumed_on == "onednn" and onednn_problem(device, compiled) is None):
        return EngineChoice(resumed_on, "the engine this run was trained on; --gemm picks another")
    if (problem := onednn_problem(device, compiled=False)) is not None:
        return EngineChoice("aten", problem)
    layers = sum(len(_swappable(m)) for m in (generator, discriminator) if m is not None)
    if not layers:
        return EngineChoice("aten", "the model has no nn.Linear layers")
    try:
        seconds = time_engines(generator, discriminator, signature, batch)
    except RuntimeError as error:  # e.g. a layer fed a dtype or rank oneDNN does not take
        first = (str(error).strip().splitlines() or [""])[0][:200]
        return EngineChoice("aten", f"oneDNN could not run this model ({first})")
    ratio = seconds["onednn"] / seconds["aten"]
    measured = f"oneDNN took {ratio:.2f}x aten's time, forward+backward of {layers} nn.Linear"
    if ratio >= ONEDNN_MUST_TAKE:
        return EngineChoice("aten", measured, seconds)
    if compiled and (problem := onednn_problem(device, compiled=True)) is not None:
        return EngineChoice("aten", f"{measured}, but {problem}", seconds)
    return EngineChoice("onednn", measured, seconds)

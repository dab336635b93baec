"""FLOPs of the models' matrix layers, counted from the shapes a real forward pass produces.

Elementwise work (activations, BatchNorm, the loss, Adam) is ignored: it is memory-bound and small
next to the matrix products, and leaving it out makes % of peak a conservative figure.
Backward: every layer computes its weight gradient (as many FLOPs as its forward); the input
gradient (as many again) is skipped only for a network's first layer when its input needs none.
"""

from __future__ import annotations

import torch
from torch import nn

from gan.models import Logits

MATRIX_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def layer_flops(module: nn.Module, example: torch.Tensor) -> list[int]:
    """Forward FLOPs (2 per multiply-add) of each matrix layer, in execution order, for `example`."""
    flops: list[int] = []

    def hook(layer, inputs, output):
        x = inputs[0]
        if isinstance(layer, nn.Linear):
            flops.append(2 * x.numel() // x.shape[-1] * layer.in_features * layer.out_features)
        elif isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            flops.append(2 * output.numel() * k)
        else:  # ConvTranspose2d: every input pixel is scattered through the full kernel
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels // layer.groups
            flops.append(2 * x.numel() * k)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, MATRIX_LAYERS)]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for handle in handles:
            handle.remove()
    return flops


def forward_flops(module: nn.Module, example: torch.Tensor) -> int:
    return sum(layer_flops(module, example))


def backward_flops(module: nn.Module, example: torch.Tensor, input_needs_grad: bool) -> int:
    layers = layer_flops(module, example)
    input_grads = sum(layers) - (0 if input_needs_grad or not layers else layers[0])
    return sum(layers) + input_grads


def gan_flops(generator: nn.Module, discriminator: nn.Module, z: torch.Tensor) -> dict[str, int]:
    """FLOPs per workload at the batch of `z`, matching what gan.step computes."""
    with torch.no_grad():
        fake = generator.eval()(z)
    logits = Logits(discriminator)
    pair = torch.cat([fake, fake])
    g_fwd = forward_flops(generator, z)
    d_fwd = forward_flops(logits, fake)
    d_fwd_pair = forward_flops(logits, pair)
    d_bwd_pair = backward_flops(logits, pair, input_needs_grad=False)  # D step: weights only
    d_bwd_through = backward_flops(logits, fake, input_needs_grad=True) - d_fwd  # G step: inputs only
    g_bwd = backward_flops(generator, z, input_needs_grad=False)
    d_step = g_fwd + d_fwd_pair + d_bwd_pair
    g_step = g_fwd + d_fwd + d_bwd_through + g_bwd
    return {
        "generator": g_fwd,
        "discriminator": d_fwd,
        "chain": g_fwd + d_fwd,
        "d_step": d_step,
        "g_step": g_step,
        # The iteration reuses the D step's fakes for the G step: one G forward fewer.
        "iteration": d_step + g_step - g_fwd,
    }

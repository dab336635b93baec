"""D(G(...)): two backends of one kind run back to back, as parity and bench measure the chain.
D takes G's image plus whatever of G's inputs it is declared to take (a conditional D's labels,
a pix2pix D's source image)."""

from __future__ import annotations

import torch

from gan.export.backends.base import Backend, Run
from gan.models.inputs import Signature


class ChainBackend(Backend):
    """D(G(...)) from two backends; G's output buffer feeds D directly when it is stable."""

    def __init__(self, first: Backend, second: Backend, signature: Signature):
        self.first, self.second, self.signature = first, second, signature
        self.name, self.device, self.precision = first.name, first.device, first.precision

    def bind(self, *inputs: torch.Tensor) -> Run:
        run_first = self.first.bind(*inputs)
        signature, second = self.signature, self.second
        if self.first.output_is_stable:
            run_second = second.bind(*signature.discriminator_args(inputs, run_first()))
            return lambda: (run_first(), run_second())[1]
        return lambda: second.bind(*signature.discriminator_args(inputs, run_first()))()

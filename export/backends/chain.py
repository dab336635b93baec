"""D(G(z)): two backends of one kind run back to back, as parity and bench measure the chain."""

from __future__ import annotations

import torch

from gan.export.backends.base import Backend, Run


class ChainBackend(Backend):
    """D(G(z)) from two backends; G's output buffer feeds D directly when it is stable."""

    def __init__(self, first: Backend, second: Backend):
        self.first, self.second = first, second
        self.name, self.device = first.name, first.device

    def bind(self, *inputs: torch.Tensor) -> Run:
        run_first = self.first.bind(*inputs)
        if self.first.output_is_stable:
            run_second = self.second.bind(run_first())
            return lambda: (run_first(), run_second())[1]
        second = self.second
        return lambda: second.bind(run_first())()

"""D's output kind, in one place: which BCE trains it and how its output reads as P(real).

A user's D ends in a sigmoid ("probability", the seed's own) or not ("logits"). Training uses BCE on
probabilities for the first and BCE-with-logits for the second; both are the tutorial's loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DiscriminatorOutput:
    kind: str  # "probability" or "logits"

    def bce(self, output: torch.Tensor, target: float) -> torch.Tensor:
        """Mean BCE of D's output against a constant label (1 real, 0 fake)."""
        labels = torch.full_like(output, target)
        if self.kind == "logits":
            return F.binary_cross_entropy_with_logits(output, labels)
        return F.binary_cross_entropy(output, labels)

    def probability(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output) if self.kind == "logits" else output

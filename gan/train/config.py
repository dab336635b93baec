"""The settings of a training run; stored in the run dir so every later command can read them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gan.errors import GanError

# The losses of gan.train.loss, named here so that reading a config never loads torch.
LOSSES = ("bce", "hinge", "wgan-gp")

# The CPU engines of nn.Linear's products (gan.train.gemm_engine), named here so that reading a
# config never loads torch's op library.
GEMM_ENGINES = ("aten", "onednn")
GEMM_CHOICES = ("auto", *GEMM_ENGINES)


def check_seed(seed: int) -> None:
    """torch seeds are 64-bit; a seed outside that range is a one-line error, not a traceback."""
    if not 0 <= seed < 2**63:
        raise GanError(f"--seed must be in [0, 2**63), got {seed}")


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the seed tutorial's."""

    arch: str = "mlp"  # a built-in name or a spec (file.py:NAME, package.module:NAME); see gan.models.spec
    # A bundled dataset's name, or a user's images: a folder (subfolders as classes), .zip or .npz.
    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    limit: int | None = None
    compile: bool = True
    gemm: str = "auto"  # the CPU engine of nn.Linear's products; see gan.train.gemm_engine
    eval_every: int = 0
    loss: str | None = None  # None: the Architecture's; else bce, hinge or wgan-gp (gan.train.loss)
    n_critic: int | None = None  # D steps per G step; None: the loss's default (5 for wgan-gp)
    skip_bad_images: bool = False  # leave out a user's images that cannot be decoded

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise GanError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise GanError(f"--limit must be at least 1, got {self.limit}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise GanError(f"--lr must be positive, got {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise GanError("Adam betas must lie in [0, 1)")
        for name in ("epochs", "batch_size", "seed", "eval_every"):
            if type(getattr(self, name)) is not int:
                raise GanError(f"{name} must be a whole number, got {getattr(self, name)!r}")
        check_seed(self.seed)
        if self.gemm not in GEMM_CHOICES:
            raise GanError(f"--gemm must be one of {', '.join(GEMM_CHOICES)}, got {self.gemm!r}")
        if self.loss is not None and self.loss not in LOSSES:
            raise GanError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.n_critic is not None and (type(self.n_critic) is not int or self.n_critic < 1):
            raise GanError(f"--n-critic must be a whole number of at least 1, got {self.n_critic!r}")
        if self.eval_every < 0:
            raise GanError(f"--eval-every must be 0 (off) or positive, got {self.eval_every}")

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes`, validated like any config."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

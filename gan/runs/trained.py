"""A run dir's trained models: what export, sample, bench and eval start from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from gan.models.architecture import Architecture
from gan.models.spec import ArchitectureRef, load_architecture
from gan.runs.checkpoint import Checkpoint, load_checkpoint
from gan.runs.weights import load_weights


def trained_models(checkpoint: Checkpoint, architecture: Architecture) -> tuple[nn.Module, nn.Module | None]:
    """The checkpoint's generator and discriminator (None if it has none) with their weights."""
    generator, discriminator = architecture.build(seed=0)
    load_weights(generator, checkpoint.generator, "generator")
    if discriminator is not None and checkpoint.discriminator is not None:
        load_weights(discriminator, checkpoint.discriminator, "discriminator")
    else:
        discriminator = None
    return generator, discriminator


@dataclass
class TrainedRun:
    """A run dir's checkpoint with its Architecture and models."""

    checkpoint: Checkpoint
    architecture: Architecture
    arch_ref: ArchitectureRef
    generator: nn.Module
    discriminator: nn.Module | None


def load_trained_run(run_dir: str | Path) -> TrainedRun:
    checkpoint = load_checkpoint(run_dir)
    architecture, ref = load_architecture(checkpoint.config.arch)
    return TrainedRun(checkpoint, architecture, ref, *trained_models(checkpoint, architecture))

"""Calibration inputs for int8-static: seeded, recorded, and drawn as each model meets its inputs in
use. G sees z (and its other declared inputs) as drawn by its signature; D sees real images from
the run's dataset and G's own outputs, half each, or only G's outputs when there is no dataset
(an imported model), which the record says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gan.models.inputs import Signature

CALIBRATION_SEED = 4321
CALIBRATION_BATCHES = 16
CALIBRATION_BATCH = 64


@dataclass
class Calibration:
    """Feeds of one model (input name -> array) and how they were drawn, for the manifest."""

    feeds: list[dict[str, np.ndarray]]
    record: dict = field(default_factory=dict)

    def reader(self):
        """A fresh onnxruntime.quantization CalibrationDataReader over the feeds."""
        from onnxruntime.quantization import CalibrationDataReader

        feeds = self.feeds

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.remaining = iter(feeds)

            def get_next(self):
                return next(self.remaining, None)

        return Reader()


@torch.no_grad()
def calibrations(
    signature: Signature,
    models: dict[str, nn.Module],
    real_images: torch.Tensor | None,
    dataset: str | None,
    batches: int = CALIBRATION_BATCHES,
    batch: int = CALIBRATION_BATCH,
    seed: int = CALIBRATION_SEED,
) -> dict[str, Calibration]:
    """A Calibration per model in `models` (as called). `real_images` are float in [-1, 1] of
    G's image shape, or None."""
    size = signature.sizes[0] if signature.sizes else None
    names = {role: [spec.name for spec in signature.inputs(role)] for role in models}
    generator_feeds, fakes = [], []
    for i in range(batches):
        args = signature.draw("generator", batch, seed + i, size=size)
        generator_feeds.append(_feed(names["generator"], args))
        fakes.append((args, models["generator"](*args)))
    record = {"seed": seed, "batches": batches, "batch": batch}
    result = {
        "generator": Calibration(
            generator_feeds, {**record, "inputs": "G's declared inputs, drawn as its signature draws them"}
        )
    }
    if "discriminator" not in models:
        return result
    feeds = []
    generator = torch.Generator().manual_seed(seed)
    for i, (args, fake) in enumerate(fakes):
        image = fake
        if real_images is not None and i % 2 == 0:  # every other batch is real
            rows = torch.randint(len(real_images), (batch,), generator=generator)
            image = real_images[rows]
        d_args = signature.discriminator_args(args, image)
        feeds.append(_feed(names["discriminator"], d_args))
    source = (
        f"real {dataset} images and G's outputs, half each"
        if real_images is not None
        else "G's outputs only: the model has no dataset to draw real images from"
    )
    result["discriminator"] = Calibration(feeds, {**record, "inputs": source})
    return result


def _feed(names: list[str], args) -> dict[str, np.ndarray]:
    return {name: x.detach().cpu().contiguous().numpy() for name, x in zip(names, args)}

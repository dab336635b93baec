"""`gan eval`: the quality of a run's generator through any backend, with the real-data floor."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from gan.architectures import load_architecture
from gan.atomic import write_text
from gan.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.classifier import REQUIRED_ACCURACY, load_or_train_classifier
from gan.config import check_seed
from gan.data import default_data_dir, load_dataset
from gan.errors import GanError
from gan.quality import FCD_LABEL, evaluate, random_subset, real_reference
from gan.step import normalize

EVAL_JSON = "eval.json"


def evaluate_run(
    run_dir: Path,
    backend: str = "eager",
    n: int = 10_000,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    data_dir: Path | None = None,
    dataset: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """FCD, classifier score and coverage of `n` generated images, and the floor; saved to eval.json."""
    from gan.export.sample import generator_backend  # export depends on gan, not the other way round

    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT_JSON).exists():
        raise GanError(f"{run_dir} has no checkpoint ({CHECKPOINT_JSON}); train it first with gan train")
    if not 2 <= n <= 100_000:
        raise GanError(f"-n must be between 2 and 100000, got {n}")
    check_seed(seed)
    config = load_checkpoint(run_dir).config
    architecture, _ = load_architecture(config.arch)
    if dataset is not None and dataset != config.dataset:
        raise GanError(
            f"{run_dir} was trained on {config.dataset}, not {dataset}; its quality can only "
            f"be measured against {config.dataset}"
        )
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    data = load_dataset(config.dataset, data_dir, log=log)
    data_shape = (1, *data.test_images.shape[1:])
    if tuple(architecture.image_shape) != data_shape:
        raise GanError(
            f"gan eval measures {config.dataset}-shaped images {data_shape} with its classifier; "
            f"{architecture.name!r} makes {tuple(architecture.image_shape)}"
        )
    classifier, classifier_meta = load_or_train_classifier(data, data_dir, device, log)
    model, z_shape = generator_backend(run_dir, backend, device)
    z = torch.randn(n, *z_shape, generator=torch.Generator().manual_seed(seed))
    reference = real_reference(classifier, data.test_images, n)
    generated = evaluate(classifier, reference, lambda a, b: model(z[a:b]).cpu(), n)
    train_sample = random_subset(data.train_images, n, seed + 1)
    floor = evaluate(
        classifier, reference, lambda a, b: normalize(train_sample[a:b]), min(n, len(data.train_images))
    )
    result = {
        "metric": FCD_LABEL,
        "backend": backend,
        "n": n,
        "seed": seed,
        "dataset": config.dataset,
        "classes": list(data.classes),
        "arch": config.arch,
        "classifier": {
            "test_accuracy": classifier_meta["test_accuracy"],
            "required_accuracy": REQUIRED_ACCURACY[config.dataset],
            "sha256": classifier_meta["sha256"],
        },
        "generated": generated.to_dict(),
        "floor_real_train_vs_test": floor.to_dict(),
    }
    write_text(run_dir / EVAL_JSON, json.dumps(result, indent=2))
    return result


class FcdTracker:
    """FCD of the generator after some epochs (`gan train --eval-every K`), on a smaller sample."""

    def __init__(
        self,
        dataset,
        data_dir: Path,
        device: torch.device,
        n: int = 2000,
        seed: int = 0,
        log: Callable[[str], None] = lambda _: None,
    ):
        self.classifier, _ = load_or_train_classifier(dataset, data_dir, device, log)
        self.reference = real_reference(self.classifier, dataset.test_images, n)
        self.n, self.seed, self.device = n, seed, device

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module, z_shape: tuple[int, ...]) -> float:
        z = torch.randn(self.n, *z_shape, generator=torch.Generator().manual_seed(self.seed)).to(self.device)
        was_training = generator.training
        generator.eval()
        try:
            return evaluate(self.classifier, self.reference, lambda a, b: generator(z[a:b]), self.n).fcd
        finally:
            generator.train(was_training)

"""`gan eval`: the quality of a run's generator, eager or exported, with the real-data floor."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gan.data import Dataset, default_data_dir, load_dataset
from gan.data.folder import is_user_data, load_user_data
from gan.data.images import normalize
from gan.errors import GanError
from gan.files.atomic import write_text
from gan.models.inputs import Image, Labels, Signature, as_called
from gan.models.spec import load_architecture
from gan.quality.classifier import REQUIRED_ACCURACY, load_or_train_classifier
from gan.quality.metrics import FCD_LABEL, evaluate, random_subset, real_reference
from gan.quality.user_classifier import folder_classifier, load_user_classifier
from gan.runs.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.runs.trained import load_trained_run
from gan.train.config import check_seed

EVAL_JSON = "eval.json"
# Images in [-1, 1] from a batch of G's inputs (noise, and labels for a conditional G): an exported
# generator on any backend (gan.export.sample.generator_backend gives one), or a module.
Generator = Callable[..., torch.Tensor]


def evaluate_run(
    run_dir: Path,
    generator: Generator | None = None,
    *,
    backend: str = "eager",
    n: int = 10_000,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    data_dir: Path | None = None,
    dataset: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    precision: str = "fp32",
    baseline: Generator | None = None,
    save: bool = True,
    judge: Judge | None = None,
) -> dict:
    """FCD, classifier score and coverage of `n` images of `generator` (default: the run's own G,
    eager; `backend` and `precision` name what it runs on), and the real-data floor; saved to
    eval.json (eval-PRECISION.json for a reduced precision). With a `baseline` G, its quality on
    the same z too, under "baseline" (what a reduced precision is compared with). `judge`: the
    classifier of a run on the user's own images (they have no pinned one)."""
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT_JSON).exists():
        raise GanError(f"{run_dir} has no checkpoint ({CHECKPOINT_JSON}); train it first with gan train")
    if not 2 <= n <= 100_000:
        raise GanError(f"-n must be between 2 and 100000, got {n}")
    check_seed(seed)
    config = load_checkpoint(run_dir).config
    architecture, _ = load_architecture(config.arch)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    data = _dataset_for(run_dir, config, dataset, architecture, data_dir, log)
    if is_user_data(config.dataset):
        data, classifier, classifier_meta = _user_judge(
            data, judge, architecture, data_dir, device, seed, log
        )
    elif judge is not None and judge.train:
        raise GanError(
            f"--train-classifier is for runs on your own images; {config.dataset} has a pinned classifier"
        )
    elif judge is not None and judge.classifier is not None:
        classifier, classifier_meta = load_user_classifier(
            judge.classifier, judge.feature_layer, architecture.image_shape, device
        )
    else:
        classifier, classifier_meta = load_or_train_classifier(data, data_dir, device, log)
    if generator is None:
        generator = _eager_generator(run_dir, device)
    # Every input G takes, seeded: noise, and labels spanning the classes of a conditional G.
    args = architecture.signature.draw("generator", n, seed)
    labels = next(
        (x for spec, x in zip(architecture.generator_inputs, args) if isinstance(spec, Labels)), None
    )
    if labels is not None and (why := labels_beyond(architecture, data, classifier)) is not None:
        log(why)
        labels = None
    reference = real_reference(classifier, data.test_images, n)
    generated = evaluate(
        classifier, reference, lambda a, b: generator(*(x[a:b] for x in args)).cpu(), n, labels=labels
    )
    if baseline is not None:
        compared = evaluate(classifier, reference, lambda a, b: baseline(*(x[a:b] for x in args)).cpu(), n)
    floor = None
    if baseline is None:  # a comparison of two generators needs no floor; a quality figure does
        train_sample = random_subset(data.train_images, n, seed + 1)
        floor = evaluate(
            classifier, reference, lambda a, b: normalize(train_sample[a:b]), min(n, len(data.train_images))
        )
    result = {
        "metric": FCD_LABEL,
        "backend": backend,
        "precision": precision,
        "n": n,
        "seed": seed,
        "dataset": config.dataset,
        "classes": list(data.classes),
        "arch": architecture.name,
        "arch_spec": config.arch,
        "classifier": _classifier_record(classifier_meta, config.dataset),
        "generated": generated.to_dict(),
        "floor_real_train_vs_test": floor.to_dict() if floor else None,
    }
    if baseline is not None:
        result["baseline"] = compared.to_dict()
    if save:
        write_text(run_dir / eval_json(precision), json.dumps(result, indent=2))
    return result


def labels_beyond(architecture, data, classifier) -> str | None:
    """Why a conditional G's label accuracy cannot be read from the classifier: its classes are
    not the G's (a user's classifier may know other classes than the data's)."""
    spec = next(s for s in architecture.generator_inputs if isinstance(s, Labels))
    known = getattr(classifier, "num_classes", None) or classifier.head.out_features
    if spec.num_classes != known or known != len(data.classes):
        return (
            f"{architecture.name!r} takes {spec.num_classes} classes and the classifier knows {known}: "
            "label accuracy is not measured"
        )
    return None


@dataclass(frozen=True)
class Judge:
    """Which classifier measures a run on the user's own images: their TorchScript file (with the
    submodule giving its features), or the toolkit's trained on the folder's classes."""

    classifier: Path | None = None
    feature_layer: str | None = None
    train: bool = False

    def __post_init__(self):
        if self.feature_layer is not None and self.classifier is None:
            raise GanError("--feature-layer names a layer of --classifier; give that too")
        if self.classifier is not None and self.train:
            raise GanError("give --classifier (yours) or --train-classifier (the toolkit's), not both")


def _user_judge(data, judge: Judge | None, architecture, data_dir: Path, device, seed: int, log):
    """(the folder split into two halves, the classifier, its record). The halves stand in for
    the bundled datasets' train and test splits: the reference, and the real-vs-real floor."""
    judge = judge or Judge()
    if judge.classifier is None and not judge.train:
        raise GanError(
            f"{data.name} has no pinned classifier, so there is no FCD to give: pass --classifier "
            "MODEL.pt (your TorchScript classifier; --feature-layer names its feature backbone) or "
            "--train-classifier (the toolkit's, trained on the folder's classes)"
        )
    order = torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(seed))
    first, second = order[: len(order) // 2], order[len(order) // 2 :]
    halves = Dataset(
        data.name,
        data.classes,
        data.train_images[first],
        data.train_labels[first],
        data.train_images[second],
        data.train_labels[second],
        data.source,
    )
    if judge.classifier is not None:
        classifier, meta = load_user_classifier(
            judge.classifier, judge.feature_layer, architecture.image_shape, device
        )
    else:
        classifier, meta = folder_classifier(halves, data_dir, device, log)
    return halves, classifier, meta


def eval_json(precision: str = "fp32") -> str:
    return EVAL_JSON if precision == "fp32" else f"eval-{precision}.json"


def _classifier_record(meta: dict, dataset: str) -> dict:
    return {
        # FCD figures compare only when measured with the same classifier.
        "version": meta.get("version", f"local-{meta['sha256'][:12]}"),
        "source": meta.get("source", "trained here"),
        "test_accuracy": meta["test_accuracy"],
        "required_accuracy": REQUIRED_ACCURACY.get(dataset),
        "sha256": meta["sha256"],
    }


def _dataset_for(run_dir: Path, config, asked: str | None, architecture, data_dir: Path, log):
    """The run's dataset (a user's images as they were trained on), if a classifier can judge this
    architecture's images."""
    trained_on = config.dataset
    if asked is not None and asked != trained_on:
        raise GanError(
            f"{run_dir} was trained on {trained_on}, not {asked}; its quality can only "
            f"be measured against {trained_on}"
        )
    if any(isinstance(spec, Image) for spec in architecture.generator_inputs):
        raise GanError(
            f"gan eval measures generators of noise (and class labels); {architecture.name!r} turns a "
            "source image into its own, and there is no dataset of source images to draw from"
        )
    if is_user_data(trained_on):
        return load_user_data(
            Path(trained_on),
            architecture.image_shape,
            data_dir,
            limit=config.limit,
            seed=config.seed,
            skip_bad=config.skip_bad_images,
            log=log,
        )
    data = load_dataset(trained_on, data_dir, log=log)
    data_shape = (1, *data.test_images.shape[1:])
    if tuple(architecture.image_shape) != data_shape:
        raise GanError(
            f"gan eval measures {trained_on}-shaped images {data_shape} with its classifier; "
            f"{architecture.name!r} makes {tuple(architecture.image_shape)}"
        )
    return data


def _eager_generator(run_dir: Path, device: torch.device) -> Generator:
    # evaluate() calls it under no_grad.
    run = load_trained_run(run_dir)
    generator = as_called(run.architecture.signature, "generator", run.generator).to(device).eval()
    return lambda *args: generator(*(x.to(device) for x in args))


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
    def __call__(self, generator: torch.nn.Module, signature: Signature) -> float:
        # Every input G takes, seeded: noise, and labels spanning the classes of a conditional G.
        args = [x.to(self.device) for x in signature.draw("generator", self.n, self.seed)]
        was_training = generator.training
        generator.eval()
        try:
            return evaluate(
                self.classifier, self.reference, lambda a, b: generator(*(x[a:b] for x in args)), self.n
            ).fcd
        finally:
            generator.train(was_training)

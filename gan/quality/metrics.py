"""Is it actually better? FCD, a classifier score and class coverage, next to the real-data floor.

FCD is the Fréchet distance between Gaussians fitted to the classifier's penultimate features of
generated and held-out real images (torchmetrics' FID machinery with our feature extractor). It is
NOT comparable to published Inception-FID numbers. The floor is the same distance between the
real train and test splits: the best a generator could hope for at this sample size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from gan.data.images import normalize
from gan.quality.classifier import Classifier, FeatureExtractor

FCD_LABEL = "classifier-feature FD (FCD; not comparable to Inception-FID)"
CHUNK = 500


@dataclass(frozen=True)
class Quality:
    fcd: float
    classifier_score: float
    coverage_kl: float
    class_histogram: list[float]
    n: int
    # A conditional G: the share of its images the classifier assigns to the class they were asked
    # for, over all and per class (None for a G without labels).
    label_accuracy: float | None = None
    label_accuracy_per_class: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _fid(classifier: Classifier) -> FrechetInceptionDistance:
    return FrechetInceptionDistance(
        feature=FeatureExtractor(classifier), normalize=False, reset_real_features=False
    )


@torch.no_grad()
def _feed(
    fid: FrechetInceptionDistance,
    images_in_range: Callable[[int, int], torch.Tensor],
    n: int,
    real: bool,
    classifier: Classifier,
) -> torch.Tensor:
    """Adds n images (made chunk by chunk) to one side of the FID; returns their class probabilities."""
    device = next(classifier.parameters()).device
    probabilities = []
    for start in range(0, n, CHUNK):
        images = images_in_range(start, min(n, start + CHUNK)).to(device, torch.float32)
        fid.update(images, real=real)
        probabilities.append(torch.softmax(classifier(images), dim=1).double().cpu())
    return torch.cat(probabilities)


def random_subset(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n images drawn without replacement: the splits are stored class by class, so a prefix is
    not a sample."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[: min(n, len(images))]]


def real_reference(
    classifier: Classifier, real_uint8: torch.Tensor, n: int, seed: int = 0
) -> FrechetInceptionDistance:
    fid = _fid(classifier).to(next(classifier.parameters()).device)
    sample = random_subset(real_uint8, n, seed)
    _feed(fid, lambda a, b: normalize(sample[a:b]), len(sample), real=True, classifier=classifier)
    return fid


def evaluate(
    classifier: Classifier,
    reference: FrechetInceptionDistance,
    make_images: Callable[[int, int], torch.Tensor],
    n: int,
    labels: torch.Tensor | None = None,
) -> Quality:
    """`make_images(a, b)` returns images a..b-1 in [-1, 1]; `reference` holds the real features.
    `labels`: the classes a conditional G was asked for, image by image."""
    reference.reset()  # keeps the real features (reset_real_features=False), drops earlier fakes
    probabilities = _feed(reference, make_images, n, real=False, classifier=classifier)
    fcd = float(reference.compute())
    classes = probabilities.shape[1]
    marginal = probabilities.mean(0)
    kl_each = (probabilities * (probabilities.clamp_min(1e-12).log() - marginal.log())).sum(1)
    predicted = probabilities.argmax(1)
    histogram = torch.bincount(predicted, minlength=classes).double() / len(probabilities)
    coverage_kl = float((histogram * (histogram.clamp_min(1e-12) * classes).log()).sum())
    accuracy, per_class = None, None
    if labels is not None:
        hits = (predicted == labels.cpu()).double()
        accuracy = float(hits.mean())
        per_class = [round(float(hits[labels.cpu() == c].mean()), 4) for c in range(classes)]
    return Quality(
        fcd=fcd,
        classifier_score=float(math.exp(kl_each.mean())),
        coverage_kl=coverage_kl,
        class_histogram=[round(float(h), 4) for h in histogram],
        n=n,
        label_accuracy=accuracy,
        label_accuracy_per_class=per_class,
    )

"""The judge for image quality: a small CNN trained, deterministically, on the real data.

No Inception weights can be downloaded, and Inception fits 28x28 grayscale badly anyway, so the
Fréchet distance is measured in the penultimate features of this classifier instead (FCD).

FID compares across papers only because its Inception weights are fixed, so the classifiers of the
bundled datasets are fixed too: trained once by `train_classifier`, committed beside this module
(classifiers/NAME.safetensors, with their sha256, version and test accuracy) and loaded by
default. A dataset without a pinned classifier, or a pinned file that fails its sha256, gets one
trained here and cached beside the data, retrained whenever that cache fails its check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import nn

from gan.data import Dataset
from gan.data.images import normalize, with_channels
from gan.files.atomic import write_bytes, write_text
from gan.files.hashing import sha256_file

# Minimum test accuracy for the features to be trusted, per dataset.
REQUIRED_ACCURACY = {"fashion-mnist": 0.90, "mnist": 0.98}
EPOCHS, BATCH, MAX_LR, SEED = 3, 128, 3e-3, 0
PINNED_DIR = Path(__file__).parent / "classifiers"
# Bumped whenever the pinned weights change: FCD figures compare only at the same version.
PINNED_VERSION = 1


class Classifier(nn.Module):
    """LeNet-like: two conv blocks, a 128-d feature layer, a logit per class. Takes images in
    [-1, 1] of `image_shape` (the bundled datasets' 1x28x28 and ten classes by default)."""

    num_features = 128  # torchmetrics reads this instead of probing with a 299x299 RGB dummy

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10):
        super().__init__()
        channels, height, width = image_shape
        # Each block: a 3x3 convolution (-2) then 2x2 pooling (/2).
        after = [((d - 2) // 2 - 2) // 2 for d in (height, width)]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * after[0] * after[1], self.num_features),
            nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class FeatureExtractor(nn.Module):
    """The classifier's penultimate layer, as torchmetrics' FID wants a feature module."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)


def pinned_paths(dataset: str, pinned_dir: Path = PINNED_DIR) -> tuple[Path, Path]:
    return pinned_dir / f"{dataset}.safetensors", pinned_dir / f"{dataset}.json"


def cache_paths(data_dir: Path, dataset: str) -> tuple[Path, Path]:
    return data_dir / f"classifier-{dataset}.safetensors", data_dir / f"classifier-{dataset}.json"


def load_or_train_classifier(
    dataset: Dataset,
    data_dir: Path,
    device: torch.device,
    log: Callable[[str], None] = lambda _: None,
    pinned_dir: Path = PINNED_DIR,
) -> tuple[Classifier, dict]:
    """The dataset's pinned classifier, else the one cached in `data_dir`, else one trained now
    and cached; with its record (`source` says which: "pinned" or "trained here")."""
    weights_path, meta_path = pinned_paths(dataset.name, pinned_dir)
    if weights_path.exists():
        if (found := _load_checked(weights_path, meta_path, device)) is not None:
            return found
        log(f"pinned classifier {weights_path} fails its sha256 check; using one trained here")
    weights_path, meta_path = cache_paths(Path(data_dir), dataset.name)
    if weights_path.exists():
        if (found := _load_checked(weights_path, meta_path, device)) is not None:
            return found
        log(f"classifier cache {weights_path} fails its sha256 check; retraining it")
    log(f"training the {dataset.name} feature classifier (once; cached in {data_dir})")
    classifier, accuracy = train_classifier(dataset, device)
    save_classifier(classifier, weights_path, meta_path, dataset.name, accuracy, source="trained here")
    return classifier.eval(), json.loads(meta_path.read_text())


def _load_checked(
    weights_path: Path, meta_path: Path, device: torch.device
) -> tuple[Classifier, dict] | None:
    """The classifier in `weights_path` if its record's sha256 matches, else None (rebuilt, as a
    corrupt dataset cache is)."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("test_accuracy"), float):
        return None
    if sha256_file(weights_path) != meta.get("sha256"):
        return None
    # A classifier of a user's images records its input shape and classes; the pinned ones are 1x28x28, ten.
    classifier = Classifier(tuple(meta.get("image_shape", (1, 28, 28))), meta.get("classes", 10))
    classifier.load_state_dict(load_file(str(weights_path)))
    return classifier.to(device).eval(), meta


def save_classifier(
    classifier: Classifier,
    weights_path: Path,
    meta_path: Path,
    dataset: str,
    accuracy: float,
    source: str,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    classes: int = 10,
) -> None:
    write_bytes(weights_path, save({k: v.cpu().contiguous() for k, v in classifier.state_dict().items()}))
    sha256 = sha256_file(weights_path)
    meta = {
        "dataset": dataset,
        # Names the weights: the pinned ones by release, a local one by its hash.
        "version": f"{dataset}-v{PINNED_VERSION}" if source == "pinned" else f"local-{sha256[:12]}",
        "source": source,
        "test_accuracy": accuracy,
        "image_shape": list(image_shape),
        "classes": classes,
        "epochs": EPOCHS,
        "seed": SEED,
        "torch": torch.__version__,
        "sha256": sha256,
    }
    write_text(meta_path, json.dumps(meta, indent=2))


def train_classifier(
    dataset: Dataset, device: torch.device, epochs: int = EPOCHS
) -> tuple[Classifier, float]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        shape = tuple(with_channels(dataset.train_images[:1]).shape[1:])
        classifier = Classifier(shape, len(dataset.classes)).to(device)
    # Channels-last convolutions train 1.4x faster on CPU (oneDNN's native layout; 31.5 -> 22.5
    # s/epoch on a 2-core AMD EPYC); the model returns to the default layout once trained, as it
    # loads from the cache.
    classifier.to(memory_format=torch.channels_last)
    rng = torch.Generator(device=device).manual_seed(SEED)
    images, labels = dataset.train_images.to(device), dataset.train_labels.to(device)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=MAX_LR)
    steps_per_epoch = -(-len(images) // BATCH)
    # One-cycle: three epochs at a high peak rate reach what five at a constant rate do.
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, MAX_LR, total_steps=epochs * steps_per_epoch)
    classifier.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=rng, device=device)
        for start in range(0, len(images), BATCH):
            index = order[start : start + BATCH]
            batch = normalize(images[index]).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(classifier(batch), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    classifier.to(memory_format=torch.contiguous_format).eval()
    return classifier, accuracy(classifier, dataset, device)


@torch.no_grad()
def accuracy(classifier: Classifier, dataset: Dataset, device: torch.device) -> float:
    correct = 0
    for start in range(0, len(dataset.test_images), 1000):
        images = normalize(dataset.test_images[start : start + 1000].to(device))
        correct += (
            (classifier(images).argmax(1).cpu() == dataset.test_labels[start : start + 1000]).sum().item()
        )
    return correct / len(dataset.test_images)

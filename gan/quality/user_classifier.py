"""The judge of quality for a user's own images, which have no pinned classifier.

Two ways, both said in the eval record so figures are compared only under the same judge:
- the user's own classifier, a TorchScript file mapping images in [-1, 1] to class logits, with
  the submodule that computes its features named (`--feature-layer`, called on the images: a
  backbone, as the toolkit's own Classifier has `features`); without one, the logits are the
  features;
- the toolkit's small classifier, trained here on the folder's classes (`--train-classifier`),
  checked on a held-out tenth, and cached beside the data.

Without either there is no FCD: `gan eval` says so rather than measure with a classifier that has
never seen such images.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gan.data import Dataset
from gan.errors import GanError
from gan.files.hashing import sha256_arrays, sha256_file
from gan.quality.classifier import _load_checked, save_classifier, train_classifier


class UserClassifier(nn.Module):
    """A user's TorchScript classifier, shaped as the quality code reads a classifier: forward
    gives class logits, `features` the feature layer's output, `num_features` its width."""

    def __init__(
        self, module: nn.Module, feature_layer: str | None, image_shape: tuple, device: torch.device
    ):
        super().__init__()
        self.module = module
        self.backbone = _submodule(module, feature_layer) if feature_layer else None
        with torch.no_grad():
            probe = torch.zeros(2, *image_shape, device=device)
            try:
                self.num_features = self.features(probe).shape[1]
                self.num_classes = self(probe).shape[1]
            except Exception as error:
                raise GanError(
                    f"the classifier failed on images of shape {tuple(image_shape)}: "
                    f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                ) from None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images).flatten(1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return (self.backbone or self.module)(images).flatten(1)


def load_user_classifier(
    path: Path, feature_layer: str | None, image_shape: tuple, device: torch.device
) -> tuple[UserClassifier, dict]:
    path = Path(path)
    if not path.is_file():
        raise GanError(f"--classifier {path} does not exist")
    try:
        module = torch.jit.load(str(path), map_location=device).eval()
    except Exception as error:
        raise GanError(
            f"--classifier {path} is not a TorchScript file ({type(error).__name__}); save yours with "
            "torch.jit.script(model).save(PATH)"
        ) from None
    classifier = UserClassifier(module, feature_layer, image_shape, device)
    sha256 = sha256_file(path)
    return classifier, {
        "version": f"user-{sha256[:12]}",
        "source": str(path.resolve()),
        "feature_layer": feature_layer,
        "test_accuracy": None,
        "sha256": sha256,
    }


def folder_classifier(
    data: Dataset, data_dir: Path, device: torch.device, log: Callable[[str], None]
) -> tuple[nn.Module, dict]:
    """The toolkit's classifier trained on `data`'s train split (the folder's classes) and
    checked on its test split, from the cache beside the data when it was trained before on the
    same images (keyed by their bytes, so a changed folder trains a new one)."""
    if len(data.classes) < 2:
        raise GanError(
            f"--train-classifier learns the folder's classes, but {data.name} has none: put each class's "
            "images in a subfolder of its own, or give --classifier"
        )
    key = sha256_arrays({"images": data.train_images.numpy(), "labels": data.train_labels.numpy()})[:16]
    weights_path = data_dir / f"classifier-images-{key}.safetensors"
    meta_path = weights_path.with_suffix(".json")
    if weights_path.exists() and (found := _load_checked(weights_path, meta_path, device)) is not None:
        return found
    log(
        f"training a feature classifier on the {len(data.classes)} classes of {data.name} "
        f"(cached in {data_dir})"
    )
    classifier, accuracy = train_classifier(data, device)
    shape = tuple(data.train_images.shape[1:])
    save_classifier(
        classifier, weights_path, meta_path, data.name, accuracy, "trained here", shape, len(data.classes)
    )
    return classifier.eval(), json.loads(meta_path.read_text())


def _submodule(module: nn.Module, dotted: str) -> nn.Module:
    """A submodule by dotted path; TorchScript modules allow attribute access, not get_submodule."""
    found = module
    for part in dotted.split("."):
        if not hasattr(found, part):
            raise GanError(f"--feature-layer {dotted}: the classifier has no submodule {part!r}")
        found = getattr(found, part)
    return found

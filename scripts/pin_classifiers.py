"""Writes the pinned feature classifiers into gan/quality/classifiers/, for the maintainers.

    .venv/bin/python scripts/pin_classifiers.py [--data-dir data] [--retrain]

Each is `train_classifier` with its fixed seed and settings, or, without --retrain, the one this
machine already trained and cached beside the data with those same settings. Changing the pinned
weights changes every FCD figure: bump PINNED_VERSION in gan/quality/classifier.py with them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from gan.data import DATASETS, load_dataset
from gan.quality.classifier import (
    EPOCHS,
    PINNED_DIR,
    REQUIRED_ACCURACY,
    SEED,
    Classifier,
    accuracy,
    cache_paths,
    pinned_paths,
    save_classifier,
    train_classifier,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--retrain", action="store_true", help="train anew even if a cache exists")
    args = parser.parse_args()
    cpu = torch.device("cpu")
    PINNED_DIR.mkdir(exist_ok=True)
    for name in DATASETS:
        data = load_dataset(name, args.data_dir)
        cached, cached_meta = cache_paths(args.data_dir, name)
        meta = json.loads(cached_meta.read_text()) if cached_meta.exists() else {}
        if not args.retrain and cached.exists() and (meta.get("epochs"), meta.get("seed")) == (EPOCHS, SEED):
            classifier = Classifier()
            classifier.load_state_dict(load_file(str(cached)))
        else:
            classifier, _ = train_classifier(data, cpu)
        measured = accuracy(classifier.eval(), data, cpu)
        if measured < REQUIRED_ACCURACY[name]:
            raise SystemExit(f"{name}: test accuracy {measured:.4f} is under {REQUIRED_ACCURACY[name]}")
        save_classifier(classifier, *pinned_paths(name), name, measured, source="pinned")
        print(f"{name}: pinned, test accuracy {measured:.4f}")


if __name__ == "__main__":
    main()

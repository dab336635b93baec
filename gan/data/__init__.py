"""Datasets as whole uint8 tensors: no per-sample transforms, no DataLoader workers."""

from gan.data.datasets import DATASETS, SOURCES, Dataset, default_data_dir, get_spec, load_dataset

__all__ = ["DATASETS", "SOURCES", "Dataset", "default_data_dir", "get_spec", "load_dataset"]

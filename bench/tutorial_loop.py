"""The seed tutorial's training loop, kept verbatim in spirit as the baseline `gan train` beats.

torchvision's FashionMNIST with ToTensor + Normalize, a DataLoader(batch_size=64, shuffle=True),
separate real and fake D passes, and `.item()` every step: the way the tutorial writes it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms

from gan.data import Dataset
from gan.data.idx import write_idx
from gan.models.builtins import mlp


def write_torchvision_raw(dataset: Dataset, root: Path) -> Path:
    """Lays the dataset out as torchvision expects it, so torchvision's own class can read it."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "train-images-idx3-ubyte", dataset.train_images.numpy())
    write_idx(raw / "train-labels-idx1-ubyte", dataset.train_labels.numpy())
    write_idx(raw / "t10k-images-idx3-ubyte", dataset.test_images.numpy())
    write_idx(raw / "t10k-labels-idx1-ubyte", dataset.test_labels.numpy())
    return root


def time_tutorial_epoch(
    dataset: Dataset, max_steps: int | None = None, seed: int = 0, device: torch.device = torch.device("cpu")
) -> float:
    """Seconds per epoch of the tutorial's loop (extrapolated when `max_steps` cuts it short), on
    `device` the way the tutorial would: models moved once, each batch moved as it arrives."""
    with tempfile.TemporaryDirectory(prefix="gan-tutorial-") as tmp:
        root = write_torchvision_raw(dataset, Path(tmp))
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        train_set = torchvision.datasets.FashionMNIST(root, train=True, transform=transform)
        loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
        generator, discriminator = (m.to(device) for m in mlp().build(seed))
        criterion = nn.BCELoss()
        opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        steps = len(loader) if max_steps is None else min(max_steps, len(loader))
        start = time.perf_counter()
        for step, (real, _) in enumerate(loader):
            if step == steps:
                break
            real = real.to(device)
            batch = real.size(0)
            real_labels = torch.ones(batch, 1, device=device)
            fake_labels = torch.zeros(batch, 1, device=device)
            opt_d.zero_grad()
            loss_real = criterion(discriminator(real), real_labels)
            fake = generator(torch.randn(batch, 100, device=device))
            loss_fake = criterion(discriminator(fake.detach()), fake_labels)
            loss_d = loss_real + loss_fake
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = criterion(discriminator(fake), real_labels)
            loss_g.backward()
            opt_g.step()
            loss_d.item(), loss_g.item()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) * len(loader) / steps

"""Checkpoints: tensors in safetensors, everything else in JSON; a pickle is never loaded.

`checkpoint.json` names the tensor file and its sha256, and is written last, so a crash or Ctrl-C
at any moment leaves the previous consistent pair in place.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from gan.errors import GanError
from gan.files.atomic import write_bytes, write_text
from gan.files.hashing import sha256_file
from gan.files.ownership import RUN_FORMAT
from gan.models.inputs import Labels, Signature
from gan.train.config import TrainConfig

CHECKPOINT_JSON = "checkpoint.json"
FORMAT_VERSION = 1
# How many images the fixed-noise grid of a run holds (64, the seed tutorial's).
FIXED_NOISE_SIZE = 64
# A conditional G's grid: one row of this many per class, for up to GRID_CLASSES classes.
GRID_COLUMNS, GRID_CLASSES = 8, 16


def fixed_grid_labels(signature: Signature) -> torch.Tensor | None:
    """The labels of a conditional G's fixed grid, one class per row; None for a G without labels."""
    labels = next((spec for spec in signature.generator_inputs if isinstance(spec, Labels)), None)
    if labels is None:
        return None
    return torch.arange(min(labels.num_classes, GRID_CLASSES)).repeat_interleave(GRID_COLUMNS)


def fixed_grid_size(signature: Signature) -> int:
    labels = fixed_grid_labels(signature)
    return FIXED_NOISE_SIZE if labels is None else len(labels)


@dataclass
class Checkpoint:
    config: TrainConfig
    epoch: int  # epochs completed
    step: int  # optimizer steps completed (per model)
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None  # None: a generator-only model (gan import)
    opt_g: dict | None  # None: imported weights, no optimizer state yet
    opt_d: dict | None
    rng_state: torch.Tensor | None  # None: imported; a resumed run seeds its RNG from the config
    fixed_noise: torch.Tensor
    tensor_sha256: str = ""


def _optimizer_tensors(prefix: str, state_dict: dict | None) -> tuple[dict, dict | None]:
    """Splits an optimizer state_dict into its tensors and its JSON-able rest."""
    if state_dict is None:
        return {}, None
    tensors, state_meta = {}, {}
    for index, state in state_dict["state"].items():
        state_meta[str(index)] = sorted(state)
        for key, value in state.items():
            tensors[f"{prefix}.state.{index}.{key}"] = value
    return tensors, {"state_keys": state_meta, "param_groups": state_dict["param_groups"]}


def _optimizer_state(prefix: str, tensors: dict, meta: dict | None) -> dict | None:
    if meta is None:
        return None
    state = {
        int(index): {key: tensors[f"{prefix}.state.{index}.{key}"] for key in keys}
        for index, keys in meta["state_keys"].items()
    }
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    tensors = {f"generator.{k}": v for k, v in checkpoint.generator.items()}
    tensors |= {f"discriminator.{k}": v for k, v in (checkpoint.discriminator or {}).items()}
    opt_g_tensors, opt_g_meta = _optimizer_tensors("opt_g", checkpoint.opt_g)
    opt_d_tensors, opt_d_meta = _optimizer_tensors("opt_d", checkpoint.opt_d)
    tensors |= opt_g_tensors | opt_d_tensors
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    tensor_name = f"checkpoint-epoch{checkpoint.epoch:03d}.safetensors"
    # Serialised in memory and written by Python, so a full disk is an OSError, never a native abort.
    metadata = {"format": "gan-toolkit", "arch": checkpoint.config.arch}
    write_bytes(run_dir / tensor_name, save(tensors, metadata=metadata))
    meta = {
        "format": RUN_FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
        "tensors": tensor_name,
        "tensors_sha256": sha256_file(run_dir / tensor_name),
        "config": checkpoint.config.to_dict(),
        "has_discriminator": checkpoint.discriminator is not None,
        "opt_g": opt_g_meta,
        "opt_d": opt_d_meta,
        "rng_state": None
        if checkpoint.rng_state is None
        else base64.b64encode(checkpoint.rng_state.numpy().tobytes()).decode(),
        # float32 -> Python float is exact, so the noise round-trips bit for bit.
        "fixed_noise": checkpoint.fixed_noise.cpu().tolist(),
    }
    previous = _previous_tensor_file(run_dir)
    write_text(run_dir / CHECKPOINT_JSON, json.dumps(meta))
    # Only the toolkit's own previous checkpoint goes; a user's copies beside it stay.
    if previous is not None and previous != tensor_name:
        (run_dir / previous).unlink(missing_ok=True)


def _previous_tensor_file(run_dir: Path) -> str | None:
    try:
        name = json.loads((run_dir / CHECKPOINT_JSON).read_text())["tensors"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) and Path(name).name == name else None


def load_checkpoint(run_dir: str | Path) -> Checkpoint:
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise GanError(
            f"{run_dir} is a file, not a run dir (the folder `gan train` or `gan import` writes); "
            f"to use your own weights: gan import RUN_DIR --arch SPEC --generator {run_dir}"
        )
    if not run_dir.is_dir():
        raise GanError(f"run dir {run_dir} does not exist")
    meta_path = run_dir / CHECKPOINT_JSON
    if not meta_path.exists():
        raise GanError(f"{run_dir} has no {CHECKPOINT_JSON}; is it a run dir of `gan train`?")
    try:
        meta = json.loads(meta_path.read_text())
        if not re.fullmatch(r"checkpoint-epoch\d{3,}\.safetensors", meta["tensors"]):
            raise ValueError(
                f"tensors must name a checkpoint-epochNNN.safetensors file, not {meta['tensors']!r}"
            )
        tensor_path = run_dir / meta["tensors"]
        expected_sha = meta["tensors_sha256"]
        if not isinstance(meta["config"], dict):
            raise TypeError("config must be an object")
        for key in ("epoch", "step"):
            if type(meta[key]) is not int or meta[key] < 0:
                raise ValueError(f"{key} must be a whole number >= 0, got {meta[key]!r}")
    except (ValueError, KeyError, TypeError) as error:
        raise GanError(f"{meta_path} is corrupt ({type(error).__name__}: {error})") from None
    if not tensor_path.exists():
        raise GanError(f"checkpoint tensors {tensor_path} are missing")
    if sha256_file(tensor_path) != expected_sha:
        raise GanError(f"checkpoint tensors {tensor_path} do not match their sha256: corrupt or truncated")
    try:
        tensors = load_file(str(tensor_path))
        checkpoint = Checkpoint(
            config=TrainConfig.from_dict(meta["config"]),
            epoch=meta["epoch"],
            step=meta["step"],
            generator=_strip(tensors, "generator."),
            discriminator=_strip(tensors, "discriminator.") if meta.get("has_discriminator", True) else None,
            opt_g=_optimizer_state("opt_g", tensors, meta["opt_g"]),
            opt_d=_optimizer_state("opt_d", tensors, meta["opt_d"]),
            rng_state=None
            if meta["rng_state"] is None
            else torch.frombuffer(bytearray(base64.b64decode(meta["rng_state"])), dtype=torch.uint8),
            fixed_noise=torch.tensor(meta["fixed_noise"], dtype=torch.float32),
            tensor_sha256=expected_sha,
        )
    except (SafetensorError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise GanError(f"checkpoint in {run_dir} is corrupt ({type(error).__name__}: {error})") from None
    return checkpoint


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

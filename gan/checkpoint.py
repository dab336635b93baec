"""Checkpoints: tensors in safetensors, everything else in JSON; a pickle is never loaded.

`checkpoint.json` names the tensor file and its sha256, and is written last, so a crash or Ctrl-C
at any moment leaves the previous consistent pair in place.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gan.atomic import atomic_path, write_text
from gan.config import TrainConfig
from gan.errors import GanError
from gan.hashing import sha256_file
from gan.models import build_models

CHECKPOINT_JSON = "checkpoint.json"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    config: TrainConfig
    epoch: int  # epochs completed
    step: int  # optimizer steps completed (per model)
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor]
    opt_g: dict
    opt_d: dict
    rng_state: torch.Tensor
    fixed_noise: torch.Tensor
    tensor_sha256: str = ""


def _optimizer_tensors(prefix: str, state_dict: dict) -> tuple[dict, dict]:
    """Splits an optimizer state_dict into its tensors and its JSON-able rest."""
    tensors, state_meta = {}, {}
    for index, state in state_dict["state"].items():
        state_meta[str(index)] = sorted(state)
        for key, value in state.items():
            tensors[f"{prefix}.state.{index}.{key}"] = value
    return tensors, {"state_keys": state_meta, "param_groups": state_dict["param_groups"]}


def _optimizer_state(prefix: str, tensors: dict, meta: dict) -> dict:
    state = {
        int(index): {key: tensors[f"{prefix}.state.{index}.{key}"] for key in keys}
        for index, keys in meta["state_keys"].items()
    }
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    tensors = {f"generator.{k}": v for k, v in checkpoint.generator.items()}
    tensors |= {f"discriminator.{k}": v for k, v in checkpoint.discriminator.items()}
    opt_g_tensors, opt_g_meta = _optimizer_tensors("opt_g", checkpoint.opt_g)
    opt_d_tensors, opt_d_meta = _optimizer_tensors("opt_d", checkpoint.opt_d)
    tensors |= opt_g_tensors | opt_d_tensors
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    tensor_name = f"checkpoint-epoch{checkpoint.epoch:03d}.safetensors"
    with atomic_path(run_dir / tensor_name) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "gan-toolkit", "arch": checkpoint.config.arch})
    meta = {
        "format_version": FORMAT_VERSION,
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
        "tensors": tensor_name,
        "tensors_sha256": sha256_file(run_dir / tensor_name),
        "config": checkpoint.config.to_dict(),
        "opt_g": opt_g_meta,
        "opt_d": opt_d_meta,
        "rng_state": base64.b64encode(checkpoint.rng_state.numpy().tobytes()).decode(),
        # float32 -> Python float is exact, so the noise round-trips bit for bit.
        "fixed_noise": checkpoint.fixed_noise.cpu().tolist(),
    }
    write_text(run_dir / CHECKPOINT_JSON, json.dumps(meta))
    for old in run_dir.glob("checkpoint-epoch*.safetensors"):
        if old.name != tensor_name:
            old.unlink()


def load_checkpoint(run_dir: str | Path) -> Checkpoint:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanError(f"run dir {run_dir} does not exist")
    meta_path = run_dir / CHECKPOINT_JSON
    if not meta_path.exists():
        raise GanError(f"{run_dir} has no {CHECKPOINT_JSON}; is it a run dir of `gan train`?")
    try:
        meta = json.loads(meta_path.read_text())
        tensor_path = run_dir / meta["tensors"]
        expected_sha = meta["tensors_sha256"]
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
            epoch=int(meta["epoch"]),
            step=int(meta["step"]),
            generator=_strip(tensors, "generator."),
            discriminator=_strip(tensors, "discriminator."),
            opt_g=_optimizer_state("opt_g", tensors, meta["opt_g"]),
            opt_d=_optimizer_state("opt_d", tensors, meta["opt_d"]),
            rng_state=torch.frombuffer(bytearray(base64.b64decode(meta["rng_state"])), dtype=torch.uint8),
            fixed_noise=torch.tensor(meta["fixed_noise"], dtype=torch.float32),
            tensor_sha256=expected_sha,
        )
    except (SafetensorError, KeyError, ValueError, TypeError) as error:
        raise GanError(f"checkpoint in {run_dir} is corrupt ({type(error).__name__}: {error})") from None
    return checkpoint


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict, with a mismatch explained in one line instead of a traceback."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or first[0]
        raise GanError(
            f"the checkpoint's {what} does not fit the {type(module).__name__} architecture: {detail}"
        ) from None


def trained_models(checkpoint: Checkpoint) -> tuple[nn.Module, nn.Module]:
    """The checkpoint's generator and discriminator with their weights loaded."""
    generator, discriminator = build_models(checkpoint.config.arch, checkpoint.config.z_dim, seed=0)
    load_weights(generator, checkpoint.generator, "generator")
    load_weights(discriminator, checkpoint.discriminator, "discriminator")
    return generator, discriminator

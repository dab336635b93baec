"""State dicts: a user's from disk, as data only (safetensors, or a .pt/.pth read with
`torch.load(weights_only=True)`, which refuses any pickle that is not plain tensors and
containers), and any state dict fitted strictly into a module."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from gan.errors import GanError

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise GanError(f"weights file {path} does not exist")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise GanError(f"{path}: expected a state_dict in {', '.join(WEIGHT_SUFFIXES)}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise GanError(f"{path} is not a readable safetensors file: {error}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise GanError(
            f"{path} holds more than plain tensors, so it was not loaded (weights_only=True refuses "
            f"pickled code): {first[:200]}. Save model.state_dict() instead"
        ) from None
    except Exception as error:
        raise GanError(f"{path} is not a readable PyTorch file ({type(error).__name__}: {error})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # the common {"state_dict": ..., "epoch": ...} wrapper
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise GanError(f"{path} is not a state_dict (a mapping of names to tensors)")
    return state


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Strict load_state_dict; a mismatch is one line naming the first bad key and both shapes."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        detail = f"missing key {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
        raise GanError(
            f"the {what} weights do not fit {type(module).__name__}: {detail} "
            f"({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise GanError(
                f"the {what} weights do not fit {type(module).__name__}: {key!r} has shape "
                f"{tuple(tensor.shape)}, the model expects {tuple(expected[key].shape)}"
            )
    module.load_state_dict(state, strict=True)

"""Run dirs: checkpoints (safetensors + JSON), a user's weight files, `gan import`, and the
checks before a run dir is created or replaced."""

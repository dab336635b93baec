"""Models, data, training, checkpoints and pictures for the GAN toolkit.

`from gan import Architecture` is the public way to describe your own GAN (see the README).
"""


def __getattr__(name: str):
    # Lazy, so `gan --help` and light submodules do not import torch just to reach this package.
    if name == "Architecture":
        from gan.models.architecture import Architecture

        return Architecture
    raise AttributeError(f"module 'gan' has no attribute {name!r}")


__all__ = ["Architecture"]

"""Models, data, training, checkpoints and pictures for the GAN toolkit.

`from gan import Architecture, Noise, Labels, Image` is the public way to describe your own GAN
(see docs/bring-your-own-gan.md).
"""

_PUBLIC = {
    "Architecture": "gan.models.architecture",
    "Noise": "gan.models.inputs",
    "Labels": "gan.models.inputs",
    "Image": "gan.models.inputs",
}


def __getattr__(name: str):
    # Lazy, so `gan --help` and light submodules do not import torch just to reach this package.
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'gan' has no attribute {name!r}")


__all__ = list(_PUBLIC)

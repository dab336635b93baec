"""--arch specs: built-in names, files, modules, and architectures that installed packages register."""

from __future__ import annotations

import textwrap

from helpers import gan

from gan.models.spec import load_architecture


def test_an_installed_package_registers_an_architecture(tmp_path, monkeypatch):
    """A test-only distribution: a dist-info with the entry point, on sys.path, as pip would lay it."""
    package = tmp_path / "tiny_gan_pkg.py"
    package.write_text(
        textwrap.dedent(
            """
            from torch import nn
            from gan import Architecture

            ARCH = Architecture(
                name="tiny", generator=lambda: nn.Sequential(nn.Linear(4, 12), nn.Unflatten(1, (3, 2, 2))),
                discriminator=None, z_shape=(4,), image_shape=(3, 2, 2),
            )
            """
        )
    )
    dist = tmp_path / "tiny_gan-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-gan\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gan_toolkit.architectures]\ntiny-gan = tiny_gan_pkg:ARCH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    architecture, ref = load_architecture("tiny-gan")
    assert architecture.name == "tiny" and ref.spec == "tiny-gan"
    assert "tiny-gan" in gan("train", "--arch", "nope").output

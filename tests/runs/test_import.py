"""`gan import`: a run dir from a user's weight files, and every way those files or the
architecture can be wrong, refused in one line with nothing written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from helpers import EXAMPLE, assert_user_error, gan, save_weights

from gan.models.spec import load_architecture


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("specs")
    (tmp / "bad.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            from gan import Architecture

            NOT_AN_ARCH = 42

            def broken():
                raise ValueError("channels must be even")

            RAISES = Architecture(name="raises", generator=broken, discriminator=None,
                                  z_shape=(4,), image_shape=(1, 28, 28))
            """
        )
    )
    g_path, d_path = save_weights(f"{EXAMPLE}:TINY_DCGAN64", tmp)
    state = torch.load(g_path, weights_only=True)
    torch.save({**state, "main.0.weight": torch.zeros(3)}, tmp / "wrong_shape.pth")
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp / "wrong_keys.pth")
    torch.save(load_architecture(f"{EXAMPLE}:TINY_DCGAN64")[0].generator(), tmp / "pickled_module.pth")
    return tmp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "{tmp}/missing.py:ARCH"], "missing.py does not exist"),
        (["--arch", "{tmp}/bad.py:NOPE"], "has no attribute 'NOPE'"),
        (["--arch", "{tmp}/bad.py:NOT_AN_ARCH"], "is a int, not a gan.Architecture"),
        (["--arch", "{tmp}/bad.py:RAISES"], "its generator factory raised ValueError: channels must be even"),
        (["--generator", "{tmp}/wrong_keys.pth"], "unexpected key 'extra.weight'"),
        (["--generator", "{tmp}/wrong_shape.pth"], "'main.0.weight' has shape (3,), the model expects"),
        (["--generator", "{tmp}/pickled_module.pth"], "holds more than plain tensors, so it was not loaded"),
        (["--arch", f"{EXAMPLE}:GENERATOR_ONLY", "--discriminator", "{tmp}/netD.pth"], "is generator-only"),
    ],
)
def test_import_refuses_bad_input_and_writes_nothing(user_files, args, message):
    defaults = {"--arch": f"{EXAMPLE}:TINY_DCGAN64", "--generator": str(user_files / "netG.pth")}
    given = dict(zip(args[::2], (a.format(tmp=user_files) for a in args[1::2])))
    options = [x for k, v in {**defaults, **given}.items() for x in (k, v)]
    out = user_files / "run"
    assert_user_error(gan("import", out, *options), message)
    assert not out.exists()


def test_export_of_a_weights_file_points_to_import(user_files):
    assert_user_error(gan("export", user_files / "netG.pth"), "is a file, not a run dir")
    assert_user_error(gan("export", user_files / "netG.pth"), "gan import RUN_DIR --arch SPEC --generator")

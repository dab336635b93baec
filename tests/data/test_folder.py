"""A user's own images as a dataset: folders, .zip and .npz fitted to the architecture's shape,
cached, and every bad input refused in one line before anything is written."""

import zipfile

import numpy as np
import pytest
import torch
from helpers import REPO, assert_user_error, gan, image_folder
from PIL import Image

from gan.data import folder as folder_module
from gan.data.folder import load_user_data
from gan.errors import GanError

COLOUR = f"{REPO}/examples/conditional_dcgan.py:TINY_COLOUR_CDCGAN"


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory, data_dir):
    return image_folder(tmp_path_factory.mktemp("user") / "clothes", data_dir, per_class=12)


def test_a_class_folder_is_fitted_to_the_shape_labelled_and_cached(colour_folder, tmp_path):
    data = load_user_data(colour_folder, (3, 32, 32), tmp_path)
    assert data.train_images.shape == (120, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.classes[:3] == ("Ankle boot", "Bag", "Coat") and len(data.classes) == 10
    assert torch.equal(data.train_labels, torch.arange(10).repeat_interleave(12))
    assert data.source == "files" and len(data.test_images) == 0
    # grey pictures as RGB: the three channels agree
    assert torch.equal(data.train_images[:, 0], data.train_images[:, 2])
    again = load_user_data(colour_folder, (3, 32, 32), tmp_path)
    assert again.source == "cache" and torch.equal(again.train_images, data.train_images)
    grey = load_user_data(colour_folder, (1, 16, 16), tmp_path)  # another shape: decoded again
    assert grey.source == "files" and grey.train_images.shape == (120, 1, 16, 16)


def test_mixed_sizes_are_resized_and_center_cropped(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (64, 32), (255, 0, 0)).save(folder / "wide.png")
    Image.new("L", (20, 50), 128).save(folder / "tall.jpg")
    data = load_user_data(folder, (3, 32, 32), tmp_path / "cache")
    assert data.train_images.shape == (2, 3, 32, 32) and data.classes == ("images",)
    assert data.train_images[1, 0, 16, 16] == 255 and data.train_images[1, 1].max() == 0  # wide, red
    assert (data.train_images[0] == 128).all()


def test_zip_and_npz_read_like_a_folder(colour_folder, tmp_path):
    archive = tmp_path / "clothes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(colour_folder.rglob("*.png")):
            z.write(path, path.relative_to(colour_folder))
    from_zip = load_user_data(archive, (3, 32, 32), tmp_path / "cache")
    from_folder = load_user_data(colour_folder, (3, 32, 32), tmp_path / "cache")
    assert (
        torch.equal(from_zip.train_images, from_folder.train_images)
        and from_zip.classes == from_folder.classes
    )
    arrays = tmp_path / "arrays.npz"
    np.savez(arrays, images=np.full((5, 40, 40, 3), 200, np.uint8), labels=np.array([0, 1, 0, 1, 1]))
    from_npz = load_user_data(arrays, (1, 32, 32), tmp_path / "cache")
    assert from_npz.train_images.shape == (5, 1, 32, 32) and from_npz.classes == ("0", "1")
    assert (from_npz.train_images.int() - 200).abs().max() <= 1  # grey by luma, rounded


def with_a_corrupt_image(colour_folder, tmp_path):
    folder = tmp_path / "copy"
    for path in colour_folder.rglob("*.png"):
        target = folder / path.relative_to(colour_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (folder / "Bag" / "00003.png").write_bytes(b"not a png at all")
    return folder


def test_a_corrupt_image_is_named_and_skipped_only_when_asked(colour_folder, tmp_path):
    folder = with_a_corrupt_image(colour_folder, tmp_path)
    with pytest.raises(
        GanError, match=r"1 of 120 images .* could not be read, first Bag/00003.png .*--skip-bad-images"
    ):
        load_user_data(folder, (3, 32, 32), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    kept = load_user_data(folder, (3, 32, 32), tmp_path / "cache", skip_bad=True)
    assert len(kept.train_images) == 119 and (kept.train_labels == 1).sum() == 11


def test_a_folder_too_large_for_memory_says_how_many_fit(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "available_memory", lambda: 100 * 3 * 32 * 32)
    with pytest.raises(GanError, match=r"120 images of 3x32x32 take .* about 60 fit: pass --limit 60"):
        load_user_data(colour_folder, (3, 32, 32), tmp_path)
    assert len(load_user_data(colour_folder, (3, 32, 32), tmp_path, limit=60).train_images) == 60


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "holds no images (.png, .jpg, .jpeg, .webp)"),
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("x"), "is neither a folder of images, a .zip nor an .npz"),
    ],
    ids=["empty", "missing", "a-file"],
)
def test_bad_data_is_one_line_and_writes_nothing(tmp_path, make, message):
    data = tmp_path / "images"
    make(data)
    out = tmp_path / "run"
    result = gan("train", "--arch", COLOUR, "--data", data, "--out", out, "--data-dir", tmp_path / "cache")
    assert_user_error(result, message)
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_a_conditional_gan_needs_class_subfolders(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(4):
        Image.new("RGB", (32, 32), (i, i, i)).save(flat / f"{i}.png")
    out = tmp_path / "run"
    result = gan("train", "--arch", COLOUR, "--data", flat, "--out", out, "--data-dir", tmp_path / "cache")
    assert_user_error(result, "is conditional, but")
    assert_user_error(result, "has no classes: put each class's images in a subfolder of its own")
    assert not out.exists()


def test_train_refuses_a_corrupt_or_oversized_folder_in_one_line(colour_folder, tmp_path, monkeypatch):
    out, cache = tmp_path / "run", tmp_path / "cache"
    corrupt = with_a_corrupt_image(colour_folder, tmp_path)
    result = gan("train", "--arch", COLOUR, "--data", corrupt, "--out", out, "--data-dir", cache)
    assert_user_error(result, "could not be read, first Bag/00003.png (not an image Pillow can read)")
    monkeypatch.setattr(folder_module, "available_memory", lambda: 100 * 3 * 32 * 32)
    result = gan("train", "--arch", COLOUR, "--data", colour_folder, "--out", out, "--data-dir", cache)
    assert_user_error(result, "about 60 fit: pass --limit 60")
    assert not out.exists() and not cache.exists()

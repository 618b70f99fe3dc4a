"""The data layer: right shapes, counts and ranges, and clear errors for missing or broken files."""

import shutil
from pathlib import Path

import pytest
import torch

import vae_utils
import vae_utils as vu


def test_test_split_has_10000_images_in_unit_range(mnist_test_split):
    images, labels = mnist_test_split
    assert images.shape == (10_000, 1, 28, 28)
    assert images.dtype == torch.float32
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert labels.shape == (10_000,) and set(labels.tolist()) == set(range(10))


def test_train_split_has_60000_images():
    images, labels = vu.load_mnist(train=True)
    assert images.shape == (60_000, 1, 28, 28)
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_limit_returns_the_first_images(mnist_test_split):
    subset = vu.load_mnist(train=False, limit=5)
    assert torch.equal(subset.images, mnist_test_split.images[:5])


def _copy_test_files(destination: Path) -> Path:
    source, _ = vu.data.resolve_data_dir()
    raw = destination / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, *_ in vu.data.MNIST_FILES[False]:
        shutil.copy(source / "MNIST" / "raw" / name, raw / name)
    return raw


def test_missing_folder_names_folder_and_both_fixes(tmp_path):
    with pytest.raises(vu.data.MNISTDataError) as error:
        vu.load_mnist(tmp_path / "nowhere", train=False)
    message = str(error.value)
    assert "nowhere" in message and vu.data.DATA_DIR_ENV in message and "download" in message


def test_missing_single_file_is_named(tmp_path):
    raw = _copy_test_files(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(vu.data.MNISTDataError, match="t10k-labels-idx1-ubyte"):
        vu.load_mnist(tmp_path, train=False)


def test_truncated_file_gives_clear_error(tmp_path):
    raw = _copy_test_files(tmp_path)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100_000])
    with pytest.raises(vu.data.MNISTDataError, match="truncated or corrupt"):
        vu.load_mnist(tmp_path, train=False)


def test_corrupt_header_gives_clear_error(tmp_path):
    raw = _copy_test_files(tmp_path)
    labels = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[3] = 0  # break the magic number, keep the size
    labels.write_bytes(bytes(data))
    with pytest.raises(vu.data.MNISTDataError, match="magic"):
        vu.load_mnist(tmp_path, train=False)


def test_failed_download_into_default_folder_explains_fixes(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.delenv(vu.data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(vae_utils.data, "DEFAULT_DATA_DIR", str(tmp_path / "data"))  # where load_mnist looks it up
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(vu.data.MNISTDataError, match="download failed: network unreachable") as error:
        vu.load_mnist(train=False)
    assert vu.data.DATA_DIR_ENV in str(error.value)
    assert str(tmp_path / "data") in str(error.value)  # the patched default folder, not the project's data/


def test_environment_variable_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(vu.data.DATA_DIR_ENV, str(tmp_path))
    assert vu.data.resolve_data_dir() == (tmp_path, False)
    assert vu.data.resolve_data_dir("elsewhere") == (vu.paths.PROJECT_ROOT / "elsewhere", False)


def test_validation_split_is_disjoint_and_seeded(small_train_images):
    train_a, val_a = vu.train_val_split(small_train_images, 100, seed=3)
    train_b, val_b = vu.train_val_split(small_train_images, 100, seed=3)
    assert len(train_a.images) == 540 and len(val_a.images) == 100
    assert torch.equal(val_a.images, val_b.images)
    with pytest.raises(ValueError, match="val_size"):
        vu.train_val_split(small_train_images, 640, seed=0)

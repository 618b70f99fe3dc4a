"""MNIST as preloaded tensors: find and check the files, load a split, hold out validation images, cut batches.

Everything downstream takes ``[N, 1, 28, 28]`` float images in [0, 1] and integer labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch

from .paths import project_path

__all__ = [
    "DATA_DIR_ENV", "MNIST_FILES", "N_DIGITS", "MNISTDataError", "MNISTTensors", "class_shares", "ensure_mnist",
    "images_per_digit", "intensity_shares", "load_mnist",
    "resolve_data_dir", "shuffled_batches", "train_val_split",
]

N_DIGITS = 10  # MNIST's classes, 0-9
IMAGE_SHAPE = (1, 28, 28)  # channels, height, width of one image
DATA_DIR_ENV = "MNIST_DATA_DIR"
DEFAULT_DATA_DIR = "data"

# (file name, IDX magic number, item count, exact size in bytes) of the four
# published MNIST files; checking them up front turns a truncated download into
# a readable message instead of a reshape traceback deep inside torchvision.
MNIST_FILES = {
    True: (
        ("train-images-idx3-ubyte", 2051, 60_000, 47_040_016),
        ("train-labels-idx1-ubyte", 2049, 60_000, 60_008),
    ),
    False: (
        ("t10k-images-idx3-ubyte", 2051, 10_000, 7_840_016),
        ("t10k-labels-idx1-ubyte", 2049, 10_000, 10_008),
    ),
}
N_TRAIN_IMAGES = MNIST_FILES[True][0][2]
N_TEST_IMAGES = MNIST_FILES[False][0][2]


class MNISTDataError(RuntimeError):
    """MNIST could not be found, downloaded or read; the message says how to fix it."""


class MNISTTensors(NamedTuple):
    """A preloaded MNIST split: images as float in [0, 1], shape [N, 1, 28, 28], and labels [N]."""

    images: torch.Tensor
    labels: torch.Tensor


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Pick the MNIST folder: the argument, else $MNIST_DATA_DIR, else ``data/``.

    Returns the folder and whether torchvision may download into it. Only the
    default folder downloads, so that a folder the user named is never written to
    behind their back.
    """
    if data_dir not in (None, ""):
        return project_path(data_dir), False
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return project_path(env), False
    return project_path(DEFAULT_DATA_DIR), True


def _check_idx_file(path: Path, magic: int, count: int, size: int) -> None:
    """Raise MNISTDataError unless ``path`` is a complete IDX file with the expected header."""
    actual = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(8)
    found_magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    found_count = int.from_bytes(header[4:8], "big") if len(header) >= 8 else None
    if actual != size or found_magic != magic or found_count != count:
        raise MNISTDataError(
            f"MNIST file '{path}' is truncated or corrupt: {actual:,} bytes, header "
            f"(magic={found_magic}, count={found_count}); expected {size:,} bytes, "
            f"magic={magic}, count={count:,}. Delete it and download it again, or set "
            f"{DATA_DIR_ENV} to a folder holding intact MNIST/raw/*-ubyte files."
        )


def _missing_files(root: Path, train: bool) -> list[Path]:
    """List the raw IDX files of one split that are absent under ``root/MNIST/raw``."""
    raw = root / "MNIST" / "raw"
    return [raw / name for name, *_ in MNIST_FILES[train] if not (raw / name).is_file()]


def _missing_data_message(root: Path, reason: str) -> str:
    """One message that names the folder and both ways out."""
    return (
        f"MNIST not found in '{root}' ({reason}). Either set {DATA_DIR_ENV} (or the "
        f"notebook's data_dir parameter) to a folder holding MNIST/raw/*-ubyte, or unset it "
        f"so that torchvision downloads MNIST into '{DEFAULT_DATA_DIR}/' (needs internet)."
    )


def ensure_mnist(data_dir: str | os.PathLike | None = None, train: bool = True) -> Path:
    """The data folder holding one checked MNIST split: downloaded when allowed, else the project's own message.

    Anything that reads MNIST (``load_mnist``, the benchmark's torchvision loader) comes here
    first, so a missing data set always gives the same explanation and fixes.
    """
    from torchvision import datasets  # imported here: torchvision is slow to import

    root, may_download = resolve_data_dir(data_dir)
    missing = _missing_files(root, train)
    if missing and may_download:
        try:
            datasets.MNIST(str(root), train=train, download=True)
        except Exception as error:  # torchvision raises URLError, OSError or RuntimeError
            raise MNISTDataError(_missing_data_message(root, f"download failed: {error}")) from error
        missing = _missing_files(root, train)
    if missing:
        names = ", ".join(p.name for p in missing)
        raise MNISTDataError(_missing_data_message(root, f"missing {names}"))
    for name, magic, count, size in MNIST_FILES[train]:
        _check_idx_file(root / "MNIST" / "raw" / name, magic, count, size)
    return root


def load_mnist(
    data_dir: str | os.PathLike | None = None, train: bool = True, limit: int | None = None
) -> MNISTTensors:
    """Load one MNIST split as preloaded float tensors, checking the files first.

    Preloading the whole split once (47 MB as uint8) lets training slice batches
    from a tensor instead of converting 60,000 PIL images every epoch.
    """
    from torchvision import datasets

    root = ensure_mnist(data_dir, train)
    dataset = datasets.MNIST(str(root), train=train, download=False)
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    labels = dataset.targets.long()
    if limit is not None:
        images, labels = images[:limit].clone(), labels[:limit].clone()
    return MNISTTensors(images, labels)


def train_val_split(
    data: MNISTTensors, val_size: int, seed: int
) -> tuple[MNISTTensors, MNISTTensors | None]:
    """Hold out ``val_size`` random training images for early stopping (0: no validation set)."""
    n = len(data.images)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be an integer in [0, {n - 1}] for {n:,} training images, got {val_size}")
    if val_size == 0:
        return data, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = order[val_size:], order[:val_size]
    return (
        MNISTTensors(data.images[train_idx], data.labels[train_idx]),
        MNISTTensors(data.images[val_idx], data.labels[val_idx]),
    )


def batched(x: torch.Tensor, n: int) -> Iterator[torch.Tensor]:
    """Consecutive slices of ``n`` rows (the last may be shorter): how every inference loop walks a dataset."""
    for start in range(0, len(x), n):
        yield x[start : start + n]


def shuffled_batches(n_items: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of one shuffled epoch, cut into batches; the CPU ``generator`` makes the order reproducible.

    Both training loops (the VAE's and the judge's) draw their batches from here.
    """
    yield from batched(torch.randperm(n_items, generator=generator), batch_size)


def to_images(x: torch.Tensor) -> torch.Tensor:
    """Any tensor of whole images (e.g. [10, n, 28, 28] or [10, n, 1, 28, 28]) as a flat batch [N, 1, 28, 28]."""
    return x.reshape(-1, *IMAGE_SHAPE)


def images_per_digit(data: MNISTTensors, n_per_digit: int, seed: int) -> torch.Tensor:
    """``n_per_digit`` random images of every digit as [10, n, 1, 28, 28] (n: the rarest digit's count if smaller)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in range(N_DIGITS):
        own = torch.nonzero(data.labels == digit).flatten()
        rows.append(data.images[own[torch.randperm(len(own), generator=generator)[:n_per_digit]]])
    n = min(len(row) for row in rows)
    return torch.stack([row[:n] for row in rows])



def class_shares(labels: torch.Tensor) -> np.ndarray:
    """Share of each digit among ``labels``: the class balance a clustering or a classifier is measured against."""
    return np.bincount(labels.numpy(), minlength=N_DIGITS) / len(labels)


def intensity_shares(images: torch.Tensor) -> dict[str, float]:
    """Shares of pixels that are exactly 0, exactly 1, and grey in between.

    A Bernoulli likelihood treats every pixel as black or white; this says how far the grey-level data are from that.
    """
    values = images.flatten()
    black, white = float((values == 0).float().mean()), float((values == 1).float().mean())
    grey = 1.0 - black - white
    return {"black": black, "white": white, "grey": grey, "grey_of_ink": grey / (1.0 - black)}

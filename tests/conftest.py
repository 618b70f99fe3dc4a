"""Shared fixtures: small real MNIST subsets so tests are quick but exercise the real data path."""

import numpy as np
import pytest

import vae_utils as vu


@pytest.fixture(scope="session")
def mnist_test_split() -> vu.MNISTTensors:
    """The 10,000 test images, read from $MNIST_DATA_DIR (or data/ with download)."""
    return vu.load_mnist(train=False)


@pytest.fixture(scope="session")
def small_train_images(mnist_test_split) -> vu.MNISTTensors:
    """640 real digits: enough for training-loop behaviour, small enough for seconds per run."""
    return vu.MNISTTensors(mnist_test_split.images[:640].clone(), mnist_test_split.labels[:640].clone())


@pytest.fixture
def digit_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Ten well-separated Gaussian blobs in 15-d, one per digit (60 points each): clustering must recover them."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=20.0, size=(10, 15))
    labels = np.repeat(np.arange(10), 60)
    return centres[labels] + rng.normal(scale=0.5, size=(len(labels), 15)), labels

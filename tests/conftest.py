"""Shared fixtures: small real MNIST subsets so tests are quick but exercise the real data path."""

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

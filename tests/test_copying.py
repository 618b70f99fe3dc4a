"""The data-copying test flags a planted copy set and passes new digits."""

import pytest
import torch

import vae_utils as vu


@pytest.fixture(scope="module")
def space_and_sets():
    """8,000 training images cut into 20 cells; 2,000 held-out test digits as the reference."""
    train = vu.load_mnist(train=True, limit=8000)
    test = vu.load_mnist(train=False, limit=4000)
    space = vu.CopyingSpace.fit(vu.flat_pixels(train.images), n_cells=20, seed=0)
    reference = space.neighbours(vu.flat_pixels(test.images[:2000]))
    return space, reference, train, test


def test_training_images_with_a_little_noise_are_flagged_as_copies(space_and_sets):
    space, reference, train, _ = space_and_sets
    generator = torch.Generator().manual_seed(0)
    copies = train.images[:2000] + 0.05 * torch.randn(train.images[:2000].shape, generator=generator)
    result = space.statistic(reference, space.neighbours(vu.flat_pixels(copies.clamp(0, 1))))
    assert result["copying"] and result["c_t"] < vu.COPYING_THRESHOLD
    assert result["generated_median_distance"] < result["reference_median_distance"]


def test_new_test_digits_are_not_flagged(space_and_sets):
    space, reference, _, test = space_and_sets
    result = space.statistic(reference, space.neighbours(vu.flat_pixels(test.images[2000:4000])))
    assert not result["copying"]
    assert abs(result["c_t"]) < 2.5  # two samples of the same distribution: Z is about standard normal
    assert result["cells_used"] >= 10


def test_nearest_neighbour_is_exact(space_and_sets):
    space, _, train, _ = space_and_sets
    found = space.neighbours(vu.flat_pixels(train.images[100:105]))
    assert list(found.index) == [100, 101, 102, 103, 104]
    assert found.distances.max() < 1e-2

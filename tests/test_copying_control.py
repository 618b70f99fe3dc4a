"""The data-copying test's positive control: training images with a little noise are flagged, new digits are not."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from vae_utils.copying import COPYING_THRESHOLD, CopyingCase, copying_positive_control, data_copying, flat_pixels

N_TRAIN = 4000  # the first test images play the training set; the next two thousand are two held-out sets


def pixel_distances(images: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Exact pixel distances between two image sets (cdist's matrix-product shortcut is off by up to 0.01)."""
    return torch.cdist(flat_pixels(images), flat_pixels(others), compute_mode="donot_use_mm_for_euclid_dist")


def pooled_pixels(images: torch.Tensor) -> np.ndarray:
    """2 x 2 average-pooled pixels [N, 196]: a cheap stand-in for the judge's features as the second space."""
    return F.avg_pool2d(images.reshape(-1, 1, 28, 28).float(), 2).flatten(1).numpy()


@pytest.fixture(scope="module")
def split(mnist_test_split):
    """Disjoint slices of the MNIST test images: a 'training' set with labels and two held-out sets of 1,000."""
    images, labels = mnist_test_split.images, mnist_test_split.labels
    return images[:N_TRAIN], labels[:N_TRAIN], images[N_TRAIN:N_TRAIN + 1000], images[N_TRAIN + 1000:N_TRAIN + 2000]


@pytest.fixture(scope="module")
def copying_table(split) -> pd.DataFrame:
    """C_T of the positive control and of new real digits against the same held-out reference, in both spaces."""
    train_images, train_labels, held_out, other_held_out = split
    control = copying_positive_control(train_images, train_labels, n_per_digit=100, seed=0)
    cases = [CopyingCase("positive control", control, {"held-out digits": held_out}),
             CopyingCase("new real digits", other_held_out, {"held-out digits": held_out})]
    return data_copying(train_images, pooled_pixels, cases, n_cells=10, seed=0)[0]


def test_the_positive_control_is_flagged_as_copying_in_both_spaces(copying_table):
    control = copying_table[copying_table["generated"] == "positive control"]
    assert set(control["space"]) == {"pixels", "judge features"}
    assert control["copying"].all()
    assert (control["c_t"] < COPYING_THRESHOLD).all()
    assert (control["generated_median_distance"] < control["reference_median_distance"]).all()


def test_new_real_digits_against_another_held_out_set_are_not_flagged(copying_table):
    new = copying_table[copying_table["generated"] == "new real digits"]
    assert not new["copying"].any()
    assert (new["c_t"].abs() < 2.5).all()  # two samples of one distribution: C_T is about standard normal
    assert (new["cells_used"] >= 5).all()


def test_each_row_holds_noisy_training_images_of_its_digit(split):
    train_images, train_labels, _, _ = split
    control = copying_positive_control(train_images, train_labels, n_per_digit=8, seed=1, noise_sd=0.05)
    assert control.shape == (10, 8, 1, 28, 28)
    assert control.min() >= 0 and control.max() <= 1
    distances = pixel_distances(control, train_images)
    nearest = distances.argmin(dim=1)
    assert (train_labels[nearest].reshape(10, 8) == torch.arange(10)[:, None]).all()
    assert distances.min(dim=1).values.max() < 2.0  # noise of sd 0.05 over 784 pixels, half of them clamped


def test_without_noise_the_control_is_exact_training_images_drawn_by_the_seed(split):
    train_images, train_labels, _, _ = split
    exact = copying_positive_control(train_images, train_labels, n_per_digit=5, seed=2, noise_sd=0.0)
    assert pixel_distances(exact, train_images).min(dim=1).values.max() == 0.0
    assert torch.equal(exact, copying_positive_control(train_images, train_labels, n_per_digit=5, seed=2,
                                                       noise_sd=0.0))
    assert not torch.equal(exact, copying_positive_control(train_images, train_labels, n_per_digit=5, seed=3,
                                                           noise_sd=0.0))
    noisy = copying_positive_control(train_images, train_labels, n_per_digit=5, seed=2)
    assert torch.equal(noisy, copying_positive_control(train_images, train_labels, n_per_digit=5, seed=2))


def test_too_many_images_per_digit_or_mismatched_labels_are_refused_with_the_fix(split):
    train_images, train_labels, _, _ = split
    fewest = int(torch.bincount(train_labels[:200], minlength=10).min())
    with pytest.raises(ValueError, match=rf"lower n_per_digit to at most {fewest}"):
        copying_positive_control(train_images[:200], train_labels[:200], n_per_digit=fewest + 1, seed=0)
    with pytest.raises(ValueError, match="one digit per training image"):
        copying_positive_control(train_images, train_labels[:10], n_per_digit=1, seed=0)
    with pytest.raises(ValueError, match="noise_sd"):
        copying_positive_control(train_images, train_labels, n_per_digit=1, seed=0, noise_sd=-0.1)


def test_the_closest_pairs_are_the_closest_of_each_digit_when_the_samples_come_by_digit():
    from vae_utils.copying import _closest_order

    distances = np.array([5.0, 1.0, 9.0, 0.5, 3.0, 2.0])  # two digits, three samples each
    by_digit = torch.zeros(2, 3, 1, 28, 28)
    assert list(_closest_order(distances, by_digit, n_closest=10)) == [1, 3]
    assert list(_closest_order(distances, by_digit.reshape(-1, 1, 28, 28), n_closest=2)) == [3, 1]

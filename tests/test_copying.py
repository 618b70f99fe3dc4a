"""The data-copying test flags a planted copy set and passes new digits."""

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu


@pytest.fixture(scope="module")
def space_and_sets():
    """8,000 training images cut into 20 cells; 2,000 held-out test digits as the reference."""
    train = vu.load_mnist(train=True, limit=8000)
    test = vu.load_mnist(train=False, limit=4000)
    space = vu.copying.CopyingSpace.fit(vu.copying.flat_pixels(train.images), n_cells=20, seed=0)
    reference = space.neighbours(vu.copying.flat_pixels(test.images[:2000]))
    return space, reference, train, test


def test_training_images_with_a_little_noise_are_flagged_as_copies(space_and_sets):
    space, reference, train, _ = space_and_sets
    generator = torch.Generator().manual_seed(0)
    copies = train.images[:2000] + 0.05 * torch.randn(train.images[:2000].shape, generator=generator)
    result = space.statistic(reference, space.neighbours(vu.copying.flat_pixels(copies.clamp(0, 1))))
    assert result["copying"] and result["c_t"] < vu.copying.COPYING_THRESHOLD
    assert result["generated_median_distance"] < result["reference_median_distance"]


def test_new_test_digits_are_not_flagged(space_and_sets):
    space, reference, _, test = space_and_sets
    result = space.statistic(reference, space.neighbours(vu.copying.flat_pixels(test.images[2000:4000])))
    assert not result["copying"]
    assert abs(result["c_t"]) < 2.5  # two samples of the same distribution: Z is about standard normal
    assert result["cells_used"] >= 10


def test_nearest_neighbour_is_exact(space_and_sets):
    space, _, train, _ = space_and_sets
    found = space.neighbours(vu.copying.flat_pixels(train.images[100:105]))
    assert list(found.index) == [100, 101, 102, 103, 104]
    assert found.distances.max() < 1e-2


def test_judge_features_are_kept_per_judge_and_images(tmp_path):
    torch.manual_seed(0)
    judge, images = vu.judge.DigitClassifier(), torch.rand(40, 1, 28, 28)
    first = vu.kept_judge_features(judge, images, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    np.testing.assert_array_equal(first, vu.judge_pass(judge, images)[0])
    kept = next(tmp_path.iterdir())
    np.save(kept, np.zeros_like(first))  # a kept file is what is returned while its key holds
    assert not vu.kept_judge_features(judge, images, cache_dir=tmp_path).any()
    with torch.no_grad():
        judge.body[0].bias.add_(0.5)  # other weights: another key, computed afresh
    np.testing.assert_array_equal(vu.kept_judge_features(judge, images, cache_dir=tmp_path),
                                  vu.judge_pass(judge, images)[0])
    vu.kept_judge_features(judge, images[:20], cache_dir=tmp_path)  # other images: another key
    assert len(list(tmp_path.iterdir())) == 3
    kept.write_bytes(b"not an array")  # an unreadable file is computed again, not trusted
    torch.manual_seed(0)
    np.testing.assert_array_equal(vu.kept_judge_features(vu.judge.DigitClassifier(), images, cache_dir=tmp_path), first)


def test_data_copying_with_kept_training_features_equals_computing_them():
    torch.manual_seed(0)
    judge = vu.judge.DigitClassifier()
    train = torch.rand(300, 1, 28, 28)
    case = vu.CopyingCase("planted", train[:60] * 0.98, {"new": torch.rand(60, 1, 28, 28)})
    features = lambda images: vu.judge_pass(judge, images)[0]  # noqa: E731
    computed, _ = vu.data_copying(train, features, [case], n_cells=2, seed=0)
    kept, _ = vu.data_copying(train, features, [case], n_cells=2, seed=0, train_features=features(train))
    pd.testing.assert_frame_equal(computed, kept)

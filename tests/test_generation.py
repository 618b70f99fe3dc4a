"""Generation metrics on inputs with a known answer, and samplers that draw each digit from its own clusters."""

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu


def _features(n=200, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, 8)).astype(np.float32)
    data[:, 0] += shift
    return data


def test_identical_sets_give_perfect_prdc_and_zero_frechet_distance():
    real = _features()
    values = vu.prdc(real, real.copy())
    assert values["precision"] == values["recall"] == values["coverage"] == 1.0
    assert values["density"] == pytest.approx(1.0, abs=0.05)
    assert vu.frechet_distance(real, real.copy()) == pytest.approx(0.0, abs=1e-6)


def test_disjoint_sets_give_zero_prdc():
    values = vu.prdc(_features(), _features(shift=1000.0, seed=1))
    assert values == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_frechet_distance_of_a_mean_shift_is_its_square():
    real = _features(n=4000)
    shifted = real.copy()
    shifted[:, 0] += 3.0
    assert vu.frechet_distance(real, shifted) == pytest.approx(9.0, rel=1e-3)


def test_frechet_distance_survives_a_feature_that_never_fires():
    real = _features()
    real[:, 3] = 0.0  # a dead ReLU unit: singular covariance
    value = vu.frechet_distance(real, real.copy())
    assert np.isfinite(value) and value == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("kind", ["k-means", "mixture"])
def test_sampler_draws_fall_in_the_clusters_named_after_the_digit(kind, digit_blobs):
    latents, labels = digit_blobs
    fit = vu.fit_clusters(latents, labels, k=10, seed=0)
    if kind == "k-means":
        sampler = vu.fit_cluster_sampler(latents, labels, fit)
    else:
        sampler = vu.mixture_sampler(vu.fit_mixture(latents, 10, seed=0), latents, labels)
    generator = torch.Generator().manual_seed(0)
    for digit in range(10):
        z = sampler.sample(digit, 100, generator).numpy()
        assert (fit.predict_digit(z) == digit).all()
        nearest = np.linalg.norm(z[:, None] - sampler.means.numpy()[None], axis=-1).argmin(axis=1)
        assert (sampler.component_to_digit[nearest] == digit).all()


def test_min_purity_leaves_out_impure_clusters_but_never_a_digit(digit_blobs):
    latents, labels = digit_blobs
    labels = labels.copy()
    labels[np.flatnonzero(labels == 3)[:25]] = 5  # blob 3: 35 threes, 25 fives: digit 3's only cluster, impure
    labels[np.flatnonzero(labels == 7)[:9]] = 1  # blob 7: 85% sevens, impure ...
    extra = latents[labels == 7][:40] + 100.0  # ... but digit 7 also has a pure blob far away
    latents, labels = np.vstack([latents, extra]), np.concatenate([labels, np.full(40, 7)])
    fit = vu.fit_clusters(latents, labels, k=11, seed=0)
    purity = vu.cluster_purity(fit.kmeans.labels_, labels, 11)
    sampler = vu.fit_cluster_sampler(latents, labels, fit, min_purity=0.9)
    weights = sampler.weights.numpy()
    sevens = fit.cluster_to_digit == 7
    assert weights[sevens & (purity < 0.9)].sum() == 0 and weights[sevens & (purity >= 0.9)].sum() > 0
    assert weights[fit.cluster_to_digit == 3].sum() > 0, "digit 3's only cluster stays, impure as it is"
    assert sampler.missing_digits() == []


def test_prior_sampler_ignores_the_digit_and_temperature_must_be_positive():
    prior = vu.PriorSampler(15)
    a = prior.sample(0, 5, torch.Generator().manual_seed(1))
    b = prior.sample(9, 5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="temperature"):
        prior.sample(0, 5, torch.Generator().manual_seed(1), temperature=-1.0)


def _comparison():
    return pd.DataFrame([
        {"sampler": "prior", "temperature": 1.0, "tied to digits": False, "accuracy": 0.99, "min_accuracy": 0.99,
         "recall": 0.99},
        {"sampler": "a", "temperature": 0.5, "tied to digits": True, "accuracy": 0.99, "min_accuracy": 0.98,
         "recall": 0.4},
        {"sampler": "a", "temperature": 1.0, "tied to digits": True, "accuracy": 0.97, "min_accuracy": 0.90,
         "recall": 0.8},
        {"sampler": "b", "temperature": 0.8, "tied to digits": True, "accuracy": 0.985, "min_accuracy": 0.96,
         "recall": 0.6},
        {"sampler": "c", "temperature": 0.8, "tied to digits": True, "accuracy": np.nan, "min_accuracy": np.nan,
         "recall": np.nan},
    ])


def test_operating_point_is_the_highest_recall_meeting_both_accuracy_thresholds():
    chosen = vu.choose_operating_point(_comparison(), min_digit_accuracy=0.95, min_mean_accuracy=0.98)
    assert (chosen["sampler"], chosen["temperature"], chosen["meets_rule"]) == ("b", 0.8, True)


def test_operating_point_out_of_reach_falls_back_to_the_closest_and_says_so():
    with pytest.warns(UserWarning, match="no sampler and temperature reaches 99.9%"):
        closest = vu.choose_operating_point(_comparison(), min_digit_accuracy=0.999, min_mean_accuracy=0.98)
    # the prior (not tied to digits) has the best worst digit but never competes
    assert (closest["sampler"], closest["temperature"], closest["meets_rule"]) == ("a", 0.5, False)


def test_operating_point_needs_a_sampler_that_draws_every_digit():
    untied = _comparison()[lambda frame: frame["sampler"].isin(["prior", "c"])]
    with pytest.raises(ValueError, match="could draw every digit"):
        vu.choose_operating_point(untied, min_digit_accuracy=0.0, min_mean_accuracy=0.0)


def test_generated_digits_shape_range_and_round_trip(tmp_path, digit_blobs):
    latents, labels = digit_blobs
    sampler = vu.fit_cluster_sampler(latents, labels, vu.fit_clusters(latents, labels, k=10, seed=0))
    images = vu.generate_digits(vu.VAE(), sampler, n_per_digit=4, seed=3)
    assert images.shape == (10, 4, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    vu.save_generated(images, tmp_path / vu.GENERATED_FILE)
    assert torch.equal(vu.load_generated(tmp_path / vu.GENERATED_FILE), images)

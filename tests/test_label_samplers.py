"""Same-label baselines and the label budget: samplers fitted or named from a few labels, on synthetic blobs."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from vae_utils.label_samplers import (
    budget_cluster_sampler,
    choose_mixture_components,
    digit_log_likelihood,
    labelled_subset,
    name_clusters_from_subset,
    per_digit_gaussian_sampler,
    per_digit_mixture_sampler,
)
from vae_utils.latent import fit_clusters
from vae_utils.sampling import fit_cluster_sampler, sample_latents

BUDGETS = (1, 3, 10, None)


def _blob_centres(latents: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each digit's mean code [10, z]."""
    return np.stack([latents[labels == d].mean(axis=0) for d in range(10)])


def _nearest_digit(codes: torch.Tensor, centres: np.ndarray) -> np.ndarray:
    """The digit whose centre is nearest each code."""
    return ((codes.double().numpy()[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)


def _two_style_digits(n_per_style: int = 100, z_dim: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Ten digits, each drawn in two well-separated styles (sub-blobs): a mixture per digit should need two."""
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=30.0, size=(20, z_dim))
    styles = np.repeat(np.arange(20), n_per_style)
    return centres[styles] + rng.normal(size=(len(styles), z_dim)), styles // 2


def test_a_budget_of_one_per_digit_builds_samplers_that_draw_every_digit(digit_blobs):
    latents, labels = digit_blobs
    idx = labelled_subset(labels, 1, seed=0)
    assert np.array_equal(np.bincount(labels[idx], minlength=10), np.ones(10))
    fit = fit_clusters(latents, labels, 10, seed=0)
    cluster_sampler, record = budget_cluster_sampler(latents, fit, idx, labels)
    samplers = [per_digit_gaussian_sampler(latents[idx], labels[idx]),
                per_digit_mixture_sampler(latents[idx], labels[idx], 3, seed=0), cluster_sampler]
    for sampler in samplers:
        assert sampler.missing_digits() == []
        codes = sample_latents(sampler, 20, seed=0, temperature=1.0)
        assert codes.shape == (200, latents.shape[1]) and torch.isfinite(codes).all()
    assert record["budget"] == 1 and record["labelled_images"] == 10


def test_a_budget_larger_than_the_rarest_digit_is_refused_naming_the_value_and_the_fix(digit_blobs):
    _, labels = digit_blobs
    labels = np.delete(labels, np.flatnonzero(labels == 5)[:19])  # digit 5 now has 41 images
    with pytest.raises(ValueError, match=r"per_digit=42 exceeds the 41 images of digit 5 .*at most 41 or None"):
        labelled_subset(labels, 42, seed=0)
    with pytest.raises(ValueError, match="per_digit must be None or an integer >= 1, got 0"):
        labelled_subset(labels, 0, seed=0)
    with pytest.raises(TypeError, match="per_digit"):
        labelled_subset(labels, 2.5, seed=0)
    assert len(labelled_subset(labels, 41, seed=0)) == 410
    assert np.array_equal(labelled_subset(labels, None, seed=0), np.arange(len(labels)))


@pytest.mark.parametrize("k", [10, 30])
@pytest.mark.parametrize("per_digit", BUDGETS)
def test_every_budget_names_each_cluster_after_its_own_digit_on_separated_blobs(digit_blobs, k, per_digit):
    latents, labels = digit_blobs
    fit = fit_clusters(latents, labels, k, seed=0)  # named from all labels: the truth on separated blobs
    idx = labelled_subset(labels, per_digit, seed=3)
    named = name_clusters_from_subset(fit, latents[idx], labels[idx])
    assert np.array_equal(named, fit.cluster_to_digit)
    sampler, record = budget_cluster_sampler(latents, fit, idx, labels)
    assert record["clusters_named"] == k and record["fallback_digits"] == []


@pytest.mark.parametrize("per_digit", BUDGETS)
def test_per_digit_gaussian_samples_fall_nearest_their_own_digit_centre(digit_blobs, per_digit):
    latents, labels = digit_blobs
    idx = labelled_subset(labels, per_digit, seed=0)
    sampler = per_digit_gaussian_sampler(latents[idx], labels[idx])
    codes = sample_latents(sampler, 50, seed=0, temperature=1.0)
    assert np.array_equal(_nearest_digit(codes, _blob_centres(latents, labels)), np.repeat(np.arange(10), 50))


def test_a_cluster_without_labelled_images_is_named_by_nearest_codes_and_left_unnamed_by_majority_only(digit_blobs):
    latents, labels = digit_blobs
    centres = _blob_centres(latents, labels)
    centres = np.vstack([centres, centres[7] + 3.0])  # cluster 10: beside digit 7, holding no labelled code
    cluster_ids = labels.copy()  # cluster d holds the codes of digit d
    nearest = name_clusters_from_subset(centres, latents, labels, cluster_ids, rule="majority_then_nearest")
    majority = name_clusters_from_subset(centres, latents, labels, cluster_ids, rule="majority_only")
    assert nearest[10] == 7 and majority[10] == -1
    assert np.array_equal(nearest[:10], np.arange(10)) and np.array_equal(majority[:10], np.arange(10))


def test_a_digit_no_cluster_is_named_after_is_drawn_from_the_nearest_cluster_and_recorded(digit_blobs):
    latents, labels = digit_blobs
    fit = fit_clusters(latents, labels, 9, seed=0)  # nine clusters for ten blobs: one holds two digits
    for per_digit in (1, None):
        sampler, record = budget_cluster_sampler(latents, fit, labelled_subset(labels, per_digit, seed=0), labels)
        lost = sorted(set(range(10)) - set(record["fallback_digits"]) - set(sampler.component_to_digit[:9].tolist()))
        assert lost == [] and len(record["fallback_digits"]) == 1 and sampler.missing_digits() == []
        digit, cluster = record["fallback_digits"][0], record["fallback_clusters"][0]
        assert np.isin(labels[fit.kmeans.labels_ == cluster], digit).any()  # the cluster its own images fell in
        assert str(digit) in sampler.description
        codes = sampler.sample(digit, 50, torch.Generator().manual_seed(0))
        assert torch.isfinite(codes).all()


def test_a_digit_without_any_labelled_image_is_reported_as_undrawable(digit_blobs):
    latents, labels = digit_blobs
    fit = fit_clusters(latents, labels, 10, seed=0)
    idx = labelled_subset(labels, 3, seed=0)
    idx = idx[labels[idx] != 9]
    sampler, record = budget_cluster_sampler(latents, fit, idx, labels, rule="majority_only")
    assert record["undrawable_digits"] == [9] and sampler.missing_digits() == [9]
    assert per_digit_gaussian_sampler(latents[idx], labels[idx]).missing_digits() == [9]


def test_the_purity_filter_under_a_budget_reads_only_the_labelled_codes(digit_blobs):
    latents, labels = digit_blobs
    fit = fit_clusters(latents, labels, 30, seed=0)
    sampler, record = budget_cluster_sampler(latents, fit, labelled_subset(labels, 1, seed=0), labels, min_purity=0.5)
    assert record["clusters_named_without_labels"] > 0
    assert record["clusters_left_out_by_purity"] == record["clusters_named_without_labels"]
    assert sampler.missing_digits() == []


def test_with_all_labels_the_budget_sampler_is_the_ex_post_cluster_sampler(digit_blobs):
    latents, labels = digit_blobs
    fit = fit_clusters(latents, labels, 10, seed=0)
    budget, record = budget_cluster_sampler(latents, fit, labelled_subset(labels, None, seed=0), labels)
    ex_post = fit_cluster_sampler(latents, labels, fit)
    assert record["budget"] == "all" and budget.name.endswith("all labels")
    assert np.array_equal(budget.component_to_digit, ex_post.component_to_digit)
    assert torch.equal(budget.means, ex_post.means) and torch.equal(budget.covariances, ex_post.covariances)
    assert torch.allclose(budget.weights, ex_post.weights)


def test_choose_mixture_components_returns_a_candidate_and_its_validation_table():
    latents, labels = _two_style_digits()
    train, val = np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1
    chosen, table = choose_mixture_components(latents[train], labels[train], latents[val], labels[val],
                                              candidates=(1, 2, 3), seed=0)
    assert chosen in (1, 2, 3) and list(table["components"]) == [1, 2, 3]
    assert chosen == int(table.loc[table["log-likelihood"].idxmax(), "components"])
    assert (table["reference set"] == "validation").all() and {f"digit {d}" for d in range(10)} <= set(table)
    scores = table.set_index("components")["log-likelihood"]
    assert scores[2] > scores[1] + 1  # two styles per digit: one Gaussian per digit fits held-out codes worse


def test_a_digit_with_too_few_codes_for_its_components_is_capped_and_said_so(digit_blobs):
    latents, labels = digit_blobs  # 60 codes per digit in 15-d: at most 3 components of 16 codes each
    sampler = per_digit_mixture_sampler(latents, labels, 5, seed=0)
    assert all(len(sampler.components_of(d)) == 3 for d in range(10))
    assert "capped" in sampler.description
    one = per_digit_mixture_sampler(latents, labels, 1, seed=0)
    gaussian = per_digit_gaussian_sampler(latents, labels)
    assert torch.equal(one.means, gaussian.means) and torch.equal(one.covariances, gaussian.covariances)


def test_digit_log_likelihood_is_the_density_of_the_digit_gaussian(digit_blobs):
    latents, labels = digit_blobs
    sampler = per_digit_gaussian_sampler(latents, labels)
    scores = digit_log_likelihood(sampler, latents[:70], labels[:70])
    expected = [multivariate_normal(sampler.means[d].double().numpy(), sampler.covariances[d].double().numpy())
                .logpdf(z) for z, d in zip(latents[:70], labels[:70])]
    assert np.allclose(scores, expected, rtol=1e-6)


def test_subsets_and_samplers_are_fixed_by_their_seeds(digit_blobs):
    latents, labels = digit_blobs
    assert np.array_equal(labelled_subset(labels, 10, seed=4), labelled_subset(labels, 10, seed=4))
    assert not np.array_equal(labelled_subset(labels, 10, seed=4), labelled_subset(labels, 10, seed=5))
    assert np.isin(labelled_subset(labels, 3, seed=4), labelled_subset(labels, 10, seed=4)).all()  # nested budgets
    fit = fit_clusters(latents, labels, 30, seed=0)
    idx = labelled_subset(labels, 3, seed=4)
    builders = [lambda: per_digit_gaussian_sampler(latents[idx], labels[idx]),
                lambda: per_digit_mixture_sampler(latents, labels, 3, seed=2),
                lambda: budget_cluster_sampler(latents, fit, idx, labels)[0]]
    for build in builders:
        first, second = build(), build()
        assert torch.equal(first.means, second.means) and torch.equal(first.covariances, second.covariances)
        assert torch.equal(sample_latents(first, 10, seed=7, temperature=0.8),
                           sample_latents(second, 10, seed=7, temperature=0.8))

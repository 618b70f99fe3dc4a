"""Resampling intervals on recall, coverage and the Fréchet distance; clustering over k-means starts; rule stability."""

import numpy as np
import pandas as pd
import pytest
import torch

from vae_utils.data import MNISTTensors
from vae_utils.judge import DigitClassifier, digit_statistics, frechet_distance, judge_pass, prdc, real_features
from vae_utils.latent import evaluate_clusters, fit_clusters
from vae_utils.uncertainty import (
    BOOTSTRAP_MEASURES,
    _neighbours,
    _subset_radii,
    bootstrap_generation_quality,
    bootstrap_quality,
    clustering_over_starts,
    clustering_starts_summary,
    rule_stability,
)


def digit_features(n: int, seed: int, shift: float = 0.0, scale: float = 1.0, digits: int = 3,
                   width: int = 16) -> list[np.ndarray]:
    """Gaussian features around one fixed centre per digit; ``shift`` and ``scale`` make a generator that is off."""
    centres = np.random.default_rng(99).normal(scale=3.0, size=(digits, width))
    rng = np.random.default_rng(seed)
    return [(centres[digit] + shift + scale * rng.normal(size=(n, width))).astype(np.float32)
            for digit in range(digits)]


def width(interval: dict) -> float:
    """The length of one measure's interval."""
    return interval["high"] - interval["low"]


def test_point_estimates_are_the_reported_means_over_digits():
    real, fake = digit_features(80, 0), digit_features(70, 1, shift=0.3, scale=1.2)
    result = bootstrap_quality(real, fake, n_boot=5)
    stats = [digit_statistics(features) for features in real]
    reported = {"recall": np.mean([prdc(s, f)["recall"] for s, f in zip(stats, fake)]),
                "coverage": np.mean([prdc(s, f)["coverage"] for s, f in zip(stats, fake)]),
                "frechet": np.mean([frechet_distance(s, f) for s, f in zip(stats, fake)])}
    for measure in BOOTSTRAP_MEASURES:
        assert result[measure]["estimate"] == pytest.approx(reported[measure], rel=1e-9, abs=1e-12)


def test_interval_contains_the_estimate_and_narrows_with_more_images():
    small = bootstrap_quality(digit_features(60, 0), digit_features(60, 1, shift=0.3, scale=1.2), n_boot=100)
    large = bootstrap_quality(digit_features(480, 0), digit_features(480, 1, shift=0.3, scale=1.2), n_boot=100)
    for measure in BOOTSTRAP_MEASURES:
        for result in (small, large):
            assert result[measure]["low"] <= result[measure]["estimate"] <= result[measure]["high"]
        assert width(large[measure]) < 0.7 * width(small[measure])  # 8 times the images: about sqrt(8) narrower
        assert large[measure]["sd"] < small[measure]["sd"]


def test_intervals_are_deterministic_given_the_seed():
    real, fake = digit_features(60, 0), digit_features(60, 1, shift=0.3)
    first, again = bootstrap_quality(real, fake, n_boot=30, seed=4), bootstrap_quality(real, fake, n_boot=30, seed=4)
    assert first == again
    other = bootstrap_quality(real, fake, n_boot=30, seed=5)
    assert other["frechet"]["low"] != first["frechet"]["low"]
    assert other["frechet"]["estimate"] == first["frechet"]["estimate"]  # the seed moves the interval only


def test_identical_real_and_generated_features_give_full_recall_and_coverage_and_no_distance():
    real = digit_features(200, 0)
    same = bootstrap_quality(real, real, n_boot=100)
    assert same["recall"]["estimate"] == 1.0 and same["coverage"]["estimate"] == 1.0
    assert same["recall"]["low"] > 0.95 and same["coverage"]["low"] > 0.95
    assert same["recall"]["high"] <= 1.0 and same["coverage"]["high"] <= 1.0  # clipped to where a share can lie
    assert same["frechet"]["estimate"] == pytest.approx(0.0, abs=1e-9)
    assert same["frechet"]["low"] == 0.0
    shifted = bootstrap_quality(real, digit_features(200, 1, shift=0.3, scale=1.2), n_boot=20)
    assert same["frechet"]["high"] < 0.1 * shifted["frechet"]["estimate"]


def test_a_half_measures_radii_as_if_it_were_the_whole_set():
    features = digit_features(40, 3)[0]
    neighbours = _neighbours(features)
    np.testing.assert_array_equal(_subset_radii(neighbours, np.arange(40), 5), digit_statistics(features).radii)
    half = np.sort(np.random.default_rng(0).choice(40, size=20, replace=False))
    np.testing.assert_allclose(_subset_radii(neighbours, half, 5), digit_statistics(features[half]).radii, rtol=1e-5)


def test_bad_inputs_are_refused_with_the_fix():
    real = digit_features(40, 0)
    with pytest.raises(ValueError, match=r"n >= 12 .*pass more images"):
        bootstrap_quality(real, [features[:11] for features in real])
    with pytest.raises(ValueError, match="same digits"):
        bootstrap_quality(real, real[:2])
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\)"):
        bootstrap_quality(real, real, confidence=95)
    with pytest.raises(ValueError, match="same width"):
        bootstrap_quality(real, [features[:, :8] for features in real])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_quality(real, real, n_boot=1)


def test_judged_intervals_read_the_judges_features_of_each_row(mnist_test_split):
    torch.manual_seed(0)
    judge = DigitClassifier().eval()  # untrained: the wrapper's plumbing, not the judge's skill, is under test
    images, labels = mnist_test_split.images[:600], mnist_test_split.labels[:600]
    reference = real_features(judge, MNISTTensors(images, labels))
    rest_images, rest_labels = mnist_test_split.images[600:1400], mnist_test_split.labels[600:1400]
    generated = torch.stack([rest_images[rest_labels == digit][:20] for digit in range(10)])
    wrapped = bootstrap_generation_quality(judge, generated, reference, n_boot=4, seed=1)
    fake = judge_pass(judge, generated)[0].reshape(10, 20, -1)
    direct = bootstrap_quality([digit.features for digit in reference.digits], list(fake), n_boot=4, seed=1)
    assert wrapped == direct
    with pytest.raises(ValueError, match=r"generated must be \[10, n, 1, 28, 28\]"):
        bootstrap_generation_quality(judge, generated[:3], reference)


def test_every_start_on_separated_blobs_has_purity_one_and_no_spread(digit_blobs):
    codes, digits = digit_blobs
    per_start = clustering_over_starts(codes[::2], digits[::2], k=10, seeds=range(5),
                                       test_latents=codes[1::2], test_labels=digits[1::2])
    assert len(per_start) == 10 and set(per_start["split"]) == {"train", "test"}
    assert (per_start["purity"] == 1.0).all()
    summary = clustering_starts_summary(per_start).set_index(["split", "metric"])  # named by columns, as kept in JSON
    for split in ("train", "test"):
        assert summary.loc[(split, "purity"), "mean"] == 1.0
        assert summary.loc[(split, "purity"), "sd"] == 0.0
        assert summary.loc[(split, "purity"), "starts"] == 5
    assert {"accuracy_hungarian", "accuracy_majority", "nmi", "ari"} <= set(summary.index.get_level_values("metric"))


def test_each_start_reports_what_a_single_fit_with_its_seed_gives(digit_blobs):
    codes, digits = digit_blobs
    per_start = clustering_over_starts(codes, digits, k=15, seeds=[0, 3])
    single = evaluate_clusters(fit_clusters(codes, digits, 15, 3), codes, digits)
    row = per_start[(per_start["seed"] == 3) & (per_start["split"] == "train")].iloc[0]
    assert {name: row[name] for name in single} == pytest.approx(single, nan_ok=True)


def test_test_codes_without_their_labels_are_refused(digit_blobs):
    codes, digits = digit_blobs
    with pytest.raises(ValueError, match="test_latents and test_labels go together"):
        clustering_over_starts(codes, digits, k=10, seeds=[0], test_latents=codes)
    with pytest.raises(ValueError, match="seeds is empty"):
        clustering_over_starts(codes, digits, k=10, seeds=[])


def choice(sampler: str, temperature: float, recall: float, meets_rule: bool = True) -> pd.Series:
    """A row shaped like ``choose_operating_point``'s: the setting, its numbers and whether it met the rule."""
    return pd.Series({"sampler": sampler, "temperature": temperature, "tied to digits": True, "recall": recall,
                      "accuracy": 0.99, "worst_digit": 4, "meets_rule": meets_rule})


def test_rule_stability_counts_how_often_the_modal_choice_was_made():
    choices = [choice("clusters k=50", 0.8, 0.60), choice("clusters k=50", 0.8, 0.62),
               choice("gaussian per digit", 0.8, 0.58), choice("clusters k=50", 0.8, 0.64, meets_rule=False),
               {"sampler": "clusters k=50", "temperature": 0.7, "recall": 0.55, "accuracy": 0.99, "meets_rule": True}]
    summary = rule_stability(choices)
    assert summary["runs"] == 5
    assert summary["modal_choice"] == {"sampler": "clusters k=50", "temperature": 0.8}
    assert summary["modal_count"] == 3 and summary["modal_share"] == pytest.approx(0.6)
    assert summary["distinct_choices"] == 3
    assert summary["choices"][0] == {"sampler": "clusters k=50", "temperature": 0.8, "count": 3}
    assert summary["meets_rule_count"] == 4
    recalls = np.array([0.60, 0.62, 0.58, 0.64, 0.55])
    assert summary["numbers"]["recall"] == pytest.approx(
        {"mean": recalls.mean(), "sd": recalls.std(ddof=1), "min": 0.55, "max": 0.64})
    assert set(summary["numbers"]) == {"recall", "accuracy"}  # not the temperature, a digit or a flag


def test_rule_stability_breaks_ties_by_the_first_choice_and_summarises_named_metrics():
    summary = rule_stability([choice("b", 0.9, 0.5), choice("a", 0.9, 0.7)], metrics=["recall"])
    assert summary["modal_choice"]["sampler"] == "b" and summary["modal_share"] == 0.5
    assert list(summary["numbers"]) == ["recall"]
    single = rule_stability([choice("a", 0.9, 0.7)])
    assert single["modal_share"] == 1.0 and np.isnan(single["numbers"]["recall"]["sd"])


def test_rule_stability_refuses_choices_without_a_setting_or_a_metric():
    with pytest.raises(ValueError, match="choices is empty"):
        rule_stability([])
    with pytest.raises(ValueError, match=r"choice 1 has no \['temperature'\]"):
        rule_stability([choice("a", 0.9, 0.7), {"sampler": "a", "recall": 0.7}])
    with pytest.raises(ValueError, match="metric 'coverage' is missing"):
        rule_stability([choice("a", 0.9, 0.7)], metrics=["coverage"])

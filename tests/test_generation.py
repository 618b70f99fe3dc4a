"""Generation metrics on inputs with a known answer, and samplers that draw each digit from its own clusters."""

import contextlib
import io
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from prdc import compute_prdc
from torchmetrics.image.fid import _compute_fid

import vae_utils as vu
from vae_utils.judge import wilson_interval


def _features(n=200, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, 8)).astype(np.float32)
    data[:, 0] += shift
    return data


def test_identical_sets_give_perfect_prdc_and_zero_frechet_distance():
    real = _features()
    values = vu.judge.prdc(vu.judge.digit_statistics(real), real.copy())
    assert values["precision"] == values["recall"] == values["coverage"] == 1.0
    assert values["density"] == pytest.approx(1.0, abs=0.05)
    assert vu.judge.frechet_distance(vu.judge.digit_statistics(real), real.copy()) == pytest.approx(0.0, abs=1e-6)


def test_disjoint_sets_give_zero_prdc():
    values = vu.judge.prdc(vu.judge.digit_statistics(_features()), _features(shift=1000.0, seed=1))
    assert values == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_and_frechet_distance_equal_the_reference_libraries():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    fake = (rng.normal(size=(200, 16)) * 1.3 + 0.4).astype(np.float32)
    statistics = vu.judge.digit_statistics(real)
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        expected = compute_prdc(real, fake, 5)
    values = vu.judge.prdc(statistics, fake)
    assert values.keys() == expected.keys() and 0 < values["precision"] < 1 and 0 < values["coverage"] < 1
    assert values == pytest.approx({key: float(value) for key, value in expected.items()}, rel=1e-12)
    moments = [torch.from_numpy(x) for data in (fake, real) for x in
               (data.mean(axis=0, dtype=np.float64), np.cov(data.astype(np.float64), rowvar=False))]
    reference = float(_compute_fid(*moments))
    assert reference > 1
    assert vu.judge.frechet_distance(statistics, fake) == pytest.approx(reference, rel=1e-6)


def test_frechet_distance_of_a_mean_shift_is_its_square():
    real = _features(n=4000)
    shifted = real.copy()
    shifted[:, 0] += 3.0
    assert vu.judge.frechet_distance(vu.judge.digit_statistics(real), shifted) == pytest.approx(9.0, rel=1e-3)


def test_frechet_distance_survives_a_feature_that_never_fires():
    real = _features()
    real[:, 3] = 0.0  # a dead ReLU unit: singular covariance
    value = vu.judge.frechet_distance(vu.judge.digit_statistics(real), real.copy())
    assert np.isfinite(value) and value == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("kind", ["k-means", "mixture"])
def test_sampler_draws_fall_in_the_clusters_named_after_the_digit(kind, digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    if kind == "k-means":
        sampler = vu.fit_cluster_sampler(latents, labels, fit)
    else:
        sampler = vu.sampling.mixture_sampler(vu.fit_mixture(latents, 10, seed=0), latents, labels)
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
    fit = vu.latent.fit_clusters(latents, labels, k=11, seed=0)
    purity = vu.sampling.cluster_purity(fit.kmeans.labels_, labels, 11)
    sampler = vu.fit_cluster_sampler(latents, labels, fit, min_purity=0.9)
    weights = sampler.weights.numpy()
    sevens = fit.cluster_to_digit == 7
    assert weights[sevens & (purity < 0.9)].sum() == 0 and weights[sevens & (purity >= 0.9)].sum() > 0
    assert weights[fit.cluster_to_digit == 3].sum() > 0, "digit 3's only cluster stays, impure as it is"
    assert sampler.missing_digits() == []


def test_course_prior_sampler_ignores_the_digit_clamps_and_temperature_must_be_positive():
    prior = vu.sampling.CoursePriorSampler(15)
    a = prior.sample(0, 500, torch.Generator().manual_seed(1))
    b = prior.sample(9, 500, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (500, 15) and prior.missing_digits() == []
    assert float(a.abs().max()) == 2.0  # N(0, I) clamped to [-2, 2], as the course report drew it
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
    chosen = vu.selection.choose_operating_point(_comparison(), min_digit_accuracy=0.95, min_mean_accuracy=0.98)
    assert (chosen["sampler"], chosen["temperature"], chosen["meets_rule"]) == ("b", 0.8, True)


def test_operating_point_out_of_reach_falls_back_to_the_closest_and_says_so():
    with pytest.warns(UserWarning, match="no sampler and temperature reaches 99.9%"):
        closest = vu.selection.choose_operating_point(_comparison(), min_digit_accuracy=0.999, min_mean_accuracy=0.98)
    # the prior (not tied to digits) has the best worst digit but never competes
    assert (closest["sampler"], closest["temperature"], closest["meets_rule"]) == ("a", 0.5, False)


def test_operating_point_needs_a_sampler_that_draws_every_digit():
    untied = _comparison()[lambda frame: frame["sampler"].isin(["prior", "c"])]
    with pytest.raises(ValueError, match="could draw every digit"):
        vu.selection.choose_operating_point(untied, min_digit_accuracy=0.0, min_mean_accuracy=0.0)


def test_generated_digits_shape_range_and_round_trip(tmp_path, digit_blobs):
    latents, labels = digit_blobs
    sampler = vu.fit_cluster_sampler(latents, labels, vu.latent.fit_clusters(latents, labels, k=10, seed=0))
    images = vu.sampling.generate_digits(vu.VAE(), sampler, n_per_digit=4, seed=3)
    assert images.shape == (10, 4, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    run = vu.RunFolder(tmp_path)
    assert run.save_generated(images) is True
    assert torch.equal(run.load_generated(), images)


def test_saved_samplers_draw_the_same_codes_after_a_round_trip(tmp_path, digit_blobs):
    latents, labels = digit_blobs
    fits = vu.fit_cluster_family(latents, labels, [10, 11], seed=0)
    chosen = vu.sampling.mixture_sampler(vu.fit_mixture(latents, 10, seed=0), latents, labels, min_purity=0.9)
    kmeans = vu.fit_cluster_sampler(latents, labels, fits[10])
    vu.save_samplers(vu.RunFolder(tmp_path), chosen, kmeans, temperature=0.8)
    saved = vu.load_saved_samplers(tmp_path)
    assert saved.temperature == 0.8 and saved.chosen.name == chosen.name and saved.kmeans.name == kmeans.name
    for original, loaded in ((chosen, saved.chosen), (kmeans, saved.kmeans)):
        for digit in range(10):
            a = original.sample(digit, 20, torch.Generator().manual_seed(digit), temperature=0.8)
            b = loaded.sample(digit, 20, torch.Generator().manual_seed(digit), temperature=0.8)
            assert torch.equal(a, b)
    path = vu.RunFolder(tmp_path).file(vu.RunFolder.SAMPLERS)
    written = path.read_bytes()
    os.utime(path, (0, 0))
    vu.save_samplers(vu.RunFolder(tmp_path), chosen, kmeans, temperature=0.8)  # the same samplers: not rewritten
    assert path.stat().st_mtime == 0 and path.read_bytes() == written
    vu.save_samplers(vu.RunFolder(tmp_path), chosen, kmeans, temperature=0.9)  # another temperature: rewritten
    assert vu.load_saved_samplers(tmp_path).temperature == 0.9
    torch.save({"format": 99}, path)
    with pytest.raises(vu.run.CheckpointError, match="not a saved sampler file"):
        vu.load_saved_samplers(tmp_path)


def test_sampler_family_shares_the_fits_and_the_untied_prior_is_scored_only_at_temperature_one(
        digit_blobs, small_train_images):
    torch.set_num_threads(1)
    latents, labels = digit_blobs
    fits = vu.fit_cluster_family(latents, labels, [10, 12], seed=0)
    samplers = vu.build_samplers(latents, labels, fits, vu.fit_mixture(latents, 10, seed=0), min_purity=0.9)
    assert isinstance(samplers[0], vu.sampling.CoursePriorSampler)
    assert [s.name for s in samplers[1:3]] == ["k-means 10", "k-means 12"]
    assert all(isinstance(s, vu.DigitSampler) for s in samplers[1:])
    torch.manual_seed(0)
    judge = vu.judge.DigitClassifier().eval()
    reference = vu.judge.real_features(judge, small_train_images)
    comparison = vu.selection.compare_samplers(vu.VAE(), judge, [samplers[0], samplers[1]], [0.5, 1.0], n_per_digit=7,
                                     seed=1, reference=reference)
    assert list(zip(comparison["sampler"], comparison["temperature"], comparison["tied to digits"])) == [
        (samplers[0].name, 1.0, False), ("k-means 10", 0.5, True), ("k-means 10", 1.0, True)]
    assert comparison["min_accuracy"].between(0, 1).all()


def test_wilson_interval_of_half_matches_the_textbook_values_and_narrows_with_more_samples():
    low, high = wilson_interval(50, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0] < high - low
    low, high = wilson_interval(100, 100)  # a perfect score still has a lower bound below 1
    assert 0.95 < low < 1.0 and high == pytest.approx(1.0)
    assert all(np.isnan(wilson_interval(0, 0)))


class _PixelJudge(torch.nn.Module):
    """A stand-in judge whose verdict is written in the image: the last pixel holds digit / 10."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # model_device needs one weight

    def features(self, x):
        return x.flatten(1)[:, -8:]  # 7 noise pixels and the verdict pixel

    def head(self, hidden):
        return torch.nn.functional.one_hot((hidden[:, -1] * 10).round().long() % 10, 10).float()


def _images_judged_as(verdicts, seed=0):
    """Noisy images whose last pixel makes ``_PixelJudge`` predict ``verdicts`` (any shape)."""
    verdicts = torch.as_tensor(verdicts)
    images = torch.rand(*verdicts.shape, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 0.5
    images[..., 0, -1, -1] = verdicts.float() / 10
    return images


def test_generation_quality_gives_each_digit_and_the_pooled_mean_a_wilson_interval():
    judge = _PixelJudge()
    labels = torch.arange(10).repeat_interleave(20)
    reference = vu.judge.real_features(judge, vu.MNISTTensors(_images_judged_as(labels), labels))
    assert reference.accuracy == 1.0 and reference.n_images == 200
    assert reference.accuracy_interval() == wilson_interval(200, 200)
    n = 40
    correct = [40, 39, 38, 36, 40, 30, 40, 40, 35, 40]  # digit d drawn right correct[d] times in 40
    verdicts = torch.tensor([[d] * c + [(d + 1) % 10] * (n - c) for d, c in enumerate(correct)])
    quality = vu.judge.generation_quality(judge, _images_judged_as(verdicts, seed=1), reference)
    per_digit, mean = quality.iloc[:10], quality.iloc[10]
    assert list(per_digit["accuracy"]) == pytest.approx([c / n for c in correct])
    assert list(per_digit["samples"]) == [n] * 10
    for (_, row), c in zip(per_digit.iterrows(), correct):
        assert (row["accuracy_low"], row["accuracy_high"]) == pytest.approx(wilson_interval(c, n))
    assert mean["digit"] == "mean" and mean["samples"] == 10 * n
    assert mean["accuracy"] == pytest.approx(sum(correct) / (10 * n))
    assert (mean["accuracy_low"], mean["accuracy_high"]) == pytest.approx(wilson_interval(sum(correct), 10 * n))
    # pooling 400 judgements is narrower than any single digit's 40, and than the average of their bounds
    width = mean["accuracy_high"] - mean["accuracy_low"]
    assert width < (per_digit["accuracy_high"] - per_digit["accuracy_low"]).min()
    assert width < per_digit["accuracy_high"].mean() - per_digit["accuracy_low"].mean()
    assert {"precision", "recall", "density", "coverage", "frechet"} <= set(quality.columns)

    summary = vu.selection.summarise_quality(quality)
    assert summary["worst_digit"] == 5 and summary["min_accuracy"] == 30 / 40
    assert (summary["min_accuracy_low"], summary["min_accuracy_high"]) == pytest.approx(wilson_interval(30, 40))
    assert (summary["accuracy_low"], summary["accuracy_high"]) == pytest.approx(wilson_interval(sum(correct), 400))


def _spread(accuracies, worst):
    rows = [{"seed": seed, "accuracy": a, "min_accuracy": w, "precision": 0.8, "recall": 0.5 + seed / 100,
             "density": 1.0, "coverage": 0.9, "frechet": 10.0} for seed, (a, w) in enumerate(zip(accuracies, worst))]
    return pd.DataFrame(rows)


def test_spread_summary_gives_each_metric_its_mean_and_sample_standard_deviation():
    summary = vu.selection.spread_summary(_spread([0.99, 0.98, 0.97], [0.97, 0.95, 0.96]))
    assert list(summary.index) == ["accuracy", "min_accuracy", "precision", "recall", "density", "coverage",
                                   "frechet"]
    assert summary.loc["accuracy", "mean"] == pytest.approx(0.98)
    assert summary.loc["accuracy", "sd"] == pytest.approx(0.01)  # ddof 1: sqrt((1e-4 + 0 + 1e-4) / 2)
    assert summary.loc["recall", "sd"] == pytest.approx(0.01) and summary.loc["frechet", "sd"] == 0.0


def test_rule_margins_measure_the_margin_in_seed_standard_deviations_and_count_seeds_meeting_it():
    margins = vu.selection.rule_margins(_spread([0.99, 0.98, 0.97], [0.97, 0.95, 0.96]), min_digit_accuracy=0.955,
                              min_mean_accuracy=0.96)
    mean = margins["accuracy"]
    assert mean["mean"] == pytest.approx(0.98) and mean["threshold"] == 0.96
    assert mean["margin"] == pytest.approx(0.02) and mean["seed_sd"] == pytest.approx(0.01)
    assert mean["margin_in_sd"] == pytest.approx(2.0) and mean["seeds_meeting"] == 3 and mean["seeds"] == 3
    worst = margins["min_accuracy"]
    assert worst["margin"] == pytest.approx(0.005) and worst["margin_in_sd"] == pytest.approx(0.5)
    assert worst["seeds_meeting"] == 2  # 0.95 falls short
    assert vu.selection.rule_margins(_spread([0.97, 0.97], [0.9, 0.9]), 0.95, 0.96)["min_accuracy"]["margin_in_sd"] < 0


def test_seed_spread_redraws_the_chosen_sampler_once_per_seed_and_feeds_latent_metrics(
        digit_blobs, small_train_images):
    torch.set_num_threads(1)
    latents, labels = digit_blobs
    sampler = vu.fit_cluster_sampler(latents, labels, vu.latent.fit_clusters(latents, labels, k=10, seed=0))
    torch.manual_seed(0)
    judge, model = vu.judge.DigitClassifier().eval(), vu.VAE()
    reference = vu.judge.real_features(judge, small_train_images)
    spread = vu.seed_spread(model, judge, sampler, 0.8, n_per_digit=7, seeds=[3, 4, 3], reference=reference)
    assert list(spread["seed"]) == [3, 4, 3]
    assert {"accuracy", "accuracy_low", "accuracy_high", "min_accuracy", "min_accuracy_low", "min_accuracy_high",
            "worst_digit", "recall", "frechet"} <= set(spread.columns)
    assert spread.iloc[0].equals(spread.iloc[2]), "the same seed draws the same digits"
    assert spread.loc[0, "frechet"] != spread.loc[1, "frechet"], "another seed draws other digits"
    assert (spread["accuracy_low"] <= spread["accuracy"]).all()
    assert (spread["accuracy"] <= spread["accuracy_high"]).all()
    assert vu.selection.spread_summary(spread).loc["frechet", "sd"] > 0

    quality = vu.judge.generation_quality(judge, vu.sampling.generate_digits(model, sampler, 7, 3, 0.8), reference)
    chosen = pd.Series({"sampler": sampler.name, "temperature": 0.8, "meets_rule": False})
    results = vu.selection.latent_metrics(
        model_info={}, clustering_k10={}, k_sweep=pd.DataFrame(), judge_accuracy=reference.accuracy,
        rule={"min_digit_accuracy": 0.5, "min_mean_accuracy": 0.6}, comparison=pd.DataFrame(), chosen=chosen,
        quality=quality, prior_quality=quality, real_quality=quality, n_judged=6, elbo={"loss": 100.0},
        iw_nll=99.0, iw_samples=10, likelihood_images=64, active_units=3, judge_images=reference.n_images,
        seed_spread=spread)
    assert results["chosen"]["accuracy_low"] <= results["chosen"]["accuracy"] <= results["chosen"]["accuracy_high"]
    assert "min_accuracy_low" in results["chosen"] and "min_accuracy_high" in results["chosen"]
    assert results["judge_test_images"] == 640
    assert (results["judge_test_accuracy_low"], results["judge_test_accuracy_high"]) == pytest.approx(
        reference.accuracy_interval())
    record = results["seed_spread"]
    assert [row["seed"] for row in record["per_seed"]] == [3, 4, 3]
    assert record["summary"]["accuracy"]["mean"] == pytest.approx(spread["accuracy"].mean())
    assert record["rule_margins"]["min_accuracy"]["threshold"] == 0.5
    assert json.loads(json.dumps(record, allow_nan=True)) == record  # plain JSON types, no numpy
    without = vu.selection.latent_metrics(**_latent_arguments(quality, chosen))
    assert "seed_spread" not in without and "judge_test_images" not in without


def _latent_arguments(quality, chosen):
    return dict(model_info={}, clustering_k10={}, k_sweep=pd.DataFrame(), judge_accuracy=0.9, rule={},
                comparison=pd.DataFrame(), chosen=chosen, quality=quality, prior_quality=quality,
                real_quality=quality, n_judged=6, elbo={"loss": 100.0}, iw_nll=99.0, iw_samples=10,
                likelihood_images=64, active_units=3)


def test_class_agnostic_frechet_pools_the_digits(small_train_images):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    judge = vu.judge.DigitClassifier().eval()
    reference = vu.judge.real_features(judge, small_train_images)
    shuffled = small_train_images.images[torch.randperm(640, generator=torch.Generator().manual_seed(0))]
    rows = shuffled[:600].reshape(10, 60, 1, 28, 28)  # real digits, but row d is not digit d
    pooled = vu.judge.class_agnostic_frechet(judge, rows, reference)
    per_digit = vu.judge.generation_quality(judge, rows, reference)
    assert vu.judge.class_agnostic_frechet(judge, small_train_images.images, reference) == pytest.approx(0.0, abs=1e-6)
    assert pooled < per_digit.loc[per_digit["digit"] == "mean", "frechet"].item()


def test_batched_mixture_fits_what_scikit_learn_fits():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(5, 4))
    codes = np.concatenate([centre + rng.normal(size=(120, 4)) @ rng.normal(size=(4, 4)) for centre in centres])
    ours = vu.sampling.BatchedGaussianMixture(5, covariance_type="full", reg_covar=1e-4, random_state=0).fit(codes)
    theirs = GaussianMixture(5, covariance_type="full", reg_covar=1e-4, random_state=0).fit(codes)
    assert ours.n_iter_ == theirs.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9, atol=1e-9)
    fresh = rng.normal(scale=4.0, size=(50, 4))  # not the fitted codes: their own outer products
    np.testing.assert_allclose(ours.score_samples(fresh), theirs.score_samples(fresh), rtol=1e-9)
    assert np.array_equal(ours.predict(fresh), theirs.predict(fresh))
    assert ours._fitting is None  # the fit's cached products are dropped with it


def test_the_rule_made_again_under_clustering_seeds_repeats_a_seed_exactly_and_refits_for_another(
        digit_blobs, small_train_images):
    torch.set_num_threads(1)
    latents, labels = digit_blobs
    torch.manual_seed(0)
    judge, model = vu.judge.DigitClassifier().eval(), vu.VAE()
    reference = vu.judge.real_features(judge, small_train_images)
    rule = {"min_digit_accuracy": 0.0, "min_mean_accuracy": 0.0, "tuning_seed": 5, "temperatures": [0.5, 1.0],
            "sampler_clusters": [10, 12], "mixture_components": 10, "min_purity": 0.9,
            "per_digit_mixture_components": 1}
    rows = vu.rule_over_clustering_seeds(model, judge, latents, labels, rule, [0, 1, 0], n_judged=7,
                                         reporting_seed=3, choice_reference=reference, report_reference=reference)
    assert list(rows["clustering seed"]) == [0, 1, 0]
    assert rows.iloc[0].equals(rows.iloc[2]), "the same clustering seed makes the same choice and numbers"
    names = {s.name for s in vu.candidate_samplers(latents, labels, vu.fit_cluster_family(latents, labels, [10, 12], 0),
                                                   mixture_components=10, min_purity=0.9, per_digit_components=1,
                                                   seed=0)}
    assert set(rows["sampler"]) <= names and rows["temperature"].isin([0.5, 1.0]).all()
    summary = vu.rule_stability(rows.to_dict(orient="records"))
    assert summary["runs"] == 3 and summary["modal_count"] >= 2
    table = vu.rule_seeds_table(rows)
    assert list(table.columns) == ["clustering seed", "chosen sampler", "T", "meets rule", "judged accuracy",
                                   "worst digit", "recall", "Fréchet"]


def test_candidate_samplers_are_the_family_the_pure_versions_and_the_two_same_label_rivals(digit_blobs):
    latents, labels = digit_blobs
    samplers = vu.candidate_samplers(latents, labels, vu.fit_cluster_family(latents, labels, [10, 12], 0),
                                     mixture_components=10, min_purity=0.9, per_digit_components=1, seed=0)
    assert [s.name for s in samplers] == ["clamped prior", "k-means 10", "k-means 12", "pure k-means 12",
                                          "mixture 10", "pure mixture 10", "per-digit Gaussian",
                                          "per-digit mixture 1"]

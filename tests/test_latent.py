"""Latent-space analysis: cluster naming, matching accuracy, per-digit generation and likelihood bounds."""

import importlib.util
import math
import re

import numpy as np
import pytest
import torch

import vae_utils as vu


def test_clusters_are_named_after_their_majority_digit():
    cluster_ids = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    labels = np.array([3, 3, 5, 7, 7, 1, 1, 1, 9])
    assert vu.latent.label_clusters(cluster_ids, labels, n_clusters=4).tolist() == [3, 7, 1, -1]


def test_hungarian_accuracy_ignores_how_clusters_are_numbered():
    labels = np.repeat(np.arange(10), 5)
    permuted_ids = (labels * 3 + 1) % 10  # a bijection of digit -> cluster id
    assert vu.latent.hungarian_accuracy(permuted_ids, labels) == 1.0
    # one image moved to another digit's cluster costs exactly one image
    permuted_ids[0] = permuted_ids[-1]
    assert vu.latent.hungarian_accuracy(permuted_ids, labels) == pytest.approx(49 / 50)


def test_hungarian_accuracy_cannot_name_two_clusters_after_one_digit():
    labels = np.array([0, 0, 0, 0, 1, 1])
    ids = np.array([0, 0, 1, 1, 1, 1])  # digit 0 split over two clusters, digit 1 merged into one
    majority = vu.latent.label_clusters(ids, labels, 2)
    metrics = vu.latent.clustering_metrics(ids, majority, labels, n_clusters=2)
    assert metrics["accuracy_majority"] == pytest.approx(4 / 6)
    assert vu.latent.hungarian_accuracy(ids, labels) == pytest.approx(4 / 6)


def test_kmeans_on_separated_blobs_recovers_the_digits(digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    assert sorted(fit.cluster_to_digit.tolist()) == list(range(10))
    metrics = vu.evaluate_clusters(fit, latents, labels)
    assert metrics["accuracy_hungarian"] == 1.0 and metrics["accuracy_majority"] == 1.0
    assert metrics["nmi"] == pytest.approx(1.0) and metrics["ari"] == pytest.approx(1.0)


def test_sampler_draws_near_the_clusters_of_the_requested_digit(digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    sampler = vu.fit_cluster_sampler(latents, labels, fit)
    z = sampler.sample(4, 200, torch.Generator().manual_seed(0)).numpy()
    nearest = np.linalg.norm(z[:, None, :] - latents[None, labels == 4, :], axis=-1).min(axis=1)
    assert nearest.max() < 5.0  # blobs are ~28 apart; within-blob spread is 0.5 per dimension
    assert np.allclose(z.mean(0), latents[labels == 4].mean(0), atol=0.3)


def test_sampler_refuses_a_digit_without_clusters(digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    fit.cluster_to_digit[fit.cluster_to_digit == 9] = 8  # nothing is named 9 any more
    sampler = vu.fit_cluster_sampler(latents, labels, fit)
    assert sampler.missing_digits() == [9]
    with pytest.raises(ValueError, match="digit 9"):
        sampler.sample(9, 3, torch.Generator().manual_seed(0))


def test_generate_digits_shape_range_and_determinism(tmp_path, digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    sampler = vu.fit_cluster_sampler(latents, labels, fit)
    model = vu.VAE()
    a = vu.sampling.generate_digits(model, sampler, n_per_digit=5, seed=7)
    b = vu.sampling.generate_digits(model, sampler, n_per_digit=5, seed=7)
    c = vu.sampling.generate_digits(model, sampler, n_per_digit=5, seed=8)
    assert a.shape == (10, 5, 1, 28, 28)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.equal(a, c)
    run = vu.RunFolder(tmp_path)
    assert run.save_generated(a) is True
    saved = np.load(run.file(vu.RunFolder.GENERATED))["images"]
    assert saved.shape == (10, 5, 28, 28) and saved.dtype == np.float32
    # 8-bit grey levels, like MNIST's pixels: the saved file holds exactly what was judged
    assert torch.equal(a, torch.round(a * 255) / 255)
    assert np.array_equal(saved, a.reshape(10, 5, 28, 28).numpy())


def test_importance_weighted_estimate_is_at_least_as_tight_as_the_elbo(mnist_test_split):
    torch.manual_seed(0)
    model = vu.VAE().eval()
    batch = mnist_test_split.images[:64]
    # average the one-sample ELBO over many noise seeds: the IW bound must lie below its expectation
    elbo = np.mean([vu.evaluate(model, batch, seed=s)["loss"] for s in range(20)])
    iw = vu.latent.importance_weighted_nll(model, batch, k=200, seed=0, progress=False)
    assert iw <= elbo
    single = vu.latent.importance_weighted_nll(model, batch, k=1, seed=0, progress=False)
    assert single == pytest.approx(elbo, rel=0.01)  # K = 1 is the ELBO itself


def test_the_kept_estimate_is_read_back_only_for_the_same_weights_images_and_k(mnist_test_split, tmp_path):
    torch.manual_seed(0)
    model = vu.VAE().eval()
    run = vu.RunFolder(tmp_path)
    run.export(model, vu.TrainConfig(), vu.run.TrainingState(stop_reason=vu.run.Stop.EARLY.reason(patience=10)))
    images = mnist_test_split.images[:8]
    first, kept = vu.kept_importance_weighted_nll(run, model, images, k=3, progress=False)
    assert not kept and first == vu.latent.importance_weighted_nll(model, images, k=3, progress=False)
    assert vu.kept_importance_weighted_nll(run, model, images, k=3, progress=False) == (first, True)
    assert not vu.kept_importance_weighted_nll(run, model, images, k=4, progress=False)[1]  # another K
    assert not vu.kept_importance_weighted_nll(run, model, images[:6], k=4, progress=False)[1]  # other images
    torch.manual_seed(1)
    other = vu.VAE().eval()
    run.export(other, vu.TrainConfig(), vu.run.TrainingState(stop_reason=vu.run.Stop.EARLY.reason(patience=10)))
    estimate, kept = vu.kept_importance_weighted_nll(run, other, images[:6], k=4, progress=False)
    # new weights, new estimate
    assert not kept and estimate == vu.latent.importance_weighted_nll(other, images[:6], k=4, progress=False)


def test_low_temperature_samples_close_to_the_cluster_centre_and_zero_is_refused(digit_blobs):
    latents, labels = digit_blobs
    fit = vu.latent.fit_clusters(latents, labels, k=10, seed=0)
    sampler = vu.fit_cluster_sampler(latents, labels, fit)
    z = sampler.sample(2, 5, torch.Generator().manual_seed(0), temperature=1e-3)
    assert torch.allclose(z, torch.from_numpy(latents[labels == 2].mean(0)).float().expand(5, -1), atol=1e-2)
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        sampler.sample(2, 5, torch.Generator().manual_seed(0), temperature=0.0)


def test_kl_per_dimension_and_active_units_read_the_encodings():
    mu = torch.tensor([[1.0, 0.0, 0.3], [-1.0, 0.0, 0.3]])
    logvar = torch.zeros(2, 3)
    logvar[:, 1] = math.log(4.0)
    # dimension 0: KL 0.5 per image; dimension 1: 0.5 * (4 - 1 - ln 4); dimension 2: 0.045
    expected = [0.5, 0.5 * (3.0 - math.log(4.0)), 0.5 * 0.09]
    assert vu.kl_per_dimension(mu, logvar) == pytest.approx(expected, rel=1e-6)
    count, variance = vu.active_units(mu.double().numpy())
    assert count == 1 and variance == pytest.approx([1.0, 0.0, 0.0])  # only dimension 0's mean varies


def test_encodings_of_a_model_feed_the_latent_statistics(mnist_test_split):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, images = vu.VAE().eval(), mnist_test_split.images[:32]
    mu, logvar = vu.encode_gaussian(model, images)
    assert mu.shape == logvar.shape == (32, 15)
    assert np.array_equal(vu.encode_means(model, images), mu.double().numpy())
    assert vu.kl_per_dimension(mu, logvar).shape == (15,)
    assert 0 <= vu.active_units(vu.encode_means(model, images))[0] <= 15


def _likelihood_noise_script():
    """scripts/likelihood_noise.py as a module, so that its ``main`` runs in this process."""
    spec = importlib.util.spec_from_file_location("likelihood_noise",
                                                  vu.paths.PROJECT_ROOT / "scripts" / "likelihood_noise.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_likelihood_noise_script_prints_each_estimate_per_seed_and_the_tighter_bound_is_lower(capsys):
    script = _likelihood_noise_script()
    script.main(["models", "--images", "64", "--elbo-seeds", "2", "--iw-seeds", "2", "-k", "8"])
    printed = capsys.readouterr().out
    elbo = re.search(r"negative ELBO, 2 noise seeds: ([\d.]+) ([\d.]+)  sd ([\d.]+)", printed)
    iw = re.search(r"IW -log p\(x\), K = 8, 2 noise seeds: ([\d.]+) ([\d.]+)  sd ([\d.]+)", printed)
    assert elbo and iw, printed
    elbo_values, iw_values = [float(v) for v in elbo.groups()[:2]], [float(v) for v in iw.groups()[:2]]
    assert elbo_values[0] != elbo_values[1] and float(elbo.group(3)) > 0  # the seed moves the estimate
    assert max(iw_values) < min(elbo_values)  # K = 8 bounds -log p(x) more tightly than one sample

    with pytest.raises(SystemExit) as refused:
        script.main(["models", "--iw-seeds", "0"])
    assert refused.value.code == 2 and "--iw-seeds must be at least 1, got 0" in capsys.readouterr().err

"""Choices read the validation digits and reported numbers the test digits: a choice cannot see a test image."""

import pandas as pd
import torch

import vae_utils as vu


def _choose(sets, digit_blobs):
    """The rule's whole choice (two samplers, two temperatures) against ``sets.choice``, with a fixed judge."""
    torch.manual_seed(0)
    judge, model = vu.judge.DigitClassifier().eval(), vu.VAE()
    latents, labels = digit_blobs
    fits = vu.fit_cluster_family(latents, labels, [10, 12], seed=0)
    samplers = [vu.fit_cluster_sampler(latents, labels, fits[k]) for k in (10, 12)]
    rule = {"min_digit_accuracy": 0.0, "min_mean_accuracy": 0.0}
    return vu.choose_sampler(model, judge, samplers, [0.5, 1.0], 7, 1, vu.real_features(judge, sets.choice), rule)


def test_the_choice_is_unchanged_when_the_test_digits_are_replaced_by_noise(mnist_test_split, digit_blobs):
    torch.set_num_threads(1)
    train = vu.MNISTTensors(mnist_test_split.images[:2000], mnist_test_split.labels[:2000])
    test = vu.MNISTTensors(mnist_test_split.images[2000:3000], mnist_test_split.labels[2000:3000])
    noise = vu.MNISTTensors(torch.rand(test.images.shape, generator=torch.Generator().manual_seed(5)), test.labels)

    sets, noisy_sets = (vu.choice_and_report_sets(train, t, val_size=500, split_seed=0) for t in (test, noise))
    assert sets.report is test and noisy_sets.report is noise
    assert torch.equal(sets.choice.images, noisy_sets.choice.images)  # the validation digits, not the test digits
    comparison, chosen = _choose(sets, digit_blobs)
    noisy_comparison, noisy_chosen = _choose(noisy_sets, digit_blobs)
    pd.testing.assert_frame_equal(comparison, noisy_comparison)
    assert chosen.equals(noisy_chosen)


def test_without_validation_digits_one_half_of_the_test_digits_chooses_and_the_other_reports(mnist_test_split):
    train = vu.MNISTTensors(mnist_test_split.images[:100], mnist_test_split.labels[:100])
    test = vu.MNISTTensors(mnist_test_split.images[100:1100], mnist_test_split.labels[100:1100])
    sets = vu.choice_and_report_sets(train, test, val_size=0, split_seed=0)
    assert sets.fit is train and len(sets.choice.images) == len(sets.report.images) == 500
    choosing = {image.numpy().tobytes() for image in sets.choice.images}
    assert not any(image.numpy().tobytes() in choosing for image in sets.report.images)
    assert "half" in sets.choice_name and "half" in sets.report_name

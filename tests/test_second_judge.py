"""The second judge: another family of classifier that re-scores generated digits and never takes part in selection."""

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu


def test_mlp_judge_is_another_family_with_the_stated_size():
    judge = vu.second_judge.MLPJudge()
    assert vu.model.count_parameters(judge) == 535_818
    assert not any(isinstance(layer, torch.nn.Conv2d) for layer in judge.modules())
    assert judge(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_augmentation_moves_every_image_differently_and_keeps_the_shape():
    images = vu.load_mnist(train=False, limit=8).images
    moved = vu.second_judge.random_affine(images, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and 0 <= float(moved.min()) and float(moved.max()) <= 1 + 1e-6
    same = vu.second_judge.random_affine(images, torch.Generator().manual_seed(0))
    assert torch.equal(moved, same), "the augmentation is fixed by its generator"
    changes = (moved - images).flatten(1).abs().sum(1)
    assert (changes > 1.0).all()
    identity = vu.second_judge.random_affine(images[:1].repeat(2, 1, 1, 1), torch.Generator().manual_seed(1))
    assert not torch.allclose(identity[0], identity[1]), "each image draws its own transformation"


def test_second_judge_is_trained_saved_and_reloaded_with_its_facts(tmp_path, small_train_images):
    torch.set_num_threads(1)
    run = vu.RunFolder(tmp_path)
    first = vu.second_judge.load_or_train_second_judge(run, small_train_images, small_train_images, epochs=1, seed=3,
                                          progress=False)
    again = vu.second_judge.load_or_train_second_judge(run, small_train_images, small_train_images, epochs=9, seed=9)
    assert (again.epochs, again.seed) == (1, 3), "a saved judge is reused with the facts it was trained with"
    assert again.test_accuracy == pytest.approx(first.test_accuracy)
    low, high = again.accuracy_interval()
    assert low <= again.test_accuracy <= high


def _comparison_with_second_opinions(second):
    rows = [("a", 0.5, 0.99, 0.98, 0.4), ("a", 1.0, 0.97, 0.90, 0.8), ("b", 0.8, 0.985, 0.975, 0.6)]
    return pd.DataFrame([{"sampler": s, "temperature": t, "tied to digits": True, "accuracy": acc,
                          "min_accuracy": worst, "recall": recall, "judge2_accuracy": second[i],
                          "judge2_min_accuracy": second[i]} for i, (s, t, acc, worst, recall) in enumerate(rows)])


def test_second_judges_columns_never_change_the_rules_choice():
    chosen = [vu.selection.choose_operating_point(_comparison_with_second_opinions(second), 0.97, 0.985)
              for second in ([0.99, 0.99, 0.99], [0.0, 1.0, 0.0], [1.0, 0.0, 0.5])]
    assert {(c["sampler"], c["temperature"]) for c in chosen} == {("b", 0.8)}


def test_second_judge_adds_columns_and_leaves_the_first_judges_numbers_alone(digit_blobs, small_train_images):
    torch.set_num_threads(1)
    latents, labels = digit_blobs
    sampler = vu.fit_cluster_sampler(latents, labels, vu.latent.fit_clusters(latents, labels, k=10, seed=0))
    torch.manual_seed(0)
    judge, second = vu.judge.DigitClassifier().eval(), vu.second_judge.MLPJudge().eval()
    reference = vu.judge.real_features(judge, small_train_images)
    args = (vu.VAE(), judge, [sampler], [0.5, 1.0], 7, 1, reference)
    alone = vu.selection.compare_samplers(*args)
    both = vu.selection.compare_samplers(*args, second_judge=second)
    assert set(both.columns) - set(alone.columns) == {"judge2_accuracy", "judge2_min_accuracy", "judge2_worst_digit"}
    pd.testing.assert_frame_equal(both[alone.columns], alone)


def test_agreement_counts_the_images_only_one_judge_accepts():
    class Fixed(torch.nn.Module):
        """A stand-in judge that answers a fixed digit for every image."""

        def __init__(self, digit):
            super().__init__()
            self.digit = digit
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def features(self, x):
            return x.flatten(1)[:, :1]

        def head(self, hidden):
            return torch.nn.functional.one_hot(torch.full((len(hidden),), self.digit), 10).float()

    generated = torch.zeros(10, 4, 1, 28, 28)
    table = vu.judge_agreement(Fixed(3), Fixed(5), generated)
    row3, row5, mean = table.iloc[3], table.iloc[5], table.iloc[-1]
    assert (row3["judge1"], row3["judge2"], row3["only_judge1"]) == (1.0, 0.0, 4)
    assert (row5["judge1"], row5["judge2"], row5["only_judge2"]) == (0.0, 1.0, 4)
    assert mean["digit"] == "mean" and mean["same_verdict"] == 0.0 and mean["samples"] == 40
    assert np.isclose(mean["judge1"], 0.1)

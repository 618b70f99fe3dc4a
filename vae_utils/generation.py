"""Notebook 04's generation steps as calls: the two judges with the real references each role reads, the reference
sets scored like the samplers, and the chosen sampler's digits drawn on the reporting seed.

Each step returns the pieces the notebook shows and keeps; nothing here chooses (``selection.choose_sampler`` does).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import pandas as pd
import torch

from .baselines import reconstructions_by_digit
from .data import MNISTTensors, images_per_digit
from .judge import DigitClassifier, RealFeatures, generation_quality, load_or_train_judge, real_features
from .model import VAE
from .run import RunFolder
from .sampling import Sampler, generate_digits
from .second_judge import SecondJudge, load_or_train_second_judge
from .selection import ChoiceSets, summarise_quality

__all__ = ["ChosenDigits", "Judges", "References", "draw_chosen", "load_judges", "score_references"]


class Judges(NamedTuple):
    """The CNN that chooses and scores, the MLP that only re-scores, and the real digits in the CNN's features:
    the whole test set (its accuracy), the set choices read and the set reported numbers read."""

    judge: DigitClassifier
    second: SecondJudge
    test_reference: RealFeatures
    choice_reference: RealFeatures
    reference: RealFeatures


def load_judges(run: RunFolder, train_set: MNISTTensors, test_set: MNISTTensors, sets: ChoiceSets, *, epochs: int,
                second_epochs: int, seed: int, min_accuracy: float | None) -> Judges:
    """Both judges of ``run`` (trained and saved there the first time) and the references of each role."""
    judge, test_reference = load_or_train_judge(run, train_set, test_set, epochs=epochs, seed=seed,
                                                min_accuracy=min_accuracy)
    reference = test_reference if sets.report is test_set else real_features(judge, sets.report)
    second = load_or_train_second_judge(run, train_set, test_set, epochs=second_epochs, seed=seed)
    return Judges(judge, second, test_reference, real_features(judge, sets.choice), reference)


class References(NamedTuple):
    """Real training digits and reconstructions of held-out digits, scored against the reported set (the tables)
    and against the choice set (the stars beside the samplers' curves, which read that set)."""

    real_quality: pd.DataFrame
    recon_quality: pd.DataFrame
    reconstructions: torch.Tensor
    tradeoff_points: dict[str, dict[str, Any]]


def score_references(model: VAE, judges: Judges, sets: ChoiceSets, n_per_digit: int, seed: int) -> References:
    """What a generator indistinguishable from the data (real digits) and what this decoder can draw at best
    (reconstructions) reach, measured like every sampler."""
    real = images_per_digit(sets.fit, n_per_digit, seed)
    reconstructions = reconstructions_by_digit(model, sets.report, n_per_digit, seed)
    choice_recon = reconstructions_by_digit(model, sets.choice, n_per_digit, seed)
    points = {"real training digits": summarise_quality(generation_quality(judges.judge, real,
                                                                           judges.choice_reference)),
              f"reconstructions of {sets.choice_name.removeprefix('the ')}": summarise_quality(
                  generation_quality(judges.judge, choice_recon, judges.choice_reference))}
    return References(generation_quality(judges.judge, real, judges.reference),
                      generation_quality(judges.judge, reconstructions, judges.reference), reconstructions, points)


class ChosenDigits(NamedTuple):
    """The chosen sampler's digits on the reporting seed and the course report's procedure beside them, judged."""

    sampler: Sampler
    generated: torch.Tensor
    quality: pd.DataFrame
    prior_generated: torch.Tensor
    prior_quality: pd.DataFrame


def draw_chosen(model: VAE, judge: DigitClassifier, samplers: Sequence[Sampler], chosen: Mapping[str, Any],
                n_per_digit: int, seed: int, reference: RealFeatures) -> ChosenDigits:
    """Draw the chosen setting's digits with the reporting ``seed`` (never the tuning seed) and the course report's
    clamped prior (the first sampler, at T = 1), and judge both against ``reference``."""
    sampler = next(s for s in samplers if s.name == chosen["sampler"])
    generated = generate_digits(model, sampler, n_per_digit, seed, float(chosen["temperature"]))
    prior = generate_digits(model, samplers[0], n_per_digit, seed, 1.0)
    return ChosenDigits(sampler, generated, generation_quality(judge, generated, reference), prior,
                        generation_quality(judge, prior, reference))

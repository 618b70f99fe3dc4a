"""Notebook 04's generation steps as calls: the two judges with the real references each role reads, the samplers
the rule chooses among, the reference sets scored like the samplers, and the chosen sampler's digits drawn on the
reporting seed; and notebook 06's re-run of the whole choice under other clustering seeds.

Each step returns the pieces the notebook shows and keeps; the choosing is ``selection.choose_sampler``'s.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .baselines import reconstructions_by_digit
from .data import MNISTTensors, images_per_digit
from .judge import DigitClassifier, RealFeatures, generation_quality, load_or_train_judge, real_features
from .label_samplers import per_digit_gaussian_sampler, per_digit_mixture_sampler
from .latent import ClusterFit, fit_cluster_family
from .model import VAE
from .run import RunFolder
from .sampling import Sampler, build_samplers, fit_mixture, generate_digits
from .second_judge import SecondJudge, load_or_train_second_judge
from .selection import ChoiceSets, choose_sampler, summarise_quality

__all__ = ["ChosenDigits", "Judges", "References", "candidate_samplers", "draw_chosen", "load_judges",
           "rule_over_clustering_seeds", "score_references"]


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


def candidate_samplers(latents: np.ndarray, labels: np.ndarray, fits: Mapping[int, ClusterFit], *,
                       mixture_components: int, min_purity: float, per_digit_components: int, seed: int
                       ) -> list[Sampler]:
    """Every sampler the rule chooses among: the course report's clamped prior, a k-means sampler per fit in
    ``fits``, the ex-post mixture (fitted here with ``seed``), the pure versions of the largest k-means and of the
    mixture, and the two rivals that use the same labels without clusters (a Gaussian and a small mixture per
    digit). One list, so that notebook 04 and the re-run under other clustering seeds compare the same candidates."""
    mixture = fit_mixture(latents, mixture_components, seed)
    return [*build_samplers(latents, labels, fits, mixture, min_purity),
            per_digit_gaussian_sampler(latents, labels),
            per_digit_mixture_sampler(latents, labels, per_digit_components, seed)]


def rule_over_clustering_seeds(model: VAE, judge: DigitClassifier, latents: np.ndarray, labels: np.ndarray,
                               rule: Mapping[str, Any], seeds: Sequence[int], n_judged: int, reporting_seed: int,
                               choice_reference: RealFeatures, report_reference: RealFeatures) -> pd.DataFrame:
    """The whole choice made again with each clustering seed in ``seeds``: k-means and both mixtures refitted with
    it, every candidate scored on the tuning seed against ``choice_reference``, the rule applied, and the chosen
    setting drawn on the reporting seed and measured against ``report_reference``; one row per seed.

    ``rule``: notebook 04's record (its thresholds, tuning seed, candidates and temperatures). One clustering seed
    is one draw of k-means++'s and EM's starts; whether the choice and its numbers survive other draws says how much
    of the result is the luck of one start (``uncertainty.rule_stability`` summarises the rows)."""
    rows = []
    for seed in tqdm(seeds, desc="clustering seeds", leave=False):
        fits = fit_cluster_family(latents, labels, rule["sampler_clusters"], int(seed))
        samplers = candidate_samplers(latents, labels, fits, mixture_components=rule["mixture_components"],
                                      min_purity=rule["min_purity"],
                                      per_digit_components=rule["per_digit_mixture_components"], seed=int(seed))
        _, chosen = choose_sampler(model, judge, samplers, rule["temperatures"], n_judged, rule["tuning_seed"],
                                   choice_reference, rule)
        sampler = next(candidate for candidate in samplers if candidate.name == chosen["sampler"])
        generated = generate_digits(model, sampler, n_judged, reporting_seed, float(chosen["temperature"]))
        rows.append({"clustering seed": int(seed), "sampler": chosen["sampler"],
                     "temperature": float(chosen["temperature"]), "meets_rule": bool(chosen["meets_rule"]),
                     **summarise_quality(generation_quality(judge, generated, report_reference))})
    return pd.DataFrame(rows)


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

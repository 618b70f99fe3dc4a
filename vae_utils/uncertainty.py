"""Uncertainty and sensitivity of the reported numbers: resampling intervals on recall, coverage and Fréchet distance,
clustering metrics over k-means starts, and the rule's stability. Used by the comparisons notebook of the report.
"""

from __future__ import annotations

import numbers
from collections import Counter
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from . import checks
from .judge import (
    PRDC_NEAREST_K,
    DigitClassifier,
    DigitStatistics,
    RealFeatures,
    _pairwise,  # prdc's distances exactly, so the point estimates equal the reported numbers
    frechet_distance,
    judge_pass,
)
from .latent import METRIC_NAMES, evaluate_clusters, fit_clusters

__all__ = [
    "BOOTSTRAP_MEASURES", "bootstrap_generation_quality", "bootstrap_quality", "clustering_over_starts",
    "clustering_starts_summary", "rule_stability",
]

BOOTSTRAP_MEASURES = ("recall", "coverage", "frechet")  # the ten-digit means the tables report without an interval
MEASURE_RANGES = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, np.inf]])  # where each measure can lie: intervals clip here
CHOICE_KEYS = ("sampler", "temperature")  # what the rule chooses (``choose_operating_point``'s row)


class _Neighbours(NamedTuple):
    """Every point's other points of the same set, nearest first, with their distances (the point itself left out)."""

    order: np.ndarray  # [n, n - 1] indices
    distances: np.ndarray  # [n, n - 1]


class _DigitDistances(NamedTuple):
    """One digit's pairwise distances, computed once; every half-sample indexes into them instead of recomputing."""

    real: _Neighbours
    fake: _Neighbours
    real_fake: np.ndarray  # [n_real, n_fake]


def _neighbours(features: np.ndarray) -> _Neighbours:
    """Sorted distances from each point to the others: the diagonal is set to infinity so the point itself sorts last
    and is dropped, by index rather than by distance (an exact duplicate elsewhere in the set stays a neighbour)."""
    distances = _pairwise(features)
    np.fill_diagonal(distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :-1]
    return _Neighbours(order, np.take_along_axis(distances, order, axis=1))


def _subset_radii(neighbours: _Neighbours, drawn: np.ndarray, nearest_k: int) -> np.ndarray:
    """Distance from each drawn point (``drawn``: sorted indices) to its k-th nearest other drawn point: PRDC's radius
    within the subset, read off the full set's sorted neighbours. With every point drawn, ``digit_statistics``'s."""
    member = np.zeros(len(neighbours.order), dtype=np.int32)
    member[drawn] = 1
    reached = np.cumsum(member[neighbours.order[drawn]], axis=1)
    return neighbours.distances[drawn, (reached < nearest_k).sum(axis=1)]


def _gaussian(features: np.ndarray) -> DigitStatistics:
    """The real side of the Fréchet distance alone (no PRDC radii), as ``digit_statistics`` computes it."""
    return DigitStatistics(features, np.empty(0), features.mean(axis=0, dtype=np.float64),
                           np.cov(features, rowvar=False, dtype=np.float64))


def _digit_measures(distances: _DigitDistances, real: np.ndarray, fake: np.ndarray, real_drawn: np.ndarray,
                    fake_drawn: np.ndarray, nearest_k: int) -> np.ndarray:
    """Recall, coverage and Fréchet distance of one digit between the real images ``real_drawn`` and the generated
    images ``fake_drawn`` (sorted indices without repeats), with ``prdc``'s formulas."""
    real_radii = _subset_radii(distances.real, real_drawn, nearest_k)
    fake_radii = _subset_radii(distances.fake, fake_drawn, nearest_k)
    between = distances.real_fake[np.ix_(real_drawn, fake_drawn)]
    recall = (between < fake_radii[None, :]).any(axis=1).mean()
    coverage = (between.min(axis=1) < real_radii).mean()
    return np.array([recall, coverage, frechet_distance(_gaussian(real[real_drawn]), fake[fake_drawn])])


def _checked_features(name: str, arrays: Sequence[np.ndarray], nearest_k: int) -> list[np.ndarray]:
    """Each digit's features as float32 [n, d] (the judge's precision), with a k-th neighbour in every half."""
    checked = [np.asarray(array, dtype=np.float32) for array in arrays]
    least = 2 * (nearest_k + 1)
    for digit, array in enumerate(checked):
        if array.ndim != 2 or len(array) < least:
            raise ValueError(f"{name}[{digit}] must be features [n, d] with n >= {least} (each half needs k = "
                             f"{nearest_k} neighbours besides the image itself), got shape {array.shape}; "
                             "pass more images")
    return checked


def bootstrap_quality(real_features_by_digit: Sequence[np.ndarray], fake_features_by_digit: Sequence[np.ndarray],
                      n_boot: int = 200, seed: int = 0, confidence: float = 0.95,
                      nearest_k: int = PRDC_NEAREST_K) -> dict[str, dict[str, float]]:
    """Point estimate and resampling interval of the mean over digits of recall, coverage and the Fréchet distance,
    from ``n_boot`` random halves of both the real and the generated images of every digit.

    Half-sampling without replacement (the delete-d jackknife with d = n/2; Shao & Wu 1989), not the bootstrap with
    replacement: there a drawn copy of an image sits at distance 0 from itself, and even with copies kept out of each
    other's k-nearest-neighbour balls, a resample's fewer distinct images moved the centres (coverage by -0.09, recall
    by -0.07 on MNIST-like 128-d features) and overstated coverage's spread up to twofold. A half's statistic varies
    about as much as the full set's (for a mean, 2/n - 1/n = 1/n): on the same features the halves' spread was 1.0 to
    1.4 times the spread over fresh draws of 500 images. A half's centre is off as well (wider radii, a more biased
    Fréchet distance), so the interval is the estimate plus the percentiles of the halves' deviations from their mean,
    clipped to the measure's range. It says where the reported number would fall with other images of the same
    count; the Fréchet distance's small-sample bias, shared by every sampler at equal counts, stays in it.

    Returns ``{measure: {"estimate", "low", "high", "sd", "n_boot", "confidence"}}`` in plain floats (JSON-ready);
    ``sd`` is the halves' standard deviation. The halves come from ``numpy.random.default_rng(seed)``; distances
    are computed once per digit and every half indexes into them.
    """
    checks.check_int("n_boot", n_boot, low=2)
    checks.check_int("nearest_k", nearest_k, low=1)
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), e.g. 0.95, got {confidence!r}")
    if len(real_features_by_digit) != len(fake_features_by_digit) or not len(real_features_by_digit):
        raise ValueError(f"real and generated features must be given for the same digits, got "
                         f"{len(real_features_by_digit)} real and {len(fake_features_by_digit)} generated arrays")
    real = _checked_features("real_features_by_digit", real_features_by_digit, nearest_k)
    fake = _checked_features("fake_features_by_digit", fake_features_by_digit, nearest_k)
    if len({array.shape[1] for array in real + fake}) != 1:
        raise ValueError(f"every digit's features must have the same width, got real {[a.shape[1] for a in real]} "
                         f"and generated {[a.shape[1] for a in fake]}")
    distances = [_DigitDistances(_neighbours(r), _neighbours(f), _pairwise(r, f)) for r, f in zip(real, fake)]

    def measures(draw: Callable[[int], np.ndarray]) -> np.ndarray:
        """The means over digits of one draw (``draw`` maps a set's size to the sorted indices it keeps)."""
        return np.mean([_digit_measures(d, r, f, draw(len(r)), draw(len(f)), nearest_k)
                        for d, r, f in zip(distances, real, fake)], axis=0)

    rng = np.random.default_rng(seed)
    estimate = measures(np.arange)
    halves = np.array([measures(lambda n: np.sort(rng.choice(n, size=n // 2, replace=False)))
                       for _ in range(n_boot)])
    tail = (1 - confidence) / 2
    deviations = np.quantile(halves - halves.mean(axis=0), [tail, 1 - tail], axis=0)
    low, high = np.clip(estimate + deviations, MEASURE_RANGES[:, 0], MEASURE_RANGES[:, 1])
    spread = halves.std(axis=0, ddof=1)
    return {name: {"estimate": float(estimate[i]), "low": float(low[i]), "high": float(high[i]),
                   "sd": float(spread[i]), "n_boot": n_boot, "confidence": float(confidence)}
            for i, name in enumerate(BOOTSTRAP_MEASURES)}


def bootstrap_generation_quality(judge: DigitClassifier, generated: torch.Tensor, reference: RealFeatures,
                                 n_boot: int = 200, seed: int = 0,
                                 confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """``bootstrap_quality`` of ``generated`` [10, n, 1, 28, 28] (row d meant as digit d) against ``reference``, in
    the judge's features: the intervals of the mean recall, coverage and Fréchet distance ``generation_quality``
    reports."""
    if generated.ndim != 5 or generated.shape[0] != len(reference.digits):
        raise ValueError(f"generated must be [{len(reference.digits)}, n, 1, 28, 28] (one row per digit of the "
                         f"reference), got shape {tuple(generated.shape)}")
    fake = judge_pass(judge, generated)[0].reshape(generated.shape[0], generated.shape[1], -1)
    return bootstrap_quality([digit.features for digit in reference.digits], list(fake), n_boot, seed, confidence)


def clustering_over_starts(latents: np.ndarray, labels: np.ndarray, k: int, seeds: Sequence[int],
                           test_latents: np.ndarray | None = None,
                           test_labels: np.ndarray | None = None) -> pd.DataFrame:
    """``evaluate_clusters`` of a k-means fit for every seed in ``seeds``, on the training codes and, if given, the
    test codes (named from the training labels): one row per start and split.

    One start's purity is one draw of k-means++'s seeding, so a single number overstates what the codes give;
    ``clustering_starts_summary`` turns these rows into the mean and spread to report.
    """
    if (test_latents is None) != (test_labels is None):
        raise ValueError("test_latents and test_labels go together: pass both (test codes and their digits) or neither")
    if not len(seeds):
        raise ValueError("seeds is empty: pass the k-means seeds to fit, e.g. range(10)")
    splits = [("train", latents, labels)] + ([] if test_latents is None else [("test", test_latents, test_labels)])
    rows = []
    for seed in seeds:
        fit = fit_clusters(latents, labels, k, int(seed))
        rows.extend({"seed": int(seed), "split": split, "k": k, **evaluate_clusters(fit, codes, digits)}
                    for split, codes, digits in splits)
    return pd.DataFrame(rows)


def clustering_starts_summary(per_start: pd.DataFrame) -> pd.DataFrame:
    """Per split and metric of ``clustering_over_starts`` (one row each, named by its ``split`` and ``metric``
    columns): the mean, the sample standard deviation (ddof 1, NaN with one start), the minimum and maximum over the
    starts, and how many starts there were."""
    metrics = [name for name in METRIC_NAMES if name in per_start.columns]
    values = per_start.melt(id_vars=["split"], value_vars=metrics, var_name="metric")
    return values.groupby(["split", "metric"], sort=False)["value"].agg(
        mean="mean", sd="std", min="min", max="max", starts="size").reset_index()


def _reported_numbers(choices: Sequence[Mapping[str, Any]]) -> list[str]:
    """The float-valued entries every choice shares, in the first choice's order (not the temperature: it is chosen)."""
    def is_number(value: Any) -> bool:
        return isinstance(value, (float, np.floating)) and not isinstance(value, bool)

    first = choices[0]
    return [key for key in first.keys() if key not in CHOICE_KEYS
            and all(key in choice and is_number(choice[key]) for choice in choices)]


def rule_stability(choices: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """How stable the rule's choice is over clustering seeds: how often the modal sampler and temperature were
    chosen, and the spread (mean, sd with ddof 1, min, max) of the reported numbers.

    ``choices``: one mapping per clustering seed holding ``sampler`` and ``temperature`` (``choose_operating_point``'s
    row, or a dict) and the numbers to summarise; ``metrics`` names them, or by default every float that all choices
    share. Ties between choices made equally often go to the one met first. Plain types throughout (JSON-ready).
    """
    if not len(choices):
        raise ValueError("choices is empty: pass the rule's choice (choose_operating_point's row) for each seed")
    for index, choice in enumerate(choices):
        missing = [key for key in CHOICE_KEYS if key not in choice]
        if missing:
            raise ValueError(f"choice {index} has no {missing}: pass choose_operating_point's row or a dict with "
                             f"'sampler' and 'temperature'")
    picked = Counter((str(choice["sampler"]), float(choice["temperature"])) for choice in choices)
    (sampler, temperature), modal_count = picked.most_common(1)[0]
    names = _reported_numbers(choices) if metrics is None else list(metrics)
    numbers_by_name = {}
    for name in names:
        absent = [index for index, choice in enumerate(choices) if name not in choice]
        if absent:
            raise ValueError(f"metric {name!r} is missing from choices {absent}; add it or leave it out of metrics")
        values = np.array([float(choice[name]) for choice in choices])
        numbers_by_name[name] = {"mean": float(values.mean()),
                                 "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                                 "min": float(values.min()), "max": float(values.max())}
    summary = {
        "runs": len(choices), "modal_choice": {"sampler": sampler, "temperature": temperature},
        "modal_count": int(modal_count), "modal_share": modal_count / len(choices), "distinct_choices": len(picked),
        "choices": [{"sampler": s, "temperature": t, "count": int(c)} for (s, t), c in picked.most_common()],
        "numbers": numbers_by_name,
    }
    if all("meets_rule" in choice for choice in choices):
        summary["meets_rule_count"] = int(sum(bool(choice["meets_rule"]) for choice in choices))
    return summary

"""Samplers that use the same labels as the ex-post samplers (a Gaussian or small mixture per digit), and clusters
named from a budget of labelled images: the same-label baselines of notebook 04 and the label-budget study after it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import pairwise_distances_argmin
from sklearn.mixture import GaussianMixture

from . import checks
from .data import N_DIGITS
from .latent import LOG_2PI, ClusterFit
from .sampling import DigitSampler, _drop_impure, cluster_purity, fit_cluster_sampler

__all__ = [
    "NAMING_RULES", "budget_cluster_sampler", "choose_mixture_components", "digit_log_likelihood", "labelled_subset",
    "mixture_components_per_digit", "name_clusters_from_subset", "per_digit_gaussian_sampler",
    "per_digit_mixture_sampler",
]

# How a cluster is named from a few labelled codes (see ``name_clusters_from_subset``).
NAMING_RULES = ("majority_then_nearest", "majority_only", "nearest")


def _check_codes(latents: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes [N, z] as float64 and digits [N] as int64, refused unless they pair up and the digits are 0-9."""
    latents, labels = np.asarray(latents, dtype=np.float64), np.asarray(labels)
    if latents.ndim != 2 or labels.ndim != 1 or len(latents) != len(labels):
        raise ValueError(f"latents {latents.shape} and labels {labels.shape} must be [N, z] and [N] with the same N; "
                         "pass the labelled codes and their digits")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= N_DIGITS):
        raise ValueError(f"labels must be digits 0-{N_DIGITS - 1}, got values {np.unique(labels)[:12]}")
    return latents, labels.astype(np.int64)


def _positive_definite(covariance: np.ndarray) -> np.ndarray:
    """``covariance`` unchanged if its float32 copy has a Cholesky factor (what DigitSampler needs); otherwise with
    the smallest ridge, 1e-6 of its mean variance times a power of ten, that gives it one."""
    scale = max(float(np.trace(covariance)) / len(covariance), 1e-12)
    for power in range(-6, 3):
        ridge = 0.0 if power == -6 else scale * 10.0 ** power
        try:
            np.linalg.cholesky((covariance + ridge * np.eye(len(covariance))).astype(np.float32).astype(np.float64))
            return covariance + ridge * np.eye(len(covariance))
        except np.linalg.LinAlgError:
            continue
    raise ValueError("covariance has no Cholesky factor even with a ridge of 100 times its mean variance")


def _shrinkage_target(latents: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The covariance a digit with few codes borrows: the pooled within-digit covariance of all labelled codes,
    Ledoit-Wolf shrunk so that a few codes give a positive definite one.

    With one code per digit the labels show no within-digit spread. Then sigma^2 I, with the radius sqrt(z) sigma
    half the smallest distance between codes of two digits, so a draw stays nearer its own code than another
    digit's (the temperature sweep rescales it); with a single code in all, the prior's N(0, I).
    """
    digits = np.unique(labels)
    residuals = np.concatenate([latents[labels == d] - latents[labels == d].mean(axis=0) for d in digits])
    dof = len(residuals) - len(digits)  # one mean estimated per digit
    if dof >= 1:
        return LedoitWolf(assume_centered=True).fit(residuals).covariance_ * len(residuals) / dof
    gaps = np.sqrt(((latents[:, None] - latents[None]) ** 2).sum(-1))[labels[:, None] != labels[None]]
    closest = gaps.min() if len(gaps) else 0.0
    z_dim = latents.shape[1]
    return (closest / 2) ** 2 / z_dim * np.eye(z_dim) if closest > 0 else np.eye(z_dim)


def _shrunk_gaussian(codes: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of one digit's codes: (nu T + (n - 1) S) / (nu + n - 1), nu = z + 1 pseudo-codes.

    A conjugate (inverse-Wishart) prior worth z + 1 codes, centred on ``target`` T: one code gives T itself, and
    with all 5,000-odd codes of a digit the shrinkage weight is under 0.5%, the plain sample covariance S."""
    n, nu = len(codes), codes.shape[1] + 1
    spread = np.cov(codes, rowvar=False) if n >= 2 else np.zeros_like(target)
    return codes.mean(axis=0), _positive_definite((nu * target + (n - 1) * spread) / (nu + n - 1))


def _digit_sampler(name: str, description: str, parts: Sequence[tuple[int, np.ndarray, np.ndarray, float]]
                   ) -> DigitSampler:
    """A DigitSampler from (digit, mean, covariance, weight within the digit) per component."""
    if not parts:
        raise ValueError("no digit has a labelled code; pass at least one labelled code")
    return DigitSampler(name=name, description=description,
                        means=torch.from_numpy(np.stack([p[1] for p in parts])).float(),
                        covariances=torch.from_numpy(np.stack([p[2] for p in parts])).float(),
                        weights=torch.tensor([p[3] for p in parts], dtype=torch.float32),
                        component_to_digit=np.array([p[0] for p in parts], dtype=np.int64))


def per_digit_gaussian_sampler(latents: np.ndarray, labels: np.ndarray, name: str = "per-digit Gaussian",
                               description: str | None = None) -> DigitSampler:
    """One full-covariance Gaussian per digit, fitted to the posterior means of its labelled codes (weight 1 each).

    The same-label rival of the cluster samplers: it uses the labels to fit, not only to name. Each digit's
    covariance is shrunk towards T, the pooled within-digit covariance of all labelled codes (``_shrunk_gaussian``):
    with n_d codes, (16 T + (n_d - 1) S_d) / (15 + n_d) for z = 15, so one code gives T and all labels S_d. With
    one code per digit there is no within-digit spread to pool, and T is isotropic, its radius half the smallest
    distance between two digits' codes (``_shrinkage_target``). A ridge is added only where a float32 Cholesky
    factor would otherwise fail. A digit without codes gets no component (``missing_digits`` lists it).
    """
    latents, labels = _check_codes(latents, labels)
    target = _shrinkage_target(latents, labels) if len(labels) else None
    parts = [(d, *_shrunk_gaussian(latents[labels == d], target), 1.0) for d in range(N_DIGITS) if (labels == d).any()]
    return _digit_sampler(name, description or (
        "a full-covariance Gaussian per digit, fitted to its labelled training codes (shrunk towards the pooled "
        "within-digit covariance when codes are few)"), parts)


def mixture_components_per_digit(labels: np.ndarray, n_components: int, z_dim: int) -> dict[int, int]:
    """Components each digit's mixture gets: ``n_components`` capped at one per z + 1 codes of the digit (fewer
    codes cannot give a component a full covariance), at least 1; digits without codes are absent."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=N_DIGITS)
    return {d: max(1, min(n_components, int(counts[d]) // (z_dim + 1))) for d in range(N_DIGITS) if counts[d]}


def per_digit_mixture_sampler(latents: np.ndarray, labels: np.ndarray, n_components: int, seed: int,
                              name: str | None = None, description: str | None = None) -> DigitSampler:
    """A small full-covariance Gaussian mixture per digit (scikit-learn, k-means start fixed by ``seed``), each
    component named after its digit and weighted by its mixture weight within the digit.

    Components are capped by ``mixture_components_per_digit``; a digit left with one component gets exactly the
    per-digit Gaussian (shrunk when codes are few), so one component per digit is the Gaussian baseline. The
    description names the capped digits.
    """
    checks.check_int("n_components", n_components, low=1)
    checks.check_int("seed", seed, low=0)
    latents, labels = _check_codes(latents, labels)
    per_digit = mixture_components_per_digit(labels, n_components, latents.shape[1])
    target = _shrinkage_target(latents, labels) if len(labels) else None
    parts = []
    for digit, k in per_digit.items():
        codes = latents[labels == digit]
        if k == 1:
            parts.append((digit, *_shrunk_gaussian(codes, target), 1.0))
            continue
        mixture = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(codes)
        parts += [(digit, m, _positive_definite(c), float(w))
                  for m, c, w in zip(mixture.means_, mixture.covariances_, mixture.weights_)]
    capped = [d for d, k in per_digit.items() if k < n_components]
    note = (f"; capped at one per {latents.shape[1] + 1} codes for digits {', '.join(map(str, capped))}"
            if capped else "")
    return _digit_sampler(name or f"per-digit mixture {n_components}", description or (
        f"a {n_components}-component Gaussian mixture per digit, fitted to its labelled training codes{note}"), parts)


def digit_log_likelihood(sampler: DigitSampler, latents: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log p(z | digit) of each code [N] under the sampler's components of its digit (-inf for a missing digit)."""
    latents, labels = _check_codes(latents, labels)
    x = torch.from_numpy(latents)
    scores = np.full(len(labels), -np.inf)
    for digit in np.unique(labels):
        components = sampler.components_of(int(digit))
        if len(components) == 0:
            continue
        rows = torch.from_numpy(np.flatnonzero(labels == digit))
        log_weights = torch.log(sampler.weights[components].double() / sampler.weights[components].double().sum())
        cholesky = torch.linalg.cholesky(sampler.covariances[components].double())  # [K, z, z]
        diff = (x[rows][None] - sampler.means[components].double()[:, None]).transpose(1, 2)  # [K, z, n]
        squared = torch.linalg.solve_triangular(cholesky, diff, upper=False).pow(2).sum(1)  # [K, n]
        log_det = torch.diagonal(cholesky, dim1=-2, dim2=-1).log().sum(-1)[:, None]
        log_normal = -0.5 * (squared + x.shape[1] * LOG_2PI) - log_det
        scores[rows.numpy()] = torch.logsumexp(log_normal + log_weights[:, None], dim=0).numpy()
    return scores


def choose_mixture_components(train_latents: np.ndarray, train_labels: np.ndarray, val_latents: np.ndarray,
                              val_labels: np.ndarray, candidates: Sequence[int] = (1, 2, 3, 5, 10), seed: int = 0,
                              ) -> tuple[int, pd.DataFrame]:
    """Components per digit by the mean held-out log p(z | digit) of the validation codes (ties: fewer components).

    The validation digits choose, never the test digits. Returns the choice and one row per candidate: the mean
    and its standard error over validation codes, each digit's mean, and the digits whose components were capped.
    """
    checks.check_int_list("candidates", list(candidates), low=1)
    val_latents, val_labels = _check_codes(val_latents, val_labels)
    if not len(val_labels):
        raise ValueError("val_latents is empty; pass the codes of the held-out validation images")
    rows = []
    for k in sorted(set(int(c) for c in candidates)):
        sampler = per_digit_mixture_sampler(train_latents, train_labels, k, seed)
        scores = digit_log_likelihood(sampler, val_latents, val_labels)
        z_dim = np.asarray(train_latents).shape[1]
        capped = [d for d, n in mixture_components_per_digit(train_labels, k, z_dim).items() if n < k]
        rows.append({"components": k, "log-likelihood": scores.mean(),
                     "standard error": scores.std(ddof=1) / math.sqrt(len(scores)) if len(scores) > 1 else np.nan,
                     **{f"digit {d}": scores[val_labels == d].mean() for d in np.unique(val_labels)},
                     "capped digits": ", ".join(map(str, capped)), "reference set": "validation"})
    table = pd.DataFrame(rows)
    return int(table.loc[table["log-likelihood"].idxmax(), "components"]), table


def labelled_subset(labels: np.ndarray, per_digit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``per_digit`` random images of each digit (all indices for None), fixed by ``seed``.

    Each digit's images are put in one random order and the first ``per_digit`` taken, so with one seed a smaller
    budget's subset lies inside a larger one's: the budget curve changes the number of labels, not the draw.
    """
    labels = np.asarray(labels)
    checks.check_int("per_digit", per_digit, low=1, optional=True)
    checks.check_int("seed", seed, low=0)
    if per_digit is None:
        return np.arange(len(labels))
    counts = np.bincount(labels.astype(np.int64), minlength=N_DIGITS)[:N_DIGITS]
    rarest = int(counts.argmin())
    if per_digit > counts[rarest]:
        raise ValueError(f"per_digit={per_digit} exceeds the {counts[rarest]:,} images of digit {rarest} in the "
                         f"{len(labels):,} labels given; use at most {counts[rarest]} or None for all labels")
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == d))[:per_digit] for d in range(N_DIGITS)]
    return np.sort(np.concatenate(chosen))


def _vote(digits: np.ndarray, distances: np.ndarray) -> int:
    """The commonest digit; a tie goes to the tied digit whose code lies nearest the centre."""
    counts = np.bincount(digits, minlength=N_DIGITS)
    tied = np.isin(digits, np.flatnonzero(counts == counts.max()))
    return int(digits[tied][distances[tied].argmin()])


def name_clusters_from_subset(fit_or_centres: ClusterFit | np.ndarray, labelled_latents: np.ndarray,
                              labelled_labels: np.ndarray, cluster_ids: np.ndarray | None = None,
                              rule: str = "majority_then_nearest", k_nearest: int = 5) -> np.ndarray:
    """Each cluster's digit [K] (-1: unnamed) from a few labelled codes only.

    'majority_only': a cluster holding labelled codes takes their majority (ties to the tied digit with the code
    nearest its centre); a cluster holding none stays unnamed. 'majority_then_nearest': as majority_only, and a
    cluster holding none takes the vote of the min(k_nearest, n) labelled codes nearest its centre (same tie-break).
    'nearest': every cluster takes that vote, its own members or not. ``cluster_ids`` gives each labelled code's
    cluster (a mixture's ``predict``); by default the nearest centre, which is k-means' own assignment.
    """
    checks.check_choice("rule", rule, NAMING_RULES)
    checks.check_int("k_nearest", k_nearest, low=1)
    centres = fit_or_centres.kmeans.cluster_centers_ if isinstance(fit_or_centres, ClusterFit) else fit_or_centres
    centres = np.asarray(centres, dtype=np.float64)
    latents, labels = _check_codes(labelled_latents, labelled_labels)
    if not len(labels):
        raise ValueError("no labelled codes given; pass at least one labelled code (a budget of 1 per digit)")
    ids = (pairwise_distances_argmin(latents, centres) if cluster_ids is None
           else np.asarray(cluster_ids, dtype=np.int64))
    if ids.shape != labels.shape or ids.min() < 0 or ids.max() >= len(centres):
        raise ValueError(f"cluster_ids must hold one cluster in 0-{len(centres) - 1} per labelled code")
    k = min(k_nearest, len(labels))
    to_digit = np.full(len(centres), -1, dtype=np.int64)
    for cluster, centre in enumerate(centres):
        members = np.flatnonzero(ids == cluster)
        if rule != "nearest" and len(members):
            to_digit[cluster] = _vote(labels[members], ((latents[members] - centre) ** 2).sum(axis=1))
        elif rule != "majority_only":
            gaps = ((latents - centre) ** 2).sum(axis=1)
            nearest = np.argpartition(gaps, k - 1)[:k]
            to_digit[cluster] = _vote(labels[nearest], gaps[nearest])
    return to_digit


def _budget_text(counts: np.ndarray, n_labelled: int, n_codes: int) -> str | int:
    """The budget as the report states it: labels per digit, 'all' or 'uneven'."""
    if n_labelled == n_codes:
        return "all"
    return int(counts[0]) if (counts == counts[0]).all() else "uneven"


def budget_cluster_sampler(latents: np.ndarray, cluster_fit: ClusterFit, labelled_idx: np.ndarray,
                           labels: np.ndarray, min_purity: float | None = None, rule: str = "majority_then_nearest",
                           k_nearest: int = 5) -> tuple[DigitSampler, dict[str, Any]]:
    """``fit_cluster_sampler``'s Gaussians (fitted to every training code, labelled or not) named from the labelled
    codes ``labels[labelled_idx]`` alone, and a record of what the budget left out.

    ``min_purity`` filters clusters by the purity of their labelled codes (a cluster holding none has no estimate
    and counts as 0; each digit's purest cluster is kept). A digit no cluster is named after is drawn from the
    cluster whose centre is nearest its labelled codes' mean, duplicated under its name ('fallback_digits'); a digit
    without any labelled code cannot be drawn and is listed in 'undrawable_digits' (and ``missing_digits``).
    With all labels and a majority rule this is ``fit_cluster_sampler`` itself, but for ties (nearest code wins).
    """
    checks.check_number("min_purity", min_purity, low=0, high=1, optional=True)
    latents, labels = _check_codes(latents, labels)
    ids = np.asarray(cluster_fit.kmeans.labels_)
    if len(ids) != len(latents):
        raise ValueError(f"latents has {len(latents):,} codes but the clustering was fitted on {len(ids):,}; pass "
                         "the training codes the ClusterFit was fitted on")
    idx = np.asarray(labelled_idx)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or len(np.unique(idx)) != len(idx) or (
            len(idx) and (idx.min() < 0 or idx.max() >= len(latents))):
        raise ValueError(f"labelled_idx must be distinct integer indices into the {len(latents):,} codes; "
                         "use labelled_subset")
    to_digit = name_clusters_from_subset(cluster_fit, latents[idx], labels[idx], ids[idx], rule, k_nearest)
    # fit_cluster_sampler reads labels only for its own purity filter, off here: it is handed no label at all
    no_labels = np.zeros(len(latents), dtype=np.int64)
    base = fit_cluster_sampler(latents, no_labels, ClusterFit(cluster_fit.kmeans, to_digit))
    sizes = base.weights.double().numpy()
    weights = sizes * (to_digit >= 0)
    if min_purity is not None:
        weights = _drop_impure(weights, cluster_purity(ids[idx], labels[idx], len(to_digit)), to_digit, min_purity)
    means, covariances, names = base.means, base.covariances, to_digit.copy()
    counts = np.bincount(labels[idx], minlength=N_DIGITS)
    named = set(to_digit[weights > 0].tolist())
    fallback, fallback_clusters = [], []
    for digit in (d for d in range(N_DIGITS) if d not in named and counts[d]):
        centre_gaps = ((cluster_fit.kmeans.cluster_centers_ - latents[idx][labels[idx] == digit].mean(axis=0)) ** 2)
        cluster = int(centre_gaps.sum(axis=1).argmin())
        means, covariances = torch.cat([means, means[cluster:cluster + 1]]), torch.cat(
            [covariances, covariances[cluster:cluster + 1]])
        weights, names = np.append(weights, sizes[cluster]), np.append(names, digit)
        fallback.append(digit)
        fallback_clusters.append(cluster)
    budget = _budget_text(counts, len(idx), len(latents))
    purity_text = "pure " if min_purity else ""
    note = f"; digits {', '.join(map(str, fallback))} from the cluster nearest their labels" if fallback else ""
    sampler = DigitSampler(
        name=f"{purity_text}k-means {len(to_digit)} from {budget} label{'' if budget == 1 else 's'}"
             + ("" if budget == "all" else " per digit"),
        description=f"a Gaussian per k-means cluster of the training codes ({len(to_digit)} clusters), named from "
                    f"{len(idx):,} labelled images by the {rule} rule{note}",
        means=means, covariances=covariances, weights=torch.from_numpy(weights / weights.sum()).float(),
        component_to_digit=names)
    members = np.bincount(ids[idx], minlength=len(to_digit))
    record = {"budget": budget, "labelled_images": int(len(idx)), "labels_per_digit": counts.tolist(), "rule": rule,
              "clusters": int(len(to_digit)), "clusters_named": int((to_digit >= 0).sum()),
              "clusters_unnamed": int((to_digit < 0).sum()),
              "clusters_named_without_labels": int(((to_digit >= 0) & (members == 0)).sum()),
              "min_purity": min_purity,
              "clusters_left_out_by_purity": int(((to_digit >= 0) & (weights[:len(to_digit)] == 0)).sum()),
              "fallback_digits": fallback, "fallback_clusters": fallback_clusters,
              "undrawable_digits": [d for d in range(N_DIGITS) if not counts[d]]}
    return sampler, record

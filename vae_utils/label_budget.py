"""The label-budget study of notebook 06: how many labelled training images per digit digits on demand need.

The main run's k-means clusters are named from 1, 3, 10, ... labelled images per digit (``label_samplers``), the
per-digit Gaussian is fitted to the same labelled codes, and both are scored like notebook 04's samplers.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from .data import N_DIGITS, MNISTTensors, train_val_split
from .judge import DigitClassifier, RealFeatures, generation_quality
from .label_samplers import NAMING_RULES, budget_cluster_sampler, labelled_subset, per_digit_gaussian_sampler
from .latent import ClusterFit
from .model import VAE
from .run import RunFolder
from .sampling import Sampler, generate_digits
from .selection import summarise_quality
from .uncertainty import rule_stability

__all__ = [
    "ALL", "BUDGET_METRICS", "DEFAULT_CLUSTERS", "FAMILIES", "GAUSSIAN", "KMEANS", "SUFFICIENT_WITHIN",
    "BudgetSetup", "BudgetStudy", "RuleChoice", "budget_samplers", "budget_study", "budget_summary",
    "check_budgets", "choose_naming_rule", "conditional_reference", "label_budget_results",
    "prepare_study", "rule_budgets", "smallest_sufficient_budget", "study_clusters",
    "sufficiency_text",
]

ALL = "all"  # the budget of every training label, as tables and the JSON write it
KMEANS, GAUSSIAN = "k-means", "per-digit Gaussian"  # the two families of samplers the study compares
FAMILIES = (KMEANS, GAUSSIAN)
BUDGET_METRICS = ("accuracy", "min_accuracy", "recall", "coverage", "frechet")  # what each scoring records
SUFFICIENT_WITHIN = 0.01  # a budget suffices when its mean judged accuracy is within 1 point of all labels'
DEFAULT_CLUSTERS = 100  # k when the main run's chosen sampler is not a k-means sampler
_KMEANS_NAME = re.compile(r"^(pure )?k-means (\d+)$")  # ``fit_cluster_sampler``'s names


def _budget_key(budget: int | str | None) -> float:
    """Sort key of a budget: labels per digit, all labels last."""
    return math.inf if budget in (None, ALL) else float(budget)


def _shown(budget: int | None) -> int | str:
    """A budget as tables and the JSON write it: labels per digit, or 'all'."""
    return ALL if budget is None else int(budget)


def check_budgets(budgets: Sequence[int | None], labels: np.ndarray) -> None:
    """Refuse, before any heavy work, a budget above the labelled images of the rarest digit of ``labels``.

    ``labelled_subset`` refuses it too, but only when the study reaches that budget, minutes later."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=N_DIGITS)[:N_DIGITS]
    rarest = int(counts.argmin())
    too_large = [b for b in budgets if b is not None and b > counts[rarest]]
    if too_large:
        raise ValueError(
            f"budgets holds {too_large[0]:,} labels per digit, but the labelled training split has only "
            f"{counts[rarest]:,} images of digit {rarest} ({len(labels):,} in all); use budgets of at most "
            f"{counts[rarest]:,}, or None for all labels")


def study_clusters(sampler_name: str, n_codes: int, min_purity: float) -> tuple[int, float | None, str]:
    """k and the purity filter of the study's k-means sampler, and why, from the name of the sampler notebook 04
    chose and its purity threshold: its own k (and ``min_purity`` when it is a pure one) when it is a k-means
    sampler, else ``DEFAULT_CLUSTERS`` without a filter."""
    match = _KMEANS_NAME.match(sampler_name)
    if match:
        k, purity = int(match.group(2)), (float(min_purity) if match.group(1) else None)
        why = f"the chosen sampler, {sampler_name}, is a k-means sampler: its k"
    else:
        k, purity = DEFAULT_CLUSTERS, None
        why = f"the chosen sampler, {sampler_name}, is not a k-means sampler: k = {DEFAULT_CLUSTERS}, no purity filter"
    if k > n_codes:
        raise ValueError(f"k = {k} clusters exceed the {n_codes:,} training codes; use a run with more images")
    return k, purity, why


def conditional_reference(cvae_run_dir: str | None) -> dict[str, Any] | None:
    """The conditional VAE's chosen point (all labels) from its ``latent_metrics.json``, refusing a folder that is
    missing, still training, not a conditional VAE or not scored yet (notebook 05 scores it). None: no line."""
    if cvae_run_dir is None:
        return None
    run = RunFolder(cvae_run_dir)
    if not run.path.is_dir():
        raise FileNotFoundError(f"cvae_run_dir '{run.shown}' does not exist; name a finished conditional-VAE run "
                                "folder (runs/cvae), or None to leave the reference line out")
    if not run.finished:
        raise ValueError(f"cvae_run_dir '{run.shown}' has not finished training; wait for it, or pass None")
    model_name = run.read_metrics().get("config", {}).get("model_name")
    if model_name != "cvae":
        raise ValueError(f"cvae_run_dir '{run.shown}' holds a run of model_name {model_name!r}, not 'cvae'; name a "
                         "conditional-VAE run, or None")
    if not run.has(RunFolder.LATENT_METRICS):
        raise FileNotFoundError(f"cvae_run_dir '{run.shown}' has not been scored yet: run "
                                "notebooks/05_comparisons.ipynb (it scores the conditional VAE) first, or pass None")
    results = run.read_latent_metrics()
    chosen = results["chosen"]
    return {"run": run.shown, "temperature": float(chosen["temperature"]), "n_judged": int(results["n_judged"]),
            **{name: float(chosen[name]) for name in ("accuracy", "min_accuracy", "recall", "coverage", "frechet")}}


class BudgetSetup(NamedTuple):
    """What the study takes from the main run and its analysis, checked before any heavy work."""

    train: MNISTTensors  # the run's own training split: its codes are clustered, its labels budgeted
    val: MNISTTensors  # the run's validation split: the real reference of the naming rule's choice
    sampler: str  # what notebook 04's rule chose
    temperature: float  # ... at this temperature, at which both families are scored
    tuning_seed: int  # the sampling seed of notebook 04's choices: the naming rule is chosen on it too
    n_judged: int  # notebook 04's images per digit
    k: int
    min_purity: float | None
    clusters_reason: str
    conditional: dict[str, Any] | None


def prepare_study(run: RunFolder, train_set: MNISTTensors, *, budgets: Sequence[int | None], sampling_seed: int,
                  train_limit: int | None, cvae_run_dir: str | None) -> BudgetSetup:
    """Read what notebooks 03 and 04 left in ``run`` and check every parameter against it, in seconds: the run is a
    finished unconditional VAE with validation images, the training images are the run's, every budget fits the
    rarest digit, the reporting seed is not the tuning seed, and the conditional run (if any) is finished,
    conditional and scored."""
    if not run.finished:
        raise ValueError(f"run_dir '{run.shown}' holds no finished training run: run notebooks/03_train.ipynb (and "
                         "04_latent_space) on it to the end first")
    config = run.read_metrics()["config"]
    if config.get("model_name", "vae") != "vae":
        raise ValueError(f"run_dir '{run.shown}' holds a {config.get('model_name')!r} run; the study names the "
                         "clusters of the unconditional VAE's codes: name a run of model_name 'vae'")
    if train_limit != config.get("train_limit"):
        raise ValueError(f"train_limit must be the run's own ({config.get('train_limit')}), got {train_limit}: the "
                         "study needs the run's training and validation split")
    if not config.get("val_size"):
        raise ValueError(f"'{run.shown}' holds no validation images (val_size 0), on which the naming rule is "
                         "chosen; run the study on a run of the main protocol")
    if not run.has(RunFolder.JUDGE):
        raise FileNotFoundError(f"'{run.shown}' has no judge: run notebooks/04_latent_space.ipynb on it first")
    results = run.read_latent_metrics()
    tuning_seed = int(results["rule"]["tuning_seed"])
    if sampling_seed == tuning_seed:
        raise ValueError(f"sampling_seed must differ from notebook 04's tuning seed ({tuning_seed}), on which the "
                         "naming rule is chosen; the reported samples must come from a seed no choice saw")
    train, val = train_val_split(train_set, int(config["val_size"]), int(config.get("split_seed", 0)))
    check_budgets(budgets, train.labels.numpy())
    k, purity, why = study_clusters(results["chosen"]["sampler"], len(train.labels),
                                    results["rule"].get("min_purity", 0.9))
    return BudgetSetup(train, val, results["chosen"]["sampler"], float(results["chosen"]["temperature"]),
                       tuning_seed, int(results["n_judged"]), k, purity, why, conditional_reference(cvae_run_dir))


class BudgetStudy(NamedTuple):
    """What every scoring of the study shares: the decoder, the judge, the labelled codes and their clusters."""

    model: VAE
    judge: DigitClassifier
    latents: np.ndarray  # posterior means of the training split [N, z]
    labels: np.ndarray  # their digits [N]; a budget reveals only some of them
    clusters: ClusterFit  # k-means on ``latents``; only its partition is used, never its names
    min_purity: float | None
    temperature: float
    n_judged: int  # images per digit of each scoring


def budget_samplers(study: BudgetStudy, budget: int | None, subset: int, rule: str
                    ) -> tuple[Sampler, dict[str, Any], Sampler]:
    """The k-means sampler named from labelled subset ``subset`` of ``budget`` labels per digit (with its naming
    record) and the per-digit Gaussian fitted to the same labelled codes."""
    idx = labelled_subset(study.labels, budget, subset)
    kmeans, record = budget_cluster_sampler(study.latents, study.clusters, idx, study.labels,
                                            min_purity=study.min_purity, rule=rule)
    return kmeans, record, per_digit_gaussian_sampler(study.latents[idx], study.labels[idx])


def _score(study: BudgetStudy, sampler: Sampler, seed: int, reference: RealFeatures) -> dict[str, Any]:
    """``summarise_quality`` of the sampler's digits on one sampling seed, at the study's temperature."""
    generated = generate_digits(study.model, sampler, study.n_judged, seed, study.temperature)
    return summarise_quality(generation_quality(study.judge, generated, reference))


def _naming(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a budget left out when naming the clusters (``budget_cluster_sampler``'s record), for one row."""
    return {"clusters_named_with_labels": record["clusters_named"] - record["clusters_named_without_labels"],
            "clusters_named_without_labels": record["clusters_named_without_labels"],
            "clusters_unnamed": record["clusters_unnamed"],
            "clusters_left_out_by_purity": record["clusters_left_out_by_purity"],
            "fallback_digits": list(record["fallback_digits"]), "undrawable_digits": list(record["undrawable_digits"])}


def rule_budgets(budgets: Sequence[int | None], k: int) -> list[int]:
    """The small budgets the naming rule is chosen at: those with at most one labelled image per cluster (10 b <= k),
    where at least k - 10 b clusters hold no labelled code and the rules must differ; else the smallest budget."""
    given = sorted({int(b) for b in budgets if b is not None})
    return [b for b in given if N_DIGITS * b <= k] or given[:1]


class RuleChoice(NamedTuple):
    """The naming rule chosen on validation digits, with the scores every rule got."""

    rule: str
    budgets: list[int]
    seed: int  # the sampling seed it was chosen on
    settings: pd.DataFrame  # one row per rule, budget and subset
    scores: pd.DataFrame  # one row per rule: the means over its settings, in the order of the choice


def choose_naming_rule(study: BudgetStudy, budgets: Sequence[int | None], subsets: int, seed: int,
                       reference: RealFeatures) -> RuleChoice:
    """Each of ``NAMING_RULES`` names the clusters at the small budgets (``rule_budgets``) from every labelled subset;
    the rule with the highest mean judged accuracy wins (ties: the higher worst digit, then ``NAMING_RULES``' order).

    ``seed`` should be the tuning seed and ``reference`` the validation digits, so the test digits see no choice.
    """
    small = rule_budgets(budgets, study.clusters.k)
    settings = [(rule, budget, subset) for rule in NAMING_RULES for budget in small for subset in range(subsets)]
    rows = []
    for rule, budget, subset in tqdm(settings, desc="naming rules", leave=False):
        sampler = budget_samplers(study, budget, subset, rule)[0]
        rows.append({"rule": rule, "budget": budget, "subset": subset, **_score(study, sampler, seed, reference)})
    table = pd.DataFrame(rows)
    scores = (table.groupby("rule", sort=False)[["accuracy", "min_accuracy", "recall", "coverage"]].mean()
              .assign(settings=table.groupby("rule", sort=False).size(),
                      order=[NAMING_RULES.index(rule) for rule in table["rule"].unique()])
              .reset_index())
    scores = scores.sort_values(["accuracy", "min_accuracy", "order"], ascending=[False, False, True],
                                kind="stable").drop(columns="order").reset_index(drop=True)
    return RuleChoice(str(scores.loc[0, "rule"]), small, int(seed), table, scores)


def budget_study(study: BudgetStudy, budgets: Sequence[int | None], subsets: int, rule: str, seed: int,
                 reference: RealFeatures) -> list[dict[str, Any]]:
    """Both families at every budget and labelled subset (one subset with all labels: every seed gives all of them),
    scored on sampling seed ``seed`` against ``reference``: one row per budget, subset and family."""
    settings = [(budget, subset) for budget in sorted(set(budgets), key=_budget_key)
                for subset in range(1 if budget is None else subsets)]
    rows = []
    for budget, subset in tqdm(settings, desc="budgets x subsets", leave=False):
        kmeans, record, gaussian = budget_samplers(study, budget, subset, rule)
        common = {"budget": _shown(budget), "subset": subset, "labelled_images": record["labelled_images"]}
        rows.append({"family": KMEANS, **common, "sampler": kmeans.name, **_score(study, kmeans, seed, reference),
                     **_naming(record)})
        rows.append({"family": GAUSSIAN, **common, "sampler": gaussian.name,
                     **_score(study, gaussian, seed, reference)})
    return rows


def budget_summary(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Per family and budget: the number of subsets and each metric's mean, sd (ddof 1; NaN for one subset), lowest
    and highest over the subsets. Families in ``FAMILIES``' order, budgets ascending with all labels last."""
    frame = pd.DataFrame(rows)
    metrics = [m for m in BUDGET_METRICS if m in frame]
    grouped = frame.groupby(["family", "budget"], sort=False)
    parts = [grouped.size().rename("subsets"), grouped["labelled_images"].mean().rename("labelled_images")]
    for metric in metrics:
        stats = grouped[metric].agg(["mean", "std", "min", "max"])
        parts.append(stats.rename(columns={"mean": f"{metric}_mean", "std": f"{metric}_sd", "min": f"{metric}_min",
                                           "max": f"{metric}_max"}))
    summary = pd.concat(parts, axis=1).reset_index()
    order = summary["family"].map(lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES))
    summary = summary.assign(_family=order, _budget=summary["budget"].map(_budget_key))
    return summary.sort_values(["_family", "_budget"]).drop(columns=["_family", "_budget"]).reset_index(drop=True)


def smallest_sufficient_budget(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, family: str = KMEANS,
                               within: float = SUFFICIENT_WITHIN) -> int | None:
    """The smallest budget from which on the family's mean judged accuracy (over subsets) stays within ``within``
    of its all-labels value: that budget and every larger one reach at least all-labels' minus ``within`` (a higher
    one counts). None when only all labels do, and ValueError without an all-labels row of that family.

    Takes the per-subset rows of ``budget_study`` or any table with ``family``, ``budget`` and ``accuracy``."""
    frame = pd.DataFrame(rows)
    frame = frame[frame["family"] == family]
    means = frame.groupby("budget", sort=False)["accuracy"].mean()
    if ALL not in means.index:
        raise ValueError(f"no all-labels row of {family!r}: add None to budgets to measure what a budget must reach")
    floor = means[ALL] - within
    sufficient = None
    for budget in sorted((b for b in means.index if b != ALL), key=_budget_key, reverse=True):
        if means[budget] < floor:
            break
        sufficient = int(budget)
    return sufficient


def sufficiency_text(results: Mapping[str, Any]) -> str:
    """One line per family of ``label_budget_results``: the smallest budget that suffices, in words."""
    lines = []
    for family, found in results["smallest_sufficient_budget"].items():
        if found["all_labels_accuracy"] is None:
            lines.append(f"{family}: no all-labels budget to compare with (add None to budgets)")
            continue
        within = f"within {100 * results['sufficient_within']:g} percentage point of its all-labels judged accuracy"
        accuracy = f"({found['all_labels_accuracy']:.1%})"
        if found["budget"] is None:
            lines.append(f"{family}: no budget short of all labels stays {within} {accuracy}")
        else:
            images = f"{found['budget']} labelled image{'' if found['budget'] == 1 else 's'} per digit"
            lines.append(f"{family}: from {images} on, the mean stays {within} {accuracy}")
    return "\n".join(lines)


def label_budget_results(*, setup: BudgetSetup, study: BudgetStudy, rows: Sequence[Mapping[str, Any]],
                         choice: RuleChoice, budgets: Sequence[int | None], subsets: int, seed: int,
                         sampling_seed: int, rule_seeds: pd.DataFrame | None = None) -> dict[str, Any]:
    """The study's results as ``label_budget.json`` holds them; the report reads this schema back.

    ``rule_seeds`` (``generation.rule_over_clustering_seeds``' rows) adds the rule's choice under each clustering
    seed and its summary (``uncertainty.rule_stability``) under ``rule_over_clustering_seeds``."""
    extra = {} if rule_seeds is None else {"rule_over_clustering_seeds": {
        "per_seed": rule_seeds.to_dict(orient="records"),
        "summary": rule_stability(rule_seeds.to_dict(orient="records"),
                                  metrics=["accuracy", "min_accuracy", "recall", "coverage", "frechet"])}}
    summary = budget_summary(rows).set_index(["family", "budget"])
    has_all = None in budgets
    sufficient = {family: {"budget": smallest_sufficient_budget(rows, family) if has_all else None,
                           "all_labels_accuracy": float(summary.loc[(family, ALL), "accuracy_mean"]) if has_all
                           else None}
                  for family in FAMILIES}
    return {
        "main_run": {"sampler": setup.sampler, "temperature": setup.temperature, "tuning_seed": setup.tuning_seed,
                     "n_judged": setup.n_judged},
        "clusters": {"k": study.clusters.k, "min_purity": study.min_purity, "why": setup.clusters_reason,
                     "seed": seed, "training_codes": int(len(study.labels))},
        "budgets": [_shown(b) for b in sorted(set(budgets), key=_budget_key)],
        "subsets": subsets, "subset_seeds": list(range(subsets)), "n_judged": study.n_judged,
        "temperature": study.temperature, "sampling_seed": sampling_seed,
        "reference_sets": {"naming_rule": "validation", "reported": "test"},
        "naming_rule": {"chosen": choice.rule, "budgets": choice.budgets, "sampling_seed": choice.seed,
                        "reference": "validation", "criterion": "mean judged accuracy, then worst digit",
                        "scores": choice.scores.to_dict(orient="records"),
                        "per_setting": choice.settings.to_dict(orient="records")},
        "per_subset": [dict(row) for row in rows],
        "summary": summary.reset_index().to_dict(orient="records"),
        "sufficient_within": SUFFICIENT_WITHIN,
        "smallest_sufficient_budget": sufficient,
        "conditional_vae": setup.conditional,
        **extra,
    }

"""The comparisons of notebook 05: the main run's analysis read back, the conditional VAE runs scored under the same
rule, and the comparisons' results gathered as ``comparisons.json`` holds them.

Notebook 04 chooses; nothing here chooses again. The main run's judges, chosen sampler, rule and generated digits
are read from its run folder, and every reference set is drawn again with the same seeds, so the numbers equal
those notebook 04 computed.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .baselines import ConditionalResult, analyse_conditional, reconstructions_by_digit
from .data import MNISTTensors, images_per_digit
from .judge import (
    DigitClassifier,
    RealFeatures,
    class_agnostic_frechet,
    generation_quality,
    load_or_train_judge,
    real_features,
)
from .model import VAE
from .run import RunFolder
from .sampling import ConditionalPriorSampler, CoursePriorSampler, generate_digits, load_saved_samplers
from .second_judge import load_or_train_second_judge
from .selection import ChoiceSets, choice_and_report_sets, compare_samplers

__all__ = ["MainAnalysis", "accuracy_at_recall", "analyse_conditional_runs", "comparison_results", "family_curves",
           "family_runs", "matched_recall", "read_main_analysis"]


class MainAnalysis(NamedTuple):
    """What notebook 04 decided and drew on the main run, read back: the judges, the rule and its choice, the chosen
    sampler's digits on the reporting seed, and the reference sets scored the same way."""

    run: RunFolder
    model: VAE
    judge: DigitClassifier
    reference: RealFeatures  # what reported numbers are measured against (the test digits)
    choice_reference: RealFeatures  # what choices are made against (the validation digits)
    sets: ChoiceSets
    second_judge: nn.Module
    rule: dict[str, Any]
    chosen: dict[str, Any]
    temperatures: list[float]
    spread_seeds: list[int]
    n_judged: int
    seed: int
    spread: pd.DataFrame  # the chosen setting over fresh sampling seeds (notebook 04's spread)
    generated: torch.Tensor
    quality: pd.DataFrame
    prior_generated: torch.Tensor
    prior_quality: pd.DataFrame
    reconstructions: torch.Tensor
    recon_quality: pd.DataFrame
    real_quality: pd.DataFrame
    test_digits: torch.Tensor


def read_main_analysis(run: RunFolder, model: VAE, train_set: MNISTTensors, test_set: MNISTTensors,
                       seed: int = 0) -> MainAnalysis:
    """The main run's analysis (notebook 04) read back, refusing a run folder it has not analysed yet.

    ``train_set`` must be the images notebook 04 used (the same ``train_limit``): the real reference digits are drawn
    from it again with the reporting seed. ``seed`` only seeds a judge that would have to be trained (never, after
    notebook 04).
    """
    missing = [name for name in (RunFolder.JUDGE, RunFolder.SECOND_JUDGE, RunFolder.LATENT_METRICS,
                                 RunFolder.GENERATED) if not run.has(name)]
    if missing:
        raise FileNotFoundError(f"'{run.shown}' has no {', '.join(missing)}: run notebooks/04_latent_space.ipynb on "
                                "it first (make report does)")
    results, config = run.read_latent_metrics(), run.read_metrics()["config"]
    sets = choice_and_report_sets(train_set, test_set, config["val_size"], config.get("split_seed", 0))
    judge, test_reference = load_or_train_judge(run, train_set, test_set, seed=seed, min_accuracy=None,
                                                progress=False)
    reference = test_reference if sets.report is test_set else real_features(judge, sets.report)
    second = load_or_train_second_judge(run, train_set, test_set, seed=seed, progress=False).model
    n_judged, reported = int(results["n_judged"]), int(results["rule"]["reported_seed"])
    generated = run.load_generated()
    prior_generated = generate_digits(model, CoursePriorSampler(model.z_dim), n_judged, reported, 1.0)
    reconstructions = reconstructions_by_digit(model, sets.report, n_judged, reported)
    return MainAnalysis(
        run=run, model=model, judge=judge, reference=reference, choice_reference=real_features(judge, sets.choice),
        sets=sets, second_judge=second, rule=dict(results["rule"]),
        chosen=dict(results["chosen"]),
        temperatures=sorted({float(row["temperature"]) for row in results["sampler_comparison"]}),
        spread_seeds=[int(row["seed"]) for row in results.get("seed_spread", {}).get("per_seed", [])],
        n_judged=n_judged, seed=reported, spread=pd.DataFrame(results.get("seed_spread", {}).get("per_seed", [])),
        generated=generated,
        quality=generation_quality(judge, generated, reference), prior_generated=prior_generated,
        prior_quality=generation_quality(judge, prior_generated, reference),
        reconstructions=reconstructions, recon_quality=generation_quality(judge, reconstructions, reference),
        real_quality=generation_quality(judge, images_per_digit(sets.fit, n_judged, reported), reference),
        test_digits=images_per_digit(sets.report, n_judged, reported),
    )


def analyse_conditional_runs(run_dirs: Sequence[str | os.PathLike], main: MainAnalysis, test_set: MNISTTensors, *,
                             likelihood_images: int | None, eval_seed: int) -> list[ConditionalResult]:
    """Every finished conditional-VAE run in ``run_dirs`` scored under the main run's judge, rule, temperatures and
    seeds (``baselines.analyse_conditional``); a run still training is named and left out."""
    scored = []
    for run_dir in run_dirs:
        run = RunFolder(run_dir)
        if not run.finished:
            print(f"{run.shown}: training not finished; left out")
            continue
        scored.append(analyse_conditional(
            run, main.judge, main.reference, test_set, temperatures=main.temperatures, n_judged=main.n_judged,
            tuning_seed=int(main.rule["tuning_seed"]), seed=main.seed, spread_seeds=main.spread_seeds,
            rule=main.rule, likelihood_images=likelihood_images, eval_seed=eval_seed,
            second_judge=main.second_judge, choice_reference=main.choice_reference))
    return scored


def comparison_results(main: MainAnalysis, *, agreements: Mapping[str, pd.DataFrame], copying: pd.DataFrame,
                       seeds: Mapping[str, Any], conditionals: Sequence[ConditionalResult], curves: pd.DataFrame,
                       matched: pd.DataFrame, bootstrap: Mapping[str, Any], fixed_epochs: pd.DataFrame
                       ) -> dict[str, Any]:
    """The comparisons' results as ``comparisons.json`` holds them; the report reads this schema back.

    The class-agnostic Fréchet distance of every source (all ten digits pooled) is computed here, so that each
    source is measured once, the same way."""
    sources = [("clamped prior", main.prior_generated), ("ex-post sampler", main.generated),
               ("reconstructions", main.reconstructions)]
    if conditionals:
        sources.append(("conditional VAE", conditionals[0].generated))
    return {
        "judge_agreement": {name: table.to_dict(orient="records") for name, table in agreements.items()},
        "data_copying": copying.to_dict(orient="records"),
        "class_agnostic_frechet": {name: class_agnostic_frechet(main.judge, images, main.reference)
                                   for name, images in sources},
        "seeds": dict(seeds),
        "conditional_runs": [result.run for result in conditionals],
        "conditional_by_run": [{"run": result.run, **result.results["chosen"],
                                "spread": result.results["seed_spread"]} for result in conditionals],
        "family_curves": curves.to_dict(orient="records"),
        "matched_recall": matched.to_dict(orient="records"),
        "bootstrap": dict(bootstrap),
        "fixed_epochs": fixed_epochs.to_dict(orient="records"),
        "sets": {"choice": main.sets.choice_name, "report": main.sets.report_name},
    }


def family_runs(main: MainAnalysis, seed_run_dirs: Sequence[str | os.PathLike],
                conditionals: Sequence[ConditionalResult]) -> list[tuple[str, int, VAE, Any]]:
    """Every finished run of both families as (family, training seed, model, sampler): the main run and each
    analysed run of the main protocol with the sampler the rule chose on it, and each conditional VAE with its
    prior."""
    runs: list[tuple[str, int, VAE, Any]] = [
        ("unconditional VAE", int(main.run.read_metrics()["config"]["seed"]), main.model,
         load_saved_samplers(main.run).chosen)]
    for run_dir in seed_run_dirs:
        run = RunFolder(run_dir)
        if run.finished and run.has(RunFolder.SAMPLERS):
            runs.append(("unconditional VAE", int(run.read_metrics()["config"]["seed"]), run.load_model(),
                         load_saved_samplers(run).chosen))
    for result in conditionals:
        seed = int(RunFolder(result.run).read_metrics()["config"]["seed"])
        runs.append(("conditional VAE", seed, result.model, ConditionalPriorSampler(result.model.z_dim)))
    return runs


def family_curves(runs: Sequence[tuple[str, int, VAE, Any]], main: MainAnalysis) -> pd.DataFrame:
    """Accuracy and recall over the rule's temperatures, for each (family, training seed, model, sampler) in
    ``runs``, on the tuning seed and measured against the reported set (the test digits): the curves that compare
    the two families after each was chosen, one row per run and temperature."""
    rows = []
    for family, seed, model, sampler in runs:
        curve = compare_samplers(model, main.judge, [sampler], main.temperatures, main.n_judged,
                                 int(main.rule["tuning_seed"]), main.reference)
        rows.append(curve.assign(family=family, **{"training seed": seed}))
    return pd.concat(rows, ignore_index=True)


def accuracy_at_recall(curve: pd.DataFrame, recall: float) -> float:
    """The judged accuracy of one run's temperature curve at ``recall``, read off the straight line between its two
    neighbouring temperatures (NaN outside the recalls the curve reaches)."""
    ordered = curve.sort_values("recall")
    if not ordered["recall"].min() <= recall <= ordered["recall"].max():
        return float("nan")
    return float(np.interp(recall, ordered["recall"], ordered["accuracy"]))


def matched_recall(curves: pd.DataFrame, first: str, second: str, n_points: int = 3) -> pd.DataFrame:
    """The two families' accuracy at the same recall, paired by training seed: at ``n_points`` recalls spread over
    the range every paired curve reaches, one row per seed and recall with the difference ``first`` - ``second``."""
    seeds = sorted(set(curves.loc[curves["family"] == first, "training seed"])
                   & set(curves.loc[curves["family"] == second, "training seed"]))
    columns = ["training seed", "recall", first, second, "difference"]
    paired = curves[curves["training seed"].isin(seeds) & curves["family"].isin([first, second])]
    if paired.empty:
        return pd.DataFrame(columns=columns)
    spans = paired.groupby(["family", "training seed"])["recall"].agg(["min", "max"])
    low, high = spans["min"].max(), spans["max"].min()
    targets = np.linspace(low, high, n_points + 2)[1:-1] if high > low else np.array([])
    rows = []
    for seed in seeds:
        own = paired[paired["training seed"] == seed]
        for recall in targets:
            a = accuracy_at_recall(own[own["family"] == first], recall)
            b = accuracy_at_recall(own[own["family"] == second], recall)
            rows.append({"training seed": seed, "recall": float(recall), first: a, second: b, "difference": a - b})
    return pd.DataFrame(rows, columns=columns)  # no rows, same columns, where the curves share no recall

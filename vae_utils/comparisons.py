"""The comparisons of notebook 05: the main run's analysis read back, the conditional VAE runs scored under the same
rule, and the comparisons' results gathered as ``comparisons.json`` holds them.

Notebook 04 chooses; nothing here chooses again. The main run's judges, chosen sampler, rule and generated digits
are read from its run folder, and every reference set is drawn again with the same seeds, so the numbers equal
those notebook 04 computed.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple, Sequence

import pandas as pd
import torch
from torch import nn

from .baselines import ConditionalResult, analyse_conditional, reconstructions_by_digit
from .data import MNISTTensors, images_per_digit
from .judge import DigitClassifier, RealFeatures, class_agnostic_frechet, generation_quality, load_or_train_judge
from .model import VAE
from .run import RunFolder
from .sampling import CoursePriorSampler, generate_digits
from .second_judge import load_or_train_second_judge

__all__ = ["MainAnalysis", "analyse_conditional_runs", "comparison_results", "read_main_analysis"]


class MainAnalysis(NamedTuple):
    """What notebook 04 decided and drew on the main run, read back: the judges, the rule and its choice, the chosen
    sampler's digits on the reporting seed, and the reference sets scored the same way."""

    run: RunFolder
    model: VAE
    judge: DigitClassifier
    reference: RealFeatures
    second_judge: nn.Module
    rule: dict[str, Any]
    chosen: dict[str, Any]
    temperatures: list[float]
    spread_seeds: list[int]
    n_judged: int
    seed: int
    generated: torch.Tensor
    quality: pd.DataFrame
    prior_generated: torch.Tensor
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
    results = run.read_latent_metrics()
    judge, reference = load_or_train_judge(run, train_set, test_set, seed=seed, min_accuracy=None, progress=False)
    second = load_or_train_second_judge(run, train_set, test_set, seed=seed, progress=False).model
    n_judged, reported = int(results["n_judged"]), int(results["rule"]["reported_seed"])
    generated = run.load_generated()
    prior_generated = generate_digits(model, CoursePriorSampler(model.z_dim), n_judged, reported, 1.0)
    reconstructions = reconstructions_by_digit(model, test_set, n_judged, reported)
    return MainAnalysis(
        run=run, model=model, judge=judge, reference=reference, second_judge=second, rule=dict(results["rule"]),
        chosen=dict(results["chosen"]),
        temperatures=sorted({float(row["temperature"]) for row in results["sampler_comparison"]}),
        spread_seeds=[int(row["seed"]) for row in results.get("seed_spread", {}).get("per_seed", [])],
        n_judged=n_judged, seed=reported, generated=generated,
        quality=generation_quality(judge, generated, reference), prior_generated=prior_generated,
        reconstructions=reconstructions, recon_quality=generation_quality(judge, reconstructions, reference),
        real_quality=generation_quality(judge, images_per_digit(train_set, n_judged, reported), reference),
        test_digits=images_per_digit(test_set, n_judged, reported),
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
            second_judge=main.second_judge))
    return scored


def comparison_results(main: MainAnalysis, *, agreements: Mapping[str, pd.DataFrame], copying: pd.DataFrame,
                       seeds: Mapping[str, Any], conditionals: Sequence[ConditionalResult]) -> dict[str, Any]:
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
    }

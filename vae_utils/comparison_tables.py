"""Tables of notebooks 05 and 06: what the ex-post samplers are set against (the conditional VAE and the references
per digit, the two judges' agreement, the data-copying test, the runs), the label budget and the rule under other
clustering seeds. Nothing here computes a result of its own.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .formatting import judged_accuracy, mean_sd, percent, signed
from .label_budget import FAMILIES, KMEANS, RuleChoice, _budget_key

__all__ = ["agreement_table", "bootstrap_table", "budget_table", "conditional_runs_table", "copying_table",
           "digit_comparison_table", "fixed_epoch_table", "matched_recall_table", "naming_table", "patience_table",
           "rule_seeds_table", "rule_table",
           "sampling_spread_table", "seed_generation_table", "seed_report_table", "source_summary_table"]


def _per_digit(quality: pd.DataFrame) -> pd.DataFrame:
    """A ``generation_quality`` table indexed by its digit ('0'-'9', 'mean')."""
    return quality.set_index("digit")


def source_summary_table(qualities: Mapping[str, pd.DataFrame], second: Mapping[str, float] | None = None
                         ) -> pd.DataFrame:
    """One row per source of digits (ex-post sampler, conditional VAE, reconstructions, real digits): judged
    accuracy with its interval, worst digit, recall, coverage and Fréchet distance, and the second judge's accuracy
    where ``second`` has it (by source name)."""
    rows = []
    for name, quality in qualities.items():
        table = _per_digit(quality)
        digits = table.drop(index="mean")
        worst = digits["accuracy"].idxmin()
        mean = table.loc["mean"]
        row = {"digits from": name, "judged accuracy": judged_accuracy(mean),
               "worst digit": f"{worst}: {percent(digits.loc[worst, 'accuracy'])}",
               "recall": f"{mean['recall']:.2f}", "coverage": f"{mean['coverage']:.2f}",
               "Fréchet distance": f"{mean['frechet']:.1f}"}
        if second is not None:
            row["second judge"] = percent(second[name]) if name in second else ""
        rows.append(row)
    return pd.DataFrame(rows)


_DIGIT_MEASURES = {"accuracy": percent, "recall": "{:.2f}".format, "frechet": "{:.1f}".format}


def digit_comparison_table(qualities: Mapping[str, pd.DataFrame], measure: str = "accuracy") -> pd.DataFrame:
    """Digit by digit, one measure ('accuracy', 'recall' or 'frechet') of each source side by side."""
    shown = _DIGIT_MEASURES[measure]
    tables = {name: _per_digit(quality) for name, quality in qualities.items()}
    return pd.DataFrame([{"digit": digit, **{name: shown(table.loc[digit, measure]) for name, table in tables.items()}}
                         for digit in next(iter(tables.values())).index])


def agreement_table(agreements: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Digit by digit, each judge's accuracy on each set of generated digits and how often the two judges agree."""
    tables = {name: table.set_index("digit") for name, table in agreements.items()}
    rows = []
    for digit in next(iter(tables.values())).index:
        row = {"digit": digit}
        for name, table in tables.items():
            line = table.loc[digit]
            row[f"{name} CNN"] = percent(line["judge1"])
            row[f"{name} MLP"] = percent(line["judge2"])
            row[f"{name} agree"] = percent(line["same_verdict"])
        rows.append(row)
    return pd.DataFrame(rows)


def copying_table(copying: pd.DataFrame) -> pd.DataFrame:
    """The data-copying test as report text, one row per generated set and reference: the statistic C_T in pixels
    and in the judge's features side by side (typeset minus), the median distances to the nearest training image
    ("generated / reference") in each space, and the cells each test used ("pixels / features")."""
    rows = []
    for (generated, reference), pair in copying.groupby(["generated", "reference"], sort=False):
        by_space = pair.set_index("space")
        present = [(space, shown) for space, shown in (("pixels", "pixels"), ("judge features", "features"))
                   if space in by_space.index]
        row = {"generated": generated, "reference": reference}
        row.update({f"statistic, {shown}": signed(by_space.loc[space, "c_t"], 2, plus=False)
                    for space, shown in present})
        row.update({f"median distance, {shown}": (f"{by_space.loc[space, 'generated_median_distance']:.2f} / "
                                                  f"{by_space.loc[space, 'reference_median_distance']:.2f}")
                    for space, shown in present})
        row["cells used"] = " / ".join(str(by_space.loc[space, "cells_used"]) for space, _ in present)
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_sd_range(summary: Mapping[str, Mapping[str, float]], column: str, shown: Callable[[float], str]
                   ) -> tuple[str, str]:
    """'mean ± sd' and 'min to max' of one column of ``seeds.seed_summary``, each formatted by ``shown``."""
    row = summary.get(column)
    if row is None or row["runs"] < 2:
        return "", ""
    spread = _COUNT_MEAN if shown is _COUNT else shown
    return f"{spread(row['mean'])} ± {spread(row['sd'])}", f"{shown(row['min'])} to {shown(row['max'])}"


_COUNT = "{:.0f}".format
_COUNT_MEAN = "{:.1f}".format  # a mean or sd of whole numbers gets one decimal: 2.75 epochs is not "3"

_SEED_COLUMNS = {  # column of seeds.seed_table -> (table, reader-facing name, format)
    "stop epoch": ("training", "stopping epoch", _COUNT),
    "best epoch": ("training", "best epoch", _COUNT),
    "test -ELBO": ("training", "test −ELBO", "{:.2f}".format),
    "IW-NLL": ("training", "IW −log p(x)", "{:.2f}".format),
    "active units": ("training", "active units", _COUNT),
    "purity k=10": ("training", "purity, k = 10", "{:.3f}".format),
    "T": ("generation", "T", "{:.2f}".format),
    "accuracy": ("generation", "accuracy", percent),
    "worst digit": ("generation", "worst digit", percent),
    "recall": ("generation", "recall", "{:.2f}".format),
    "Fréchet": ("generation", "Fréchet", "{:.1f}".format),
    "main setting: accuracy": ("generation", "accuracy (main)", percent),
    "main setting: worst digit": ("generation", "worst digit (main)", percent),
    "main setting: recall": ("generation", "recall (main)", "{:.2f}".format),
}


def seed_report_table(seeds: Mapping[str, Any], part: str, sampler_names: Mapping[str, str] | None = None
                      ) -> pd.DataFrame:
    """One row per training run, then the mean ± sd and the range over the runs, of the ``part`` ('training' or
    'generation') columns of ``seeds.seed_results``; ``sampler_names`` shortens the samplers' names.

    The generation part has more quantities than runs, so it comes transposed (``seed_generation_table``)."""
    columns = {key: spec for key, spec in _SEED_COLUMNS.items() if spec[0] == part}
    rows = []
    for run in seeds["runs"]:
        row = {"training seed": str(run["seed"])}
        if part == "generation":
            name = run.get("sampler", "")
            row["chosen sampler"] = (sampler_names or {}).get(name, name)
        for key, (_, label, shown) in columns.items():
            value = run.get(key)
            row[label] = "" if value is None or value != value else shown(value)
        rows.append(row)
    spread = {label: _mean_sd_range(seeds["summary"], key, shown) for key, (_, label, shown) in columns.items()}
    blank = {"chosen sampler": ""} if part == "generation" else {}
    rows.append({"training seed": "mean ± sd", **blank, **{label: pair[0] for label, pair in spread.items()}})
    rows.append({"training seed": "range", **blank, **{label: pair[1] for label, pair in spread.items()}})
    return pd.DataFrame(rows)


def seed_generation_table(seeds: Mapping[str, Any], sampler_names: Mapping[str, str] | None = None
                          ) -> pd.DataFrame:
    """The generation part of ``seed_report_table`` with one row per quantity and one column per training run, then
    the mean ± sd and the range: nine quantities over a few runs fit a page's width this way round."""
    table = seed_report_table(seeds, "generation", sampler_names).set_index("training seed")
    table.index = [f"seed {name}" if name.isdigit() else name for name in table.index]
    transposed = table.T.reset_index().rename(columns={"index": "quantity"})
    transposed["quantity"] = transposed["quantity"].replace({"T": "temperature T"})
    return transposed


def patience_table(seeds: Mapping[str, Any]) -> pd.DataFrame:
    """Per run: the validation loss's noise (the standard deviation of its epoch-to-epoch changes), the first epoch
    within that noise of the run's best validation loss, and the longest wait for a new best before it, which is the
    patience that reaching it needed. Not a plateau: every run was still improving when it stopped."""
    return pd.DataFrame([{
        "training seed": str(row["seed"]), "noise sd (nats)": f"{row['noise sd']:.3f}",
        "within noise of best from epoch": str(row["plateau epoch"]),
        "longest wait before it (epochs)": str(row["patience to plateau"]),
    } for row in seeds["patience"]])


def conditional_runs_table(conditionals: Sequence[Any]) -> pd.DataFrame:
    """One row per training run of the conditional VAE (``baselines.ConditionalResult``): its chosen temperature,
    judged accuracy with interval, worst digit and recall on the reporting seed."""
    rows = []
    for result in conditionals:
        chosen = result.results["chosen"]
        rows.append({"training seed": str(result.seed), "T": f"{chosen['temperature']:g}",
                     "judged accuracy": judged_accuracy(chosen),
                     "worst digit": f"{int(chosen['worst_digit'])}: {percent(chosen['min_accuracy'])}",
                     "recall": f"{chosen['recall']:.2f}"})
    return pd.DataFrame(rows, columns=["training seed", "T", "judged accuracy", "worst digit", "recall"])


def sampling_spread_table(spreads: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each model's chosen setting over fresh sampling seeds (``selection.seed_spread``): mean ± sd of its judged
    accuracy, worst digit and recall, and how many seeds."""
    rows = [{"source": name, "seeds": str(len(spread)), "judged accuracy": mean_sd(spread["accuracy"], 2, 100, "%"),
             "worst digit": mean_sd(spread["min_accuracy"], 1, 100, "%"), "recall": mean_sd(spread["recall"], 2)}
            for name, spread in spreads.items() if len(spread)]
    return pd.DataFrame(rows, columns=["source", "seeds", "judged accuracy", "worst digit", "recall"])


_BOOTSTRAP_MEASURES = {"recall": ("recall", 2), "coverage": ("coverage", 2), "frechet": ("Fréchet distance", 1)}


def bootstrap_table(bootstrap: Mapping[str, Mapping[str, Mapping[str, float]]]) -> pd.DataFrame:
    """Each source's recall, coverage and Fréchet distance with the interval of ``uncertainty.bootstrap_quality``."""
    rows = []
    for name, measures in bootstrap.items():
        row = {"source": name}
        for key, (shown, digits) in _BOOTSTRAP_MEASURES.items():
            value = measures[key]
            row[shown] = f"{value['estimate']:.{digits}f} [{value['low']:.{digits}f}, {value['high']:.{digits}f}]"
        rows.append(row)
    return pd.DataFrame(rows)


# --- notebook 06: the label budget and the rule under other clustering seeds ----------------------------------

def _spread(values: pd.Series, scale: float, digits: int, unit: str = "") -> str:
    """Mean ± sd over subsets ('98.9 ± 0.3%'), or the one value when there is one subset."""
    mean = f"{scale * values.mean():.{digits}f}"
    return f"{mean}{unit}" if len(values) < 2 else f"{mean} ± {scale * values.std(ddof=1):.{digits}f}{unit}"


def budget_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The study as the report shows it: per family and labels per digit, each metric's mean ± sd over subsets."""
    frame = pd.DataFrame(rows)
    out = []
    for (family, budget), group in frame.groupby(["family", "budget"], sort=False):
        out.append({"sampler": family, "labels per digit": str(budget), "subsets": len(group),
                    "judged accuracy": _spread(group["accuracy"], 100, 1, "%"),
                    "worst digit": _spread(group["min_accuracy"], 100, 1, "%"),
                    "recall": _spread(group["recall"], 1, 3), "coverage": _spread(group["coverage"], 1, 3),
                    "Fréchet": _spread(group["frechet"], 1, 1),
                    "_family": FAMILIES.index(family), "_budget": _budget_key(budget)})
    return (pd.DataFrame(out).sort_values(["_family", "_budget"]).drop(columns=["_family", "_budget"])
            .reset_index(drop=True))


def naming_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, k: int) -> pd.DataFrame:
    """What each budget left to the naming rule, per budget over its subsets: clusters holding a labelled code,
    clusters named although they hold none (from their nearest labelled codes), clusters left unnamed, and the
    digits drawn from a fallback cluster (digit: in how many subsets)."""
    frame = pd.DataFrame(rows)
    frame = frame[frame["family"] == KMEANS]
    out = []
    for budget, group in frame.groupby("budget", sort=False):
        fallback = pd.Series([d for digits in group["fallback_digits"] for d in digits], dtype=int).value_counts()
        out.append({"labels per digit": str(budget), "subsets": len(group),
                    "labelled images": int(group["labelled_images"].iloc[0]),
                    f"clusters holding labels (of {k})": _spread(group["clusters_named_with_labels"], 1, 1),
                    "named without holding one": _spread(group["clusters_named_without_labels"], 1, 1),
                    "unnamed": _spread(group["clusters_unnamed"], 1, 1),
                    "fallback digits": ", ".join(f"{d} ({n})" for d, n in sorted(fallback.items())) or "none",
                    "_budget": _budget_key(budget)})
    return pd.DataFrame(out).sort_values("_budget").drop(columns="_budget").reset_index(drop=True)


def rule_table(choice: RuleChoice) -> pd.DataFrame:
    """The naming rules as they were compared: each one's mean over the small budgets and subsets, the chosen first."""
    scores = choice.scores
    return pd.DataFrame({
        "naming rule": scores["rule"].str.replace("_", " "), "settings": scores["settings"],
        "judged accuracy": (100 * scores["accuracy"]).map("{:.2f}%".format),
        "worst digit": (100 * scores["min_accuracy"]).map("{:.1f}%".format),
        "recall": scores["recall"].map("{:.3f}".format),
        "chosen": np.where(scores["rule"] == choice.rule, "yes", ""),
    })


def rule_seeds_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The rule's choice under each clustering seed (``generation.rule_over_clustering_seeds``): the sampler and
    temperature it chose, whether they met the rule on the choice set, and the reported numbers on the test set."""
    return pd.DataFrame({
        "clustering seed": rows["clustering seed"], "chosen sampler": rows["sampler"],
        "T": rows["temperature"].map("{:g}".format), "meets rule": np.where(rows["meets_rule"], "yes", "no"),
        "judged accuracy": [judged_accuracy(row) for _, row in rows.iterrows()],
        "worst digit": rows.apply(lambda row: f"{percent(row['min_accuracy'])} (digit {row['worst_digit']})", axis=1),
        "recall": rows["recall"].map("{:.2f}".format), "Fréchet": rows["frechet"].map("{:.1f}".format),
    })


def matched_recall_table(matched: pd.DataFrame) -> pd.DataFrame:
    """``comparisons.matched_recall`` as the text reads it: accuracies in percent, recall to two decimals, the
    difference in percentage points with its sign (the prose's typeset minus)."""
    accuracy = [column for column in matched.columns if column not in ("training seed", "recall", "difference")]
    shown = matched.assign(**{column: (100 * matched[column]).map("{:.1f}%".format) for column in accuracy},
                           recall=matched["recall"].map("{:.2f}".format),
                           difference=(100 * matched["difference"]).map(lambda value: signed(value, 1)))
    return shown.rename(columns={"difference": "difference (points)"})


def fixed_epoch_table(fixed: pd.DataFrame, runs: Sequence[Any]) -> pd.DataFrame:
    """``seeds.fixed_epoch_losses`` with each run named by its training seed and "still improving" as yes/no."""
    return fixed.assign(run=[str(run.seed) for run in runs],
                        **{"still improving": fixed["still improving"].map({True: "yes", False: "no"})}
                        ).rename(columns={"run": "training seed"})

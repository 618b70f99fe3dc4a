"""Tables of what the ex-post samplers are set against: the conditional VAE and the references per digit, the two
judges' agreement, and the data-copying test. Used by notebook 04; nothing here computes a result of its own.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from .formatting import judged_accuracy, mean_sd, percent, signed

__all__ = ["agreement_table", "bootstrap_table", "conditional_runs_table", "copying_table", "digit_comparison_table",
           "patience_table", "sampling_spread_table", "seed_generation_table", "seed_report_table",
           "source_summary_table"]


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
    """Per run: the validation loss's noise, its plateau, and the longest wait for a new best before the plateau,
    which is the patience that reaching it needed (where each run stopped and peaked is in the training table)."""
    return pd.DataFrame([{
        "training seed": str(row["seed"]), "noise sd (nats)": f"{row['noise sd']:.3f}",
        "plateau epoch": str(row["plateau epoch"]), "longest wait before it (epochs)": str(row["patience to plateau"]),
    } for row in seeds["patience"]])


def conditional_runs_table(conditionals: Sequence[Any]) -> pd.DataFrame:
    """One row per training run of the conditional VAE (``baselines.ConditionalResult``): its chosen temperature,
    judged accuracy with interval, worst digit and recall on the reporting seed."""
    rows = []
    for result in conditionals:
        chosen = result.results["chosen"]
        rows.append({"run": result.run, "T": f"{chosen['temperature']:g}", "judged accuracy": judged_accuracy(chosen),
                     "worst digit": f"{int(chosen['worst_digit'])}: {percent(chosen['min_accuracy'])}",
                     "recall": f"{chosen['recall']:.2f}"})
    return pd.DataFrame(rows, columns=["run", "T", "judged accuracy", "worst digit", "recall"])


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

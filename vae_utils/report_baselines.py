"""Tables of what the ex-post samplers are set against: the conditional VAE and the references per digit, the two
judges' agreement, and the data-copying test. Used by notebook 04; nothing here computes a result of its own.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from .report import judged_accuracy, percent

__all__ = ["agreement_table", "copying_table", "digit_comparison_table", "source_summary_table"]


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


def digit_comparison_table(qualities: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Digit by digit, judged accuracy, recall and Fréchet distance of each source side by side (short names)."""
    tables = {name: _per_digit(quality) for name, quality in qualities.items()}
    rows = []
    for digit in next(iter(tables.values())).index:
        row = {"digit": digit}
        for measure, label, shown in (("accuracy", "accuracy", percent), ("recall", "recall", "{:.2f}".format),
                                      ("frechet", "Fréchet", "{:.1f}".format)):
            for name, table in tables.items():
                row[f"{label}, {name}"] = shown(table.loc[digit, measure])
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_table(agreements: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Digit by digit, each judge's accuracy on each set of generated digits and how often the two judges agree."""
    tables = {name: table.set_index("digit") for name, table in agreements.items()}
    rows = []
    for digit in next(iter(tables.values())).index:
        row = {"digit": digit}
        for name, table in tables.items():
            line = table.loc[digit]
            row[f"{name}: CNN"] = percent(line["judge1"])
            row[f"{name}: MLP"] = percent(line["judge2"])
            row[f"{name}: same verdict"] = percent(line["same_verdict"])
        rows.append(row)
    return pd.DataFrame(rows)


def copying_table(copying: pd.DataFrame) -> pd.DataFrame:
    """The data-copying test's rows as report text: C_T, the cells it used, and the two median distances."""
    return pd.DataFrame([{
        "generated digits": row["generated"], "space": row["space"], "held-out reference": row["reference"],
        "C_T": f"{row['c_t']:.2f}", "cells used": f"{row['cells_used']} of {row['cells']}",
        "median distance, generated": f"{row['generated_median_distance']:.2f}",
        "median distance, reference": f"{row['reference_median_distance']:.2f}",
    } for _, row in copying.iterrows()])

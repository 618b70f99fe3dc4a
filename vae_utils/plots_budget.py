"""The figure of the label-budget study (notebook 06): judged accuracy, worst digit and recall against the labelled
images per digit, for the k-means sampler named from them and the per-digit Gaussian fitted to them.

Returns a matplotlib Figure for ``printsize.save_and_show``, drawn with ``printsize``'s layout helpers.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

from .label_budget import ALL, FAMILIES, budget_summary
from .printsize import FIGURE_WIDTH_IN, ORIGINAL_COLOR, figure_title, limits, panel_title, subplots

__all__ = ["plot_label_budget"]

FAMILY_STYLE = {FAMILIES[0]: ("tab:blue", "o", 0.9), FAMILIES[1]: ("tab:orange", "s", 1.1)}  # colour, marker, x shift
FAMILY_LABELS = {FAMILIES[0]: "k-means clusters named from the labels",
                 FAMILIES[1]: "per-digit Gaussian fitted to the labels"}
PANELS = (("accuracy", "(a) judged accuracy", True), ("min_accuracy", "(b) worst digit", True),
          ("recall", "(c) recall", False))  # metric, title, in percent


def _positions(summary: pd.DataFrame, all_at: float) -> np.ndarray:
    """Where each budget sits on the log axis: its labels per digit, and all labels apart at ``all_at``."""
    return np.array([all_at if budget == ALL else float(budget) for budget in summary["budget"]])


def _family(ax: plt.Axes, summary: pd.DataFrame, metric: str, family: str, all_at: float) -> None:
    """One family's means with bars from the lowest to the highest subset; a dotted line bridges the jump to all."""
    color, marker, shift = FAMILY_STYLE.get(family, ("0.3", "^", 1.0))
    rows = summary[summary["family"] == family]
    x = _positions(rows, all_at) * shift  # side by side, not on top of each other
    mean, low, high = (rows[f"{metric}_{s}"].to_numpy(float) for s in ("mean", "min", "max"))
    ax.errorbar(x, mean, yerr=np.vstack([mean - low, high - mean]).clip(min=0), fmt="none", ecolor=color,
                elinewidth=1, capsize=2.5)
    finite = (rows["budget"] != ALL).to_numpy()
    ax.plot(x[finite], mean[finite], color=color, marker=marker, markersize=4, linewidth=1.2,
            label=FAMILY_LABELS.get(family, family))
    if (~finite).any():
        ax.plot(x[~finite], mean[~finite], color=color, marker=marker, markersize=4, linestyle="none")
        if finite.any():
            ax.plot([x[finite][-1], x[~finite][0]], [mean[finite][-1], mean[~finite][0]], color=color,
                    linestyle=":", linewidth=1)


def plot_label_budget(rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
                      conditional: Mapping[str, Any] | None = None,
                      title: str = "Digits on demand from a budget of labels") -> Figure:
    """Judged accuracy, worst digit and recall (rows of ``label_budget.budget_study``) against labels per digit on a
    log axis, 'all' apart at the right (at four times the largest budget: at its true place, about 5,500 per digit,
    it would squeeze the budgets into the left half); markers are means over the labelled subsets, bars run from the
    lowest to the highest subset. ``conditional`` (``label_budget.conditional_reference``) adds the conditional VAE,
    trained with every label, as a dashed line."""
    summary = budget_summary(rows)
    fig, axes = subplots(3.1, ncols=len(PANELS))
    panel_width = FIGURE_WIDTH_IN / len(PANELS) - 0.2
    budgets = summary.drop_duplicates("budget")
    finite = [float(b) for b in budgets["budget"] if b != ALL]
    all_at = 4 * max(finite) if finite else 1.0
    ticks, tick_labels = _positions(budgets, all_at), [str(b) for b in budgets["budget"]]
    for ax, (metric, name, in_percent) in zip(axes, PANELS):
        for family in summary["family"].unique():
            _family(ax, summary, metric, family, all_at)
        reference = [conditional[metric]] if conditional is not None else []
        if conditional is not None:
            ax.axhline(conditional[metric], color=ORIGINAL_COLOR, linestyle="--", linewidth=1,
                       label=f"conditional VAE, all labels (T = {conditional['temperature']:g})")
        shown = limits(summary[f"{metric}_min"], summary[f"{metric}_max"], reference)
        if shown is not None:  # an axhline does not widen the axis: a line at the edge would hide in the frame
            ax.set_ylim(*shown)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels(tick_labels)
        ax.set_xlim(ticks.min() / 1.6, ticks.max() * 1.6)
        if in_percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.grid(alpha=0.3)
        panel_title(ax, name, panel_width)
    axes[0].set_ylabel("mean over subsets")
    axes[len(axes) // 2].set_xlabel("labelled images per digit (log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="0.3", marker="|", markersize=8, linestyle="none"))
    labels.append("lowest to highest subset")
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    figure_title(fig, title)
    return fig

"""Figures of the generated digits: the accuracy-recall trade-off that chooses a sampler, samplers side by side,
judged accuracy, the asked-by-judged confusion and the rejected samples. Used by notebook 04.

Functions return a matplotlib Figure for ``printsize.save_and_show``, drawn with ``printsize``'s layout helpers.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .data import N_DIGITS
from .printsize import (
    FIGURE_WIDTH_IN,
    MAX_HEIGHT_IN,
    TEST_COLOR,
    TILE_IN,
    TRAIN_COLOR,
    figure_title,
    grid_size,
    heatmap,
    message_figure,
    panel_title,
    show_mosaic,
    subplots,
    trim_to_images,
    wrap,
)
from .selection import MIN_DIGIT_ACCURACY, MIN_MEAN_ACCURACY

__all__ = [
    "plot_family_curves", "plot_generated_confusion", "plot_judged_accuracy", "plot_nearest_copies",
    "plot_rejected_samples", "plot_side_by_side", "plot_tradeoff",
]


# --- choosing a sampler ----------------------------------------------------------------------------------------------
def _tradeoff_curves(ax: plt.Axes, comparison: pd.DataFrame, chosen: pd.Series | None, reference: str) -> None:
    """One curve per sampler through its temperatures (recall grows with T, so T rises left to right), the chosen
    point ringed. Temperatures are named once in the legend's title: labels at every point would pile up."""
    for (name, group), color in zip(comparison.groupby("sampler", sort=False), sns.color_palette("tab10")):
        group = group.sort_values("temperature")
        ax.plot(group["recall"], group["accuracy"], marker="o", markersize=4, color=color,
                label=wrap(str(name), FIGURE_WIDTH_IN / 2 - 0.5, plt.rcParams["legend.fontsize"]))
    if chosen is not None:
        ax.scatter([chosen["recall"]], [chosen["accuracy"]], s=200, facecolors="none", edgecolors="black",
                   linewidths=1.5, label=f"chosen operating point (T = {chosen['temperature']:g})", zorder=5)
    ax.axhline(MIN_MEAN_ACCURACY, color="tab:green", linestyle="--", linewidth=1,
               label=f"rule: mean \u2265 {MIN_MEAN_ACCURACY:.1%}")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set(xlabel=f"mean recall against {reference}", ylabel="mean judged accuracy")
    ax.grid(alpha=0.3)


def _below_axis_note(ax: plt.Axes, comparison: pd.DataFrame, low: float) -> None:
    """Name the samplers whose whole curve lies below the axis, with their best accuracy, in the panel's corner: an
    axis stretched to show them would pin every competitive curve to its top."""
    best = comparison.groupby("sampler", sort=False)["accuracy"].max()
    below = best[best < low]
    if len(below):
        text = "; ".join(f"{name}: at most {value:.0%}" for name, value in below.items())
        ax.text(0.02, 0.03, wrap(f"below the axis: {text}", FIGURE_WIDTH_IN - 1.5, plt.rcParams["legend.fontsize"]),
                transform=ax.transAxes, fontsize=plt.rcParams["legend.fontsize"], va="bottom",
                bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})


def plot_tradeoff(comparison: pd.DataFrame, chosen: pd.Series | None = None, zoom_from: float = 0.9,
                  title: str = "Correct against diverse: judged accuracy and recall over temperature",
                  references: Mapping[str, Mapping[str, float]] | None = None,
                  reference: str = "the real digits") -> Figure:
    """Lower temperature buys accuracy with recall: every sampler's curve over temperature in the band where the
    rule chooses (mean accuracy above ``zoom_from``); a sampler that never reaches the band is named in a note.
    ``references`` (name -> a row with ``recall`` and ``accuracy``, e.g. real digits and reconstructions) are drawn
    as single stars; ``reference`` names the real digits recall is measured against."""
    references = references or {}
    n_entries = comparison["sampler"].nunique() + 1 + (chosen is not None) + len(references)
    fig, ax = subplots(3.4 + 0.22 * math.ceil(n_entries / 2))
    _tradeoff_curves(ax, comparison, chosen, reference)
    _reference_points(ax, references)
    points = [(row["recall"], row["accuracy"]) for row in references.values()]
    band = pd.concat([comparison[["recall", "accuracy"]], pd.DataFrame(points, columns=["recall", "accuracy"])])
    if not (band["accuracy"] >= zoom_from).any():  # an undertrained model: start the axis below its best setting
        zoom_from = max(0.0, math.floor(20 * (band["accuracy"].max() - 0.1)) / 20)
    band = band[band["accuracy"] >= zoom_from]
    if not band.empty:
        margin = 0.02 * max(band["recall"].max() - band["recall"].min(), 0.1)
        ax.set_xlim(band["recall"].min() - margin, band["recall"].max() + 4 * margin)
    ax.set_ylim(zoom_from, 1.003)
    _below_axis_note(ax, comparison, zoom_from)
    temperatures = sorted(comparison["temperature"].unique())
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False,
               title=f"temperature T from {temperatures[0]:g} (left) to {temperatures[-1]:g} (right) on each curve")
    figure_title(fig, title)
    return fig


def plot_family_curves(curves: pd.DataFrame, title: str, reference: str = "the real digits") -> Figure:
    """Judged accuracy against recall over temperature for each family and training seed (``comparisons.
    family_curves``), with each point's 95% interval: two families compared where their curves overlap.
    ``reference`` names the real digits recall is measured against."""
    fig, ax = subplots(3.6)
    families = list(dict.fromkeys(curves["family"]))
    for family, color in zip(families, (TRAIN_COLOR, TEST_COLOR, "dimgray")):
        own = curves[curves["family"] == family]
        for index, (seed, run) in enumerate(own.groupby("training seed")):
            run = run.sort_values("recall")
            ax.errorbar(run["recall"], run["accuracy"],
                        yerr=[run["accuracy"] - run["accuracy_low"], run["accuracy_high"] - run["accuracy"]],
                        color=color, marker="o", markersize=3, linewidth=1, capsize=2, alpha=0.85,
                        label=f"{family} ({own['training seed'].nunique()} runs)" if index == 0 else None)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set(xlabel=f"mean recall against {reference}", ylabel="mean judged accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", frameon=False)
    figure_title(fig, title)
    return fig


def _reference_points(ax: plt.Axes, references: Mapping[str, Mapping[str, float]]) -> None:
    """Each reference (real digits, reconstructions) as one star: the corner generated digits aim for."""
    for (name, row), color in zip(references.items(), ("black", "dimgray", "silver")):
        ax.scatter([row["recall"]], [row["accuracy"]], marker="*", s=140, color=color, edgecolors="black",
                   linewidths=0.5, label=name, zorder=6)


def plot_nearest_copies(closest: Mapping[str, Any], title: str) -> Figure:
    """For each set of generated digits, its digit nearest to a training image for each digit 0-9 (top) above that
    training image (bottom): what a copy would look like if there were one."""
    rows, labels = [], []
    for name, pairs in closest.items():
        rows += [pairs.generated, pairs.neighbours]
        labels += [name, "nearest training image"]
    n = min(len(row) for row in rows)
    images = torch.stack([row[:n] for row in rows])
    width, height = grid_size(len(rows), n, margin_w=2.0, margin_h=1.1)
    fig, ax = subplots(height, width_in=width)
    show_mosaic(ax, images, [wrap(label, 1.7, plt.rcParams["ytick.labelsize"]) for label in labels], None)
    ax.set_xlabel("digit asked for, 0 to 9" if n == N_DIGITS else "nearest to a training image first")
    figure_title(fig, title)
    trim_to_images(fig, [ax])
    return fig


# --- the chosen sampler's digits -------------------------------------------------------------------------------------
def plot_side_by_side(left: torch.Tensor, right: torch.Tensor, titles: tuple[str, str], suptitle: str) -> Figure:
    """Two [10, n, 1, 28, 28] digit grids next to each other, rows labelled 0-9 (e.g. chosen sampler vs the prior)."""
    widths = (left.shape[1], right.shape[1])
    tile = min(TILE_IN, (FIGURE_WIDTH_IN - 1.0) / sum(widths), (MAX_HEIGHT_IN - 2.2) / N_DIGITS)
    fig, axes = subplots(N_DIGITS * tile + 1.4, ncols=2, gridspec_kw={"width_ratios": widths})
    for ax, images, title, cols in zip(axes, (left, right), titles, widths):
        show_mosaic(ax, images, [f"{d}" for d in range(N_DIGITS)], None)
        panel_title(ax, title, max(cols * tile - 0.1, 1.5))
        ax.set_xlabel("sample")
    axes[0].set_ylabel("row")
    figure_title(fig, suptitle)
    trim_to_images(fig, axes)
    return fig


def _accuracy_bars(ax: plt.Axes, quality: pd.DataFrame, offset: float, width: float, color: str, name: str,
                   interval_label: str | None) -> bool:
    """One sampler's per-digit judged accuracy as bars, with its 95% Wilson interval when the table has one.

    Returns whether an interval was drawn."""
    per_digit = quality[quality["digit"].astype(str) != "mean"]
    x = per_digit["digit"].astype(int).to_numpy() + offset
    accuracy = per_digit["accuracy"].to_numpy(dtype=float)
    ax.bar(x, accuracy, width, color=color, label=name)
    if not {"accuracy_low", "accuracy_high"} <= set(per_digit.columns):
        return False
    below = accuracy - per_digit["accuracy_low"].to_numpy(dtype=float)
    above = per_digit["accuracy_high"].to_numpy(dtype=float) - accuracy
    ax.errorbar(x, accuracy, yerr=np.vstack([below, above]).clip(min=0), fmt="none", ecolor="black",
                elinewidth=1, capsize=2, label=interval_label)
    return True


def plot_judged_accuracy(
    df_vae: pd.DataFrame,
    df_prior: pd.DataFrame | None = None,
    title: str = "Judged accuracy on generated digits",
    names: tuple[str, str] = ("clusters named after digits", "course report's way"),
) -> Figure:
    """Per-digit judged accuracy (``generation_quality`` tables) of one or two samplers, against the rule and 10%
    chance; with 95% Wilson intervals as error bars when the tables carry ``accuracy_low``/``accuracy_high``."""
    frames = [(df_vae, names[0], TRAIN_COLOR)] + ([(df_prior, names[1], "tab:gray")] if df_prior is not None else [])
    width = 0.8 / len(frames)
    fig, ax = subplots(3.8)
    interval = False
    for i, (frame, name, color) in enumerate(frames):
        offset = (i - (len(frames) - 1) / 2) * width
        interval |= _accuracy_bars(ax, frame, offset, width, color, name, None if interval else "95% Wilson interval")
    ax.axhline(MIN_DIGIT_ACCURACY, color="tab:green", linestyle="--", linewidth=1,
               label=f"rule: every digit \u2265 {MIN_DIGIT_ACCURACY:.0%}")
    ax.axhline(1 / N_DIGITS, color=TEST_COLOR, linestyle=":", linewidth=1, label="chance: 10%")
    ax.set(ylim=(0, 1.05), xticks=range(N_DIGITS), xlabel="digit asked for", ylabel="judged correct")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    handles, labels = ax.get_legend_handles_labels()
    # samplers first, then the interval and reference lines
    order = list(dict.fromkeys([labels.index(name) for _, name, _ in frames] + list(range(len(labels)))))
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=2,
               frameon=False)
    figure_title(fig, title)
    return fig


def _percent_text(value: float) -> str:
    """One cell's share: 0 and 100 as whole numbers, anything between with one decimal (0.2% of 500 is 1 image)."""
    if not np.isfinite(value):
        return ""
    return f"{value:.0f}" if value in (0.0, 100.0) else f"{value:.1f}"


def plot_generated_confusion(verdicts: np.ndarray, title: str) -> Figure:
    """Asked digit (row) by judged digit (column) of generated samples, each cell the percent of its row.

    ``verdicts`` [10, n]: the judge's digit for each sample of row d, which was asked to show digit d.
    The diagonal is the judged accuracy; the off-diagonal cells say which digits the sampler confuses.
    """
    verdicts = np.asarray(verdicts)
    asked = np.repeat(np.arange(verdicts.shape[0]), verdicts.shape[1])
    counts = pd.crosstab(pd.Series(asked), pd.Series(verdicts.ravel()))
    counts = counts.reindex(index=range(N_DIGITS), columns=range(N_DIGITS), fill_value=0)
    percent = 100 * counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
    fig, ax = subplots(4.9)
    heatmap(ax, percent, percent.map(_percent_text).to_numpy(), "", "percent of the row (%)", vmin=0, vmax=100)
    ax.set(xlabel="digit judged", ylabel="digit asked for")
    figure_title(fig, title)
    return fig


def _round_robin(indices_per_row: Sequence[np.ndarray], limit: int) -> list[tuple[int, int]]:
    """(row, index) pairs taking each row's first item, then each row's second, ...: no row crowds out the rest."""
    picks: list[tuple[int, int]] = []
    for rank in range(max((len(indices) for indices in indices_per_row), default=0)):
        for row, indices in enumerate(indices_per_row):
            if len(picks) == limit:
                return picks
            if rank < len(indices):
                picks.append((row, int(indices[rank])))
    return picks


GALLERY_COLUMNS = 9


def plot_rejected_samples(images: torch.Tensor, verdicts: np.ndarray, title: str, max_images: int = 40) -> Figure:
    """The generated samples the judge read as another digit, each titled 'asked d, judged j'.

    ``images`` [10, n, 1, 28, 28] (row d asked for digit d), ``verdicts`` [10, n] the judge's digits. At most
    ``max_images`` are shown, taken from the rows in turn so that one bad digit cannot fill the gallery.
    """
    verdicts = np.asarray(verdicts)
    if tuple(images.shape[:2]) != verdicts.shape:
        raise ValueError(f"images {tuple(images.shape)} and verdicts {verdicts.shape} must share their first two "
                         "dimensions (digit asked for, sample)")
    rejected = [np.flatnonzero(verdicts[row] != row) for row in range(len(verdicts))]
    total = sum(len(r) for r in rejected)
    picks = _round_robin(rejected, max_images)
    if not picks:
        return message_figure(title, f"None: the judge read all {verdicts.size:,} samples as the digit asked for.")
    cols = min(GALLERY_COLUMNS, len(picks))
    rows = math.ceil(len(picks) / cols)
    tile = FIGURE_WIDTH_IN / GALLERY_COLUMNS  # just wider than a two-line 9 pt title
    fig, axes = subplots(rows * (tile + 0.3) + 0.7, nrows=rows, ncols=cols, width_in=cols * tile + 0.2,
                         squeeze=False)
    images = images.detach().cpu()
    for ax in axes.flat:
        ax.axis("off")
    for ax, (row, index) in zip(axes.flat, picks):
        ax.imshow(images[row, index, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"asked {row},\njudged {verdicts[row, index]}", fontsize=plt.rcParams["font.size"],
                     linespacing=1.1, pad=2)
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    fig.supxlabel(f"{len(picks)} of {total:,} rejected samples, taken from each row in turn")
    figure_title(fig, title)
    return fig

"""Figures of the data, the training run and the latent space, each titled and labelled at print size.

Functions return a matplotlib Figure for ``printsize.save_and_show``. Used by notebooks 01 (data), 03 (training)
and 04 (the course protocol, clusters and the latent space); the generated digits' figures are ``plots_generation``.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from .curves import loss_gap
from .data import N_DIGITS, MNISTTensors, images_per_digit
from .latent import METRIC_NAMES, decode_probabilities, encode_gaussian
from .model import VAE
from .printsize import (
    ACTIVE_COLOR,
    FIGURE_WIDTH_IN,
    INACTIVE_COLOR,
    ORIGINAL_COLOR,
    TEST_COLOR,
    TRAIN_COLOR,
    VALIDATION_COLOR,
    figure_title,
    grid_size,
    heatmap,
    limits,
    panel_title,
    show_mosaic,
    subplots,
    trim_to_images,
    wrap,
)

__all__ = [
    "plot_seed_band",
    "plot_class_balance", "plot_confusion", "plot_course_protocol", "plot_examples_per_digit", "plot_image_grid",
    "plot_intensity_histogram", "plot_k_sweep", "plot_kl_per_dimension", "plot_latent_projection",
    "plot_loss_curves", "plot_mean_images", "plot_reconstructions", "plot_traversal",
]

# Reader-facing names of ``latent.clustering_metrics``'s keys (report.py may import these; never the reverse).
SWEEP_METRICS = ("accuracy_majority", "purity", "nmi", "ari")  # Hungarian accuracy exists only for k = 10


# --- data ------------------------------------------------------------------------------------------------------------
def plot_class_balance(labels: torch.Tensor, title: str) -> Figure:
    """Bar chart of images per digit: shows whether any class needs reweighting (MNIST: no)."""
    counts = pd.Series(labels.numpy()).value_counts().reindex(range(N_DIGITS), fill_value=0)
    fig, ax = subplots(2.8)
    ax.bar(counts.index, counts.values, color=TRAIN_COLOR)
    ax.set(xlabel="digit", ylabel="images", xticks=range(N_DIGITS))
    ax.bar_label(ax.containers[0], labels=[f"{value:,}" for value in counts.values], padding=1)
    ax.margins(y=0.12)  # room for the counts above the tallest bar
    figure_title(fig, title)
    return fig


def plot_examples_per_digit(data: MNISTTensors, per_digit: int, seed: int, title: str) -> Figure:
    """A grid with one row per digit of randomly chosen training images."""
    return plot_image_grid(images_per_digit(data, per_digit, seed), title, [f"digit {d}" for d in range(N_DIGITS)])


def plot_mean_images(data: MNISTTensors, title: str) -> Figure:
    """The average image of each digit: the 'prototype' a blurry decoder tends towards."""
    means = torch.stack([data.images[data.labels == d].mean(0) for d in range(N_DIGITS)]).unsqueeze(1)
    return plot_image_grid(means.transpose(0, 1), title, None, column_labels=[str(d) for d in range(N_DIGITS)])


def plot_intensity_histogram(images: torch.Tensor, title: str) -> Figure:
    """Histogram of pixel values: MNIST is mostly 0 and 1, which is why a Bernoulli decoder fits."""
    fig, ax = subplots(2.8)
    ax.hist(images.flatten().numpy(), bins=50, color=TRAIN_COLOR, log=True)
    ax.set(xlabel="pixel intensity (0 = black, 1 = white)", ylabel="pixels (log scale)")
    figure_title(fig, title)
    return fig


# --- image grids -----------------------------------------------------------------------------------------------------
def plot_image_grid(
    images: torch.Tensor,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> Figure:
    """Show a [rows, columns, 1, 28, 28] tensor as one labelled mosaic of grey images."""
    rows, cols = images.shape[:2]
    width, height = grid_size(rows, cols, margin_h=0.9 + 0.2 * bool(xlabel))
    fig, ax = subplots(height, width_in=width)
    show_mosaic(ax, images, row_labels, column_labels)
    if xlabel:
        ax.set_xlabel(xlabel)
    figure_title(fig, title)
    trim_to_images(fig, [ax])
    return fig


def plot_reconstructions(model: VAE, images: torch.Tensor, title: str, labels: torch.Tensor | None = None) -> Figure:
    """Test digits (top row) above their reconstructions sigmoid(decode(mu)) (bottom row).

    ``labels``: the digits' labels, which the conditional VAE is given on both sides.
    """
    recon = decode_probabilities(model, encode_gaussian(model, images, labels=labels)[0], labels=labels)
    return plot_image_grid(torch.stack([images.cpu(), recon]), title, ["original", "reconstruction"])


def plot_traversal(images: torch.Tensor, dims: Sequence[int], values: torch.Tensor, title: str) -> Figure:
    """Grid of ``latent_traversal`` output [len(dims), len(values), 1, 28, 28]: one row per latent dimension."""
    values = torch.as_tensor(values).flatten().tolist()
    rows, cols = images.shape[:2]
    width, height = grid_size(rows, cols, margin_w=1.3, margin_h=1.2)
    fig, ax = subplots(height, width_in=width)
    show_mosaic(ax, images, [f"z[{d}]" for d in dims], [f"{v:g}" for v in values])
    ax.set_xlabel("value of the latent coordinate")
    ax.set_ylabel("latent dimension")
    figure_title(fig, title)
    trim_to_images(fig, [ax])
    return fig


# --- training --------------------------------------------------------------------------------------------------------
LOSS_ZOOM_FROM_EPOCH = 10  # epoch 1 sits ~150 nats above the rest: the zoomed scale starts after the steep fall
COURSE_ZOOM_FROM_EPOCH = 20
DIFFERENCE_FROM_EPOCH = 50  # the text compares the curves from here, once both have left their steep start
DIFFERENCE_LINEAR = 0.2  # nats: the difference panel is linear within this, logarithmic beyond


def _original_terms(original: pd.DataFrame | None, first: int, last: int) -> dict[str, pd.DataFrame]:
    """The course report's logged terms ('loss', 'kl', and 'recon' = loss - KL) over our epochs ``first``-``last``."""
    if original is None:
        return {}
    log = original[(original["epoch"] >= first) & (original["epoch"] <= last)]
    terms = {"loss": log.assign(value=log["train_loss"])}
    if "train_kl" in log.columns:
        terms["kl"] = log.assign(value=log["train_kl"])
        terms["recon"] = log.assign(value=log["train_loss"] - log["train_kl"])
    return terms


def _zoom_start(epochs: pd.Series, zoom_from: int) -> int:
    """First epoch on a zoomed scale: ``zoom_from`` once the run is long enough for that to leave most of it."""
    first, last = int(epochs.min()), int(epochs.max())
    return zoom_from if first < zoom_from and last >= 2 * zoom_from else first


def _mark_epoch(ax: plt.Axes, epoch: float, text: str | None, x_range: tuple[float, float]) -> None:
    """A dotted vertical line at ``epoch``, labelled at the top on whichever side has room."""
    ax.axvline(epoch, color="black", linestyle=":", linewidth=1)
    if text:
        right_half = (epoch - x_range[0]) > 0.6 * (x_range[1] - x_range[0])
        ax.annotate(text, xy=(epoch, 1), xycoords=("data", "axes fraction"), xytext=(-3 if right_half else 3, -3),
                    textcoords="offset points", ha="right" if right_half else "left", va="top")


def _line(ax: plt.Axes, frame: pd.DataFrame, column: str, **style) -> pd.Series:
    """Plot ``column`` over epochs through its recorded values only: a sparse column (NaN on most rows) would
    otherwise draw nothing; sparse points get markers. Returns the values drawn."""
    points = frame.dropna(subset=[column])
    if points.empty:
        return points[column]
    sparse = len(points) < 0.5 * len(frame) or len(points) == 1
    ax.plot(points["epoch"], points[column], marker="o" if sparse else None, markersize=3, **style)
    return points[column]


def plot_loss_curves(
    history: pd.DataFrame, title: str = "Training curves", *, best_epoch: int | None = None,
    original: pd.DataFrame | None = None,
) -> Figure:
    """(a) negative ELBO, train against validation, with the course report's training loss (``original``, its
    log) dashed and the best epoch marked; (b) reconstruction and (c) KL terms. All in nats per image.

    Long runs are shown from epoch 10: the first epochs fall by ~150 nats and would flatten the one-to-three nat
    train-validation gap the figure is about. Works without validation data and for a two-epoch smoke run.
    """
    start, last = _zoom_start(history["epoch"], LOSS_ZOOM_FROM_EPOCH), int(history["epoch"].max())
    ours = history[history["epoch"] >= start]
    reference = _original_terms(original, start, last)
    fig, axes = plt.subplot_mosaic([["loss", "loss"], ["recon", "kl"]], figsize=(FIGURE_WIDTH_IN, 5.6),
                                   layout="constrained", height_ratios=(1.3, 1))
    since = f", from epoch {start}" if start > history["epoch"].min() else ""
    panels = {"loss": f"(a) negative ELBO{since}", "recon": "(b) reconstruction term", "kl": "(c) KL term"}
    for term, panel in panels.items():
        ax = axes[term]
        drawn = [_line(ax, ours, f"train_{term}", color=TRAIN_COLOR, label="train")]
        drawn.append(_line(ax, ours, f"val_{term}", color=VALIDATION_COLOR, label="validation"))
        if term in reference:
            log = reference[term]
            ax.plot(log["epoch"], log["value"], color=ORIGINAL_COLOR, linestyle="--", linewidth=0.8,
                    label="course report, training")
            drawn.append(log["value"])
        ax.set_ylim(limits(*drawn))
        if best_epoch is not None and start <= best_epoch <= last:
            _mark_epoch(ax, best_epoch, f"best epoch {best_epoch}" if term == "loss" else None, (start, last))
        ax.set(xlabel="epoch", ylabel="nats per image", xlim=(start, last + 0.02 * max(last - start, 1)))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8 if term == "loss" else 5, integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
        panel_title(ax, panel, 5.5 if term == "loss" else 2.6)
    fig.legend(*axes["loss"].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    figure_title(fig, title)
    return fig


def plot_seed_band(losses: pd.DataFrame, original: pd.DataFrame, title: str, after: int = 50) -> Figure:
    """The training loss of several runs of one protocol as a band, the course report's log drawn over it.

    ``losses``: one column per run, indexed by epoch (the epochs every run reached). (a) the band and the log from
    epoch 20; (b) everything minus the runs' mean after epoch ``after``, where tenths of a nat decide.
    """
    start = _zoom_start(pd.Series(losses.index), COURSE_ZOOM_FROM_EPOCH)
    shown = losses.loc[start:]
    log = original.set_index("epoch")["train_loss"].reindex(shown.index)
    fig, (top, bottom) = subplots(5.4, nrows=2, gridspec_kw={"height_ratios": (1.4, 1)})
    top.fill_between(shown.index, shown.min(axis=1), shown.max(axis=1), color=TRAIN_COLOR, alpha=0.35, linewidth=0,
                     label=f"ours: lowest to highest of {losses.shape[1]} runs")
    top.plot(shown.index, log, color=ORIGINAL_COLOR, linewidth=1, linestyle="--", label="course report's log",
             zorder=3)
    top.set_ylim(limits(shown.min(axis=1), shown.max(axis=1), log))
    top.set(ylabel="nats per image")
    panel_title(top, f"(a) training loss from epoch {start}", 5.5)

    late = losses.loc[after + 1:]
    mean = late.mean(axis=1)
    theirs = original.set_index("epoch")["train_loss"].reindex(late.index) - mean
    bottom.fill_between(late.index, late.min(axis=1) - mean, late.max(axis=1) - mean, color=TRAIN_COLOR, alpha=0.35,
                        linewidth=0)
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.plot(late.index, theirs, color=ORIGINAL_COLOR, linewidth=1, linestyle="--", zorder=3)
    bottom.set(xlabel="epoch", ylabel="minus our mean\n(nats per image)")
    panel_title(bottom, f"(b) after epoch {after}: the band and the log minus our runs' mean", 5.5)
    for ax in (top, bottom):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
    handles, labels = top.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    figure_title(fig, title)
    return fig


def plot_course_protocol(history: pd.DataFrame, original: pd.DataFrame, title: str) -> Figure:
    """The course-protocol run (all 60,000 training images, no validation) against the course report's log.

    Top: both training losses (the course report's full run) and our held-out test negative ELBO, on a scale
    from epoch 20 where the curves differ by tenths of a nat; bottom: ours minus the original at every epoch, on a
    symmetric log scale so that the first epochs' gap of several nats and the later tenths both show; epoch 50, from
    which the text compares the curves, is marked. The epoch our run has reached is marked while it runs.
    """
    reached, full = int(history["epoch"].max()), int(original["epoch"].max())
    start = _zoom_start(original["epoch"], COURSE_ZOOM_FROM_EPOCH)
    ours_start = start if reached >= 2 * start else int(history["epoch"].min())
    fig, (top, bottom) = subplots(5.6, nrows=2, sharex=True, gridspec_kw={"height_ratios": (1.4, 1.2)})

    top.plot(history["epoch"], history["train_loss"], color=TRAIN_COLOR, linewidth=2.2, alpha=0.6,
             label="ours, training")
    top.plot(original["epoch"], original["train_loss"], color=ORIGINAL_COLOR, linewidth=0.9, linestyle="--",
             label="course report, training", zorder=4)  # drawn over ours: the two lie within a line's width
    tests = history.dropna(subset=["test_loss"]) if "test_loss" in history.columns else history.iloc[:0]
    top.scatter(tests["epoch"], tests.get("test_loss", []), s=14, color=TEST_COLOR, zorder=3,
                label="ours, test negative ELBO (held out)")
    top.set_ylim(limits(original.loc[original["epoch"] >= start, "train_loss"],
                        history.loc[history["epoch"] >= ours_start, "train_loss"],
                        tests.loc[tests["epoch"] >= ours_start, "test_loss"] if len(tests) else []))
    top.set(ylabel="nats per image")
    fitted = f" (scale fitted to epochs \u2265 {start})" if start > 1 else ""
    panel_title(top, f"(a) negative ELBO{fitted}", 5.5)

    both = loss_gap(history, original)
    difference = both["gap"]
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.plot(both["epoch"], difference, color="black", linewidth=0.7)  # no legend entry: the title says it
    # Every epoch, the first ones included: their gap of several nats and the later tenths of a nat both show on a
    # scale that is linear within +-DIFFERENCE_LINEAR and logarithmic beyond.
    bottom.set_yscale("symlog", linthresh=DIFFERENCE_LINEAR, linscale=2)
    low, high = float(min(difference.min(), -DIFFERENCE_LINEAR)), float(max(difference.max(), DIFFERENCE_LINEAR))
    bottom.set_yticks([tick for tick in (-10, -5, -1, -0.2, 0, 0.2, 1, 5, 10) if low <= tick <= high])
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    bottom.axvline(DIFFERENCE_FROM_EPOCH, color="0.5", linestyle=":", linewidth=1)
    bottom.set(xlabel="epoch", ylabel="difference\n(nats per image)", xlim=(0, full * 1.01))
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    panel_title(bottom, f"(b) ours minus the course report's (log scale beyond \u00b1{DIFFERENCE_LINEAR:g})", 5.5)

    if reached < full:
        for ax in (top, bottom):
            _mark_epoch(ax, reached, f"ours: epoch {reached:,} of {full:,}" if ax is top else None, (0, full))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    handles = [h for ax in (top, bottom) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    figure_title(fig, title)
    return fig


# --- clusters --------------------------------------------------------------------------------------------------------
def plot_confusion(
    assigned: np.ndarray,
    labels: np.ndarray,
    title: str,
    xlabel: str = "assigned digit",
    ylabel: str = "true digit",
) -> Figure:
    """Heatmap of counts, true digit by assigned digit (or cluster id): shows which digits the clusters merge."""
    assigned, labels = np.asarray(assigned), np.asarray(labels)
    table = pd.crosstab(pd.Series(labels, name=ylabel), pd.Series(assigned, name=xlabel))
    columns = sorted(set(table.columns) | set(range(N_DIGITS)))
    table = table.reindex(index=range(N_DIGITS), columns=columns, fill_value=0)
    fig, ax = subplots(4.9)
    heatmap(ax, table, True, "d", "images")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    figure_title(fig, title)
    return fig


# --- latent space ----------------------------------------------------------------------------------------------------
def plot_latent_projection(
    latents_2d: np.ndarray,
    labels: np.ndarray,
    centres_2d: np.ndarray | None,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    """Scatter of 2-D projected latent means coloured by true digit, cluster centres as black crosses.

    Wider than tall, so that the PCA and t-SNE pictures share a page of the report."""
    labels = np.asarray(labels)
    fig, ax = subplots(4.2)
    palette = sns.color_palette("tab10", N_DIGITS)
    for digit in range(N_DIGITS):
        points = latents_2d[labels == digit]
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.4, color=palette[digit], label=str(digit), rasterized=True)
    if centres_2d is not None:
        ax.scatter(
            centres_2d[:, 0], centres_2d[:, 1], marker="X", s=90, color="black",
            edgecolors="white", linewidths=0.8, label="cluster\ncentre",
        )
    legend = ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.01, 0.5))
    for handle in legend.legend_handles[:N_DIGITS]:  # legend dots readable although the points are tiny and faint
        handle.set_sizes([30])
        handle.set_alpha(1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    figure_title(fig, title)
    return fig


def plot_kl_per_dimension(kl: np.ndarray, mean_variance: np.ndarray, title: str, threshold: float = 0.01) -> Figure:
    """Per latent dimension, sorted by KL: (a) mean KL in nats, (b) Var_x(mu_j), the variance over the images of
    the posterior mean, on a log scale against ``threshold``.

    (b) is the active-unit rule (Burda et al. 2016, ``latent.active_units``): a dimension whose mean barely moves
    between images carries nothing the decoder can use. Inactive dimensions are grey and hatched in both panels.
    """
    if np.ndim(mean_variance) == 0 or isinstance(mean_variance, str):
        raise TypeError("plot_kl_per_dimension(kl, mean_variance, title, threshold=0.01): mean_variance is the "
                        f"per-dimension variance from active_units, not {mean_variance!r}")
    kl, variance = np.asarray(kl, dtype=float), np.asarray(mean_variance, dtype=float)
    if kl.shape != variance.shape:
        raise ValueError(f"kl {kl.shape} and mean_variance {variance.shape} must have one value per latent dimension")
    order = np.argsort(-kl, kind="stable")
    active = variance[order] > threshold
    x = np.arange(len(kl))
    colors = [ACTIVE_COLOR if a else INACTIVE_COLOR for a in active]
    hatches = ["" if a else "///" for a in active]
    fig, (top, bottom) = subplots(4.8, nrows=2, sharex=True)
    for ax in (top, bottom):  # a grey column behind each inactive dimension, whose KL bar is too short to see
        for position in x[~active]:
            ax.axvspan(position - 0.5, position + 0.5, color="0.93", zorder=0)
    top.bar(x, kl[order], color=colors, hatch=hatches, edgecolor="white")
    top.set(ylabel="KL (nats per image)")
    panel_title(top, r"(a) mean KL of $q(z_j\,|\,x)$ from $\mathcal{N}(0, 1)$", 5.5)
    shown = np.clip(variance[order], 1e-8, None)  # a log axis cannot show a variance of exactly zero
    bottom.bar(x, shown, color=colors, hatch=hatches, edgecolor="white")
    bottom.set_yscale("log")
    bottom.set_ylim(min(shown.min(), threshold) / 3, max(shown.max(), threshold) * 3)
    bottom.axhline(threshold, color=TEST_COLOR, linestyle="--", linewidth=1)
    bottom.set(ylabel="variance over images\nof the mean $\\mu_j$", xlabel="latent dimension $j$ (sorted by KL)",
               xticks=x, xticklabels=[str(j) for j in order])
    panel_title(bottom, "(b) variance of the posterior mean over the test images", 5.5)
    handles = [Patch(color=ACTIVE_COLOR, label=f"active: $\\mathrm{{Var}}_x(\\mu_j) > {threshold:g}$"),
               Patch(facecolor=INACTIVE_COLOR, hatch="///", edgecolor="white", label="inactive"),
               Line2D([], [], color=TEST_COLOR, linestyle="--", label=f"threshold {threshold:g}")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    figure_title(fig, title)
    return fig


def _distinct_curves(table: pd.DataFrame, metrics: Sequence[str]) -> dict[str, str]:
    """Legend label -> column, one per distinct column: metrics that agree on every row share one curve and one
    label ("accuracy (majority) = purity": with majority-named clusters they always agree), instead of one curve
    hiding the other."""
    curves: dict[str, str] = {}
    for metric in metrics:
        same = next((label for label, column in curves.items()
                     if np.allclose(table[column], table[metric], equal_nan=True)), None)
        if same is None:
            curves[metric] = metric
        else:
            curves[f"{same} = {metric}"] = curves.pop(same)
    return curves


def plot_k_sweep(df: pd.DataFrame, title: str = "Clustering quality against the number of clusters k") -> Figure:
    """Majority accuracy, purity, NMI and ARI against k (every k of the table, log axis), train and test:
    what more clusters buy. Takes ``cluster_sweep``'s table with raw or reader-facing metric names."""
    names = {raw: METRIC_NAMES[raw] for raw in SWEEP_METRICS}
    table = df.rename(columns=names)
    curves = _distinct_curves(table, [names[m] for m in SWEEP_METRICS if names[m] in table.columns])
    colors = dict(zip(curves, sns.color_palette("tab10", len(curves))))
    ks = sorted(int(k) for k in table["k"].unique())
    split_styles = {"train": {"linestyle": "-", "marker": "o"}, "test": {"linestyle": "--", "marker": "s"}}
    splits = list(dict.fromkeys(table["split"]))
    fig, ax = subplots(3.6)
    for label, column in curves.items():
        for split in splits:
            rows = table[table["split"] == split].sort_values("k")
            ax.plot(rows["k"], rows[column], color=colors[label], markersize=4,
                    **split_styles.get(split, {"marker": "^"}))
    ax.set_xscale("log")
    ax.set_xticks(ks, labels=[str(k) for k in ks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(ks[0] / 1.25, ks[-1] * 1.25)
    ax.set(ylim=(0, 1.02), xlabel="number of clusters k (log scale)", ylabel="score")
    ax.grid(alpha=0.3)
    handles = ([Line2D([], [], color=colors[label], linewidth=2,
                       label=wrap(label.replace(" = ", " =\n"), 1.6, plt.rcParams["legend.fontsize"]))
                for label in curves]
               + [Line2D([], [], color="0.3", markersize=4, label=split, **split_styles.get(split, {"marker": "^"}))
                  for split in splits])
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure_title(fig, title)
    return fig

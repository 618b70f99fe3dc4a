"""Plotting: every figure of the notebooks, titled and labelled, plus the one way figures are saved and shown.

Functions return a matplotlib Figure; ``save_and_show`` writes it atomically and displays it.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .data import N_DIGITS, MNISTTensors, images_per_digit
from .latent import decode_probabilities, encode_gaussian
from .model import VAE
from .paths import atomic_path, project_path
from .selection import MIN_DIGIT_ACCURACY, MIN_MEAN_ACCURACY

__all__ = [
    "plot_class_balance", "plot_confusion", "plot_examples_per_digit", "plot_image_grid", "plot_intensity_histogram",
    "plot_judged_accuracy", "plot_k_sweep", "plot_kl_per_dimension", "plot_latent_projection", "plot_loss_curves",
    "plot_mean_images", "plot_reconstructions", "plot_side_by_side", "plot_tradeoff", "plot_traversal",
    "save_and_show",
]

FIGURE_DPI = 150


def save_and_show(fig: Figure, path: str | os.PathLike) -> None:
    """Save a figure atomically as PNG (an interrupted run never leaves a broken image), then display it."""
    path = project_path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.show()


def plot_class_balance(labels: torch.Tensor, title: str) -> Figure:
    """Bar chart of images per digit: shows whether any class needs reweighting (MNIST: no)."""

    counts = pd.Series(labels.numpy()).value_counts().reindex(range(N_DIGITS), fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sns.barplot(x=counts.index, y=counts.values, ax=ax, color="tab:blue")
    ax.set(title=title, xlabel="digit", ylabel="images")
    for i, value in enumerate(counts.values):
        ax.text(i, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
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
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(images.flatten().numpy(), bins=50, color="tab:blue", log=True)
    ax.set(title=title, xlabel="pixel intensity (0 = black, 1 = white)", ylabel="pixels (log scale)")
    return fig


def plot_image_grid(
    images: torch.Tensor,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> Figure:
    """Show a [rows, columns, 1, 28, 28] tensor as one labelled mosaic of grey images."""
    rows, cols = images.shape[:2]
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1.4, 0.6 * rows + 0.8))
    _show_mosaic(ax, images, row_labels, column_labels)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_title(title)
    return fig


def plot_loss_curves(history: pd.DataFrame, title: str = "Training curves") -> Figure:
    """Total, reconstruction and KL terms per epoch for train and validation (nats per image)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, term, name in zip(axes, ("loss", "recon", "kl"), ("negative ELBO", "reconstruction", "KL")):
        ax.plot(history["epoch"], history[f"train_{term}"], label="train")
        if history[f"val_{term}"].notna().any():
            ax.plot(history["epoch"], history[f"val_{term}"], label="validation")
        ax.set(title=name, xlabel="epoch", ylabel="nats per image")
        ax.grid(alpha=0.3)
        ax.legend()
    if history["train_loss"].iloc[0] > 3 * history["train_loss"].iloc[-1]:
        axes[0].set_ylim(top=history["train_loss"].iloc[min(1, len(history) - 1)] * 1.05)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reconstructions(model: VAE, images: torch.Tensor, title: str) -> Figure:
    """Test digits (top row) above their reconstructions sigmoid(decode(mu)) (bottom row)."""
    recon = decode_probabilities(model, encode_gaussian(model, images)[0])
    return plot_image_grid(torch.stack([images.cpu(), recon]), title, ["original", "reconstruction"])


def _mosaic(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Tile images [R, C, 1, H, W] into one array with white (1.0) gaps, so a single imshow draws a whole grid fast."""
    images = images.detach().cpu().float()
    rows, cols, _, height, width = images.shape
    canvas = np.ones((rows * (height + pad) - pad, cols * (width + pad) - pad), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + pad), c * (width + pad)
            canvas[top : top + height, left : left + width] = images[r, c, 0].numpy()
    return canvas


def _show_mosaic(
    ax: plt.Axes,
    images: torch.Tensor,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    pad: int = 2,
) -> None:
    """Draw a tiled grid with ticks at the centre of each row and column instead of pixel coordinates."""
    rows, cols, _, height, width = images.shape
    # MNIST's own look (white strokes on black); the white gaps then separate the black tiles.
    ax.imshow(_mosaic(images, pad), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (height + pad) + height / 2 - 0.5 for r in range(rows)])
    ax.set_yticklabels(row_labels if row_labels is not None else [])
    ax.set_xticks([c * (width + pad) + width / 2 - 0.5 for c in range(cols)] if col_labels is not None else [])
    if col_labels is not None:
        ax.set_xticklabels(col_labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


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
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(columns) + 1.5), 5.5))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar_kws={"label": "images"}, ax=ax, annot_kws={"size": 7})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(title)
    return fig


def plot_judged_accuracy(
    df_vae: pd.DataFrame,
    df_prior: pd.DataFrame | None = None,
    title: str = "Judged accuracy on generated digits",
    names: tuple[str, str] = ("clusters named after digits", "course report's way"),
) -> Figure:
    """Per-digit judged accuracy (``generation_quality`` tables) of two samplers, against the rule and 10% chance."""
    frames = [df_vae.assign(method=names[0])]
    if df_prior is not None:
        frames.append(df_prior.assign(method=names[1]))
    data = pd.concat(frames, ignore_index=True)
    data = data[data["digit"].astype(str) != "mean"]
    fig, ax = plt.subplots(figsize=(8, 4))
    palette = ["tab:blue", "tab:gray"][: len(frames)]
    sns.barplot(data=data, x="digit", y="accuracy", hue="method", ax=ax, palette=palette)
    ax.axhline(MIN_DIGIT_ACCURACY, color="tab:green", linestyle="--", linewidth=1,
               label=f"rule: every digit >= {MIN_DIGIT_ACCURACY:.0%}")
    ax.axhline(1 / N_DIGITS, color="tab:red", linestyle=":", linewidth=1, label="chance 10%")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("intended digit")
    ax.set_ylabel("judged correct")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


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
    fig, ax = plt.subplots(figsize=(7, 4.6))
    palette = sns.color_palette("tab10", N_DIGITS)
    for digit in range(N_DIGITS):
        points = latents_2d[labels == digit]
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.4, color=palette[digit], label=str(digit), rasterized=True)
    if centres_2d is not None:
        ax.scatter(
            centres_2d[:, 0], centres_2d[:, 1], marker="X", s=90, color="black",
            edgecolors="white", linewidths=0.8, label="cluster centre",
        )
    legend = ax.legend(title="digit", fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for handle in legend.legend_handles[:N_DIGITS]:  # legend dots readable although the points are tiny and faint
        handle.set_sizes([30])
        handle.set_alpha(1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def plot_traversal(images: torch.Tensor, dims: Sequence[int], values: torch.Tensor, title: str) -> Figure:
    """Grid of ``latent_traversal`` output [len(dims), len(values), 1, 28, 28]: one row per latent dimension."""
    values = torch.as_tensor(values).flatten().tolist()
    rows, cols = images.shape[:2]
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1.2, 0.6 * rows + 0.9))
    _show_mosaic(ax, images, [f"z[{d}]" for d in dims], [f"{v:g}" for v in values])
    ax.set_xlabel("value of the latent coordinate")
    ax.set_ylabel("latent dimension")
    ax.set_title(title)
    return fig


def plot_kl_per_dimension(kl: np.ndarray, threshold: float, title: str) -> Figure:
    """Bar per latent dimension of its mean KL, dimensions under ``threshold`` greyed as inactive."""
    kl = np.asarray(kl)
    colors = ["tab:blue" if value > threshold else "tab:gray" for value in kl]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.4 * len(kl) + 1.5), 3.5))
    ax.bar(np.arange(len(kl)), kl, color=colors)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g} nats")
    ax.set_xticks(np.arange(len(kl)))
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("mean KL (nats per image)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_k_sweep(df: pd.DataFrame, title: str = "Clustering quality against the number of clusters k") -> Figure:
    """Majority accuracy, purity, NMI and ARI against k, train and test: what more clusters buy."""
    metrics = [m for m in ("accuracy_majority", "purity", "nmi", "ari") if m in df.columns]
    long = df.melt(id_vars=["k", "split"], value_vars=metrics, var_name="metric", value_name="score")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="k", y="score", hue="metric", style="split", markers=True, dashes=True, ax=ax)
    ax.set_xticks(sorted(df["k"].unique()))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig




def _tradeoff_curves(ax: plt.Axes, comparison: pd.DataFrame, chosen: pd.Series | None) -> None:
    """One curve per sampler through its temperatures, the end temperatures labelled, the chosen point ringed."""
    for (name, group), color in zip(comparison.groupby("sampler", sort=False), sns.color_palette("tab10")):
        group = group.sort_values("temperature")
        ax.plot(group["recall"], group["accuracy"], marker="o", color=color, label=name)
        for _, row in group.iloc[[0, -1]].iterrows():
            ax.annotate(f"T={row['temperature']:g}", (row["recall"], row["accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(4, -8), color=color)
    if chosen is not None:
        ax.scatter([chosen["recall"]], [chosen["accuracy"]], s=260, facecolors="none", edgecolors="black",
                   linewidths=1.5, label="chosen operating point", zorder=5)
    ax.axhline(MIN_MEAN_ACCURACY, color="tab:green", linestyle="--", linewidth=1,
               label=f"rule: mean >= {MIN_MEAN_ACCURACY:.1%}")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="mean recall (share of real test digits reached)", ylabel="mean judged accuracy")
    ax.grid(alpha=0.3)


def plot_tradeoff(comparison: pd.DataFrame, chosen: pd.Series | None = None, zoom_from: float = 0.9,
                  title: str = "Correct against diverse: judged accuracy and recall over temperature") -> Figure:
    """Lower temperature buys accuracy with recall: every sampler on the left, the competitive band
    (mean accuracy above ``zoom_from``, where the rule chooses) enlarged on the right."""
    fig, (overview, zoom) = plt.subplots(1, 2, figsize=(10, 5.5))
    _tradeoff_curves(overview, comparison, chosen)
    _tradeoff_curves(zoom, comparison, chosen)
    overview.set_title("all samplers")
    band = comparison[comparison["accuracy"] >= zoom_from]
    if not band.empty:
        margin = 0.02 * max(band["recall"].max() - band["recall"].min(), 0.1)
        zoom.set_xlim(band["recall"].min() - margin, band["recall"].max() + 4 * margin)
    zoom.set_ylim(zoom_from, 1.003)
    zoom.set_title(f"enlarged: mean accuracy above {zoom_from:.0%}")
    handles, labels = overview.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    return fig


def plot_side_by_side(left: torch.Tensor, right: torch.Tensor, titles: tuple[str, str], suptitle: str) -> Figure:
    """Two [10, n, 1, 28, 28] digit grids next to each other, rows labelled 0-9 (e.g. chosen sampler vs the prior)."""
    fig, axes = plt.subplots(1, 2, figsize=(0.6 * (left.shape[1] + right.shape[1]) + 3.5, 0.6 * N_DIGITS + 1.2))
    for ax, images, title in zip(axes, (left, right), titles):
        _show_mosaic(ax, images, [f"{d}" for d in range(N_DIGITS)], None)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("sample")
    axes[0].set_ylabel("row")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig

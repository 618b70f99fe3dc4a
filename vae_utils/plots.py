"""Plotting: every figure of the notebooks, titled and labelled, plus the one way figures are saved and shown.

Functions return a matplotlib Figure; ``save_and_show`` writes it atomically and displays it. Every figure is drawn
for print: the PDF embeds it at its natural size, so ``PRINT_STYLE`` and ``FIGURE_WIDTH_IN`` keep it within the
text width with no type under ``MIN_FONT_PT``, and ``print_size_problems`` checks that. Used by notebooks 01, 03
and 04.
"""

from __future__ import annotations

import functools
import io
import math
import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator, PercentFormatter

from .data import N_DIGITS, MNISTTensors, images_per_digit
from .latent import decode_probabilities, encode_gaussian
from .model import VAE
from .paths import project_path, write_bytes
from .selection import MIN_DIGIT_ACCURACY, MIN_MEAN_ACCURACY

__all__ = [
    "plot_class_balance", "plot_confusion", "plot_course_protocol", "plot_examples_per_digit",
    "plot_generated_confusion", "plot_image_grid", "plot_intensity_histogram", "plot_judged_accuracy",
    "plot_k_sweep", "plot_kl_per_dimension", "plot_latent_projection", "plot_loss_curves", "plot_mean_images",
    "plot_reconstructions", "plot_rejected_samples", "plot_side_by_side", "plot_tradeoff", "plot_traversal",
    "print_size_problems", "save_and_show",
]

FIGURE_DPI = 150

# --- print size: one style for every figure ------------------------------------------------------------------------
TEXT_WIDTH_IN = 6.3  # the PDF's text block (16 cm); a wider PNG is scaled down, and its type with it
MAX_HEIGHT_IN = 7.7  # the report template scales figures taller than 0.8 \textheight (7.8 in) down
MIN_FONT_PT = 8.5  # the smallest type that stays comfortable on paper (the captions are set at about 9 pt)
FIGURE_WIDTH_IN = 6.0  # every figure's width: savefig's 0.1 in padding on both sides keeps the PNG under 6.3 in
TILE_IN = 0.5  # one 28 x 28 digit in an image grid, at most (smaller when a row must fit the width)
PRINT_STYLE = {
    "font.size": 9.0, "axes.titlesize": 10.0, "axes.labelsize": 9.0, "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0, "legend.fontsize": 9.0, "legend.title_fontsize": 9.0, "figure.titlesize": 11.0,
    "figure.labelsize": 9.0, "axes.titlelocation": "center",
}
plt.rcParams.update(PRINT_STYLE)  # at import: ticks created lazily at save time read these too

TRAIN_COLOR, VALIDATION_COLOR, TEST_COLOR, ORIGINAL_COLOR = "tab:blue", "tab:orange", "tab:red", "0.35"
ACTIVE_COLOR, INACTIVE_COLOR = "tab:blue", "0.7"

# Reader-facing names of ``latent.clustering_metrics``'s keys (report.py may import these; never the reverse).
METRIC_LABELS = {
    "accuracy_hungarian": "accuracy (Hungarian)", "accuracy_majority": "accuracy (majority)", "purity": "purity",
    "nmi": "NMI", "ari": "ARI",
}
SWEEP_METRICS = ("accuracy_majority", "purity", "nmi", "ari")  # Hungarian accuracy exists only for k = 10


def save_and_show(fig: Figure, path: str | os.PathLike, caption: str, label: str | None = None) -> None:
    """Save a figure atomically as PNG, then display that PNG with its caption.

    The caption travels in the output's metadata; the report's LaTeX template turns it into a numbered figure
    (``label``, default ``fig:<file stem>``, is what the text's ``@fig:...`` references point to).
    """
    from IPython.display import Image, display

    path = project_path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    display(Image(data=buffer.getvalue(), format="png"),
            metadata={"caption": caption, "label": label or f"fig:{path.stem.replace('_', '-')}"})


class _TextRecorder(RendererAgg):
    """An Agg renderer that notes every string it draws with its size: only drawn text reaches the page, so
    ticks outside the view or labels of hidden axes are not counted."""

    def __init__(self, width: float, height: float, dpi: float):
        super().__init__(width, height, dpi)
        self.texts: dict[int, tuple[str, float]] = {}

    def _note(self, s: str, prop: FontProperties, mtext) -> None:
        if s.strip():
            self.texts[id(mtext) if mtext is not None else id(s)] = (
                mtext.get_text() if mtext is not None else s, prop.get_size_in_points())

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        self._note(s, prop, mtext)
        return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    def draw_tex(self, gc, x, y, s, prop, angle, *, mtext=None):
        self._note(s, prop, mtext)
        return super().draw_tex(gc, x, y, s, prop, angle, mtext=mtext)


def print_size_problems(
    fig: Figure, max_width_in: float = TEXT_WIDTH_IN, min_font_pt: float = MIN_FONT_PT,
    max_height_in: float = MAX_HEIGHT_IN,
) -> list[str]:
    """What would make ``fig`` hard to read in the PDF: a saved size (tight bounding box plus savefig's padding,
    as ``save_and_show`` writes it) that the template must scale down, and every drawn text under ``min_font_pt``.

    An empty list means the figure prints at its natural size with every character legible.
    """
    renderer = _TextRecorder(fig.bbox.width, fig.bbox.height, fig.dpi)
    fig.draw(renderer)  # runs the layout engine too, so the measured box is the one savefig will see
    pad = plt.rcParams["savefig.pad_inches"]
    pad = float(pad) if isinstance(pad, (int, float)) else 0.0  # "layout": no padding added
    box = fig.get_tightbbox(renderer)
    width, height = box.width + 2 * pad, box.height + 2 * pad
    problems = []
    if width > max_width_in:
        problems.append(f"figure is {width:.2f} in wide as saved, over the {max_width_in:g} in text width")
    if height > max_height_in:
        problems.append(f"figure is {height:.2f} in tall as saved, over the {max_height_in:g} in the report allows")
    for text, size in renderer.texts.values():
        if size < min_font_pt:
            problems.append(f"text {text!r} is {size:g} pt, under {min_font_pt:g} pt")
    return problems


# --- layout helpers --------------------------------------------------------------------------------------------------
def _subplots(height_in: float, nrows: int = 1, ncols: int = 1, width_in: float = FIGURE_WIDTH_IN, **kwargs):
    """``plt.subplots`` at print size; constrained layout keeps outside legends and labels inside the figure,
    so the width chosen here is the width printed."""
    return plt.subplots(nrows, ncols, figsize=(min(width_in, FIGURE_WIDTH_IN), height_in), layout="constrained",
                        **kwargs)


@functools.lru_cache(maxsize=1)
def _measuring_renderer() -> RendererAgg:
    """A 1-pixel Agg canvas at 72 dpi, where one pixel is one point: measures text without a figure."""
    return RendererAgg(1, 1, 72)


def _text_width_in(text: str, size: float | str) -> float:
    """Printed width of one line of ``text`` in the default font at ``size``."""
    width, _, _ = _measuring_renderer().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return width / 72


def _wrap(text: str, width_in: float, size: float | str) -> str:
    """Break ``text`` into lines at most ``width_in`` wide: a long title must not widen the figure past the text.

    matplotlib's own ``wrap=True`` is ignored when the tight bounding box is measured, so it cannot be used here.
    """
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and _text_width_in(candidate, size) > width_in:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def _suptitle(fig: Figure, title: str) -> None:
    """The figure's title, wrapped to the figure width."""
    fig.suptitle(_wrap(title, FIGURE_WIDTH_IN - 0.2, plt.rcParams["figure.titlesize"]))


def _panel_title(ax: plt.Axes, title: str, width_in: float) -> None:
    """A panel's title, wrapped to about the panel's width so that neighbouring titles do not collide."""
    ax.set_title(_wrap(title, width_in, plt.rcParams["axes.titlesize"]))


def _grid_size(rows: int, cols: int, margin_w: float = 1.1, margin_h: float = 0.9) -> tuple[float, float]:
    """Figure size for an image grid: digits at ``TILE_IN`` unless that would exceed the page's width or height."""
    tile = min(TILE_IN, (FIGURE_WIDTH_IN - margin_w) / cols, (MAX_HEIGHT_IN - 0.3 - margin_h) / rows)
    return cols * tile + margin_w, rows * tile + margin_h


def _trim_to_images(fig: Figure, axes: Sequence[plt.Axes], rounds: int = 4) -> None:
    """Fit a figure of image mosaics to the height its images take: equal-aspect axes narrower than their layout
    box leave empty bands above and below, which a size chosen in advance cannot foresee (tick labels move with
    the images, so the layout shifts as the height changes: a few rounds settle it)."""
    for _ in range(rounds):
        fig.draw_without_rendering()  # lays out the axes and applies their aspect
        width, height = fig.get_size_inches()
        boxes = [(ax.get_position(original=True), ax.get_position(original=False)) for ax in axes]
        spare_height = min(box.height - image.height for box, image in boxes) * height
        spare_width = min(box.width - image.width for box, image in boxes) * width
        if spare_height > 0.01:  # images fill the width: drop the empty height
            fig.set_figheight(height - spare_height)
        elif spare_width > 0.01:  # images fill the height: grow until they fill the width too
            _, image = boxes[0]
            fig.set_figheight(height + spare_width * (image.height * height) / (image.width * width))
        else:
            return


def _limits(*series, margin: float = 0.06) -> tuple[float, float] | None:
    """Axis limits that just hold the finite values of ``series`` (None if there are none)."""
    values = np.concatenate([np.asarray(s, dtype=float).ravel() for s in series]) if series else np.array([])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    low, high = float(values.min()), float(values.max())
    span = high - low or max(0.05 * abs(high), 1.0)
    return low - margin * span, high + margin * span


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


def _message_figure(title: str, message: str) -> Figure:
    """A small figure that says why there is nothing to draw, so a notebook cell still shows a picture."""
    fig, ax = _subplots(1.2)
    ax.axis("off")
    ax.text(0.5, 0.5, _wrap(message, FIGURE_WIDTH_IN - 0.4, plt.rcParams["font.size"]), ha="center", va="center",
            transform=ax.transAxes)
    _suptitle(fig, title)
    return fig


# --- data ------------------------------------------------------------------------------------------------------------
def plot_class_balance(labels: torch.Tensor, title: str) -> Figure:
    """Bar chart of images per digit: shows whether any class needs reweighting (MNIST: no)."""
    counts = pd.Series(labels.numpy()).value_counts().reindex(range(N_DIGITS), fill_value=0)
    fig, ax = _subplots(2.8)
    ax.bar(counts.index, counts.values, color=TRAIN_COLOR)
    ax.set(xlabel="digit", ylabel="images", xticks=range(N_DIGITS))
    ax.bar_label(ax.containers[0], labels=[f"{value:,}" for value in counts.values], padding=1)
    ax.margins(y=0.12)  # room for the counts above the tallest bar
    _suptitle(fig, title)
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
    fig, ax = _subplots(2.8)
    ax.hist(images.flatten().numpy(), bins=50, color=TRAIN_COLOR, log=True)
    ax.set(xlabel="pixel intensity (0 = black, 1 = white)", ylabel="pixels (log scale)")
    _suptitle(fig, title)
    return fig


# --- image grids -----------------------------------------------------------------------------------------------------
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


def plot_image_grid(
    images: torch.Tensor,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> Figure:
    """Show a [rows, columns, 1, 28, 28] tensor as one labelled mosaic of grey images."""
    rows, cols = images.shape[:2]
    width, height = _grid_size(rows, cols, margin_h=0.9 + 0.2 * bool(xlabel))
    fig, ax = _subplots(height, width_in=width)
    _show_mosaic(ax, images, row_labels, column_labels)
    if xlabel:
        ax.set_xlabel(xlabel)
    _suptitle(fig, title)
    _trim_to_images(fig, [ax])
    return fig


def plot_reconstructions(model: VAE, images: torch.Tensor, title: str) -> Figure:
    """Test digits (top row) above their reconstructions sigmoid(decode(mu)) (bottom row)."""
    recon = decode_probabilities(model, encode_gaussian(model, images)[0])
    return plot_image_grid(torch.stack([images.cpu(), recon]), title, ["original", "reconstruction"])


def plot_traversal(images: torch.Tensor, dims: Sequence[int], values: torch.Tensor, title: str) -> Figure:
    """Grid of ``latent_traversal`` output [len(dims), len(values), 1, 28, 28]: one row per latent dimension."""
    values = torch.as_tensor(values).flatten().tolist()
    rows, cols = images.shape[:2]
    width, height = _grid_size(rows, cols, margin_w=1.3, margin_h=1.2)
    fig, ax = _subplots(height, width_in=width)
    _show_mosaic(ax, images, [f"z[{d}]" for d in dims], [f"{v:g}" for v in values])
    ax.set_xlabel("value of the latent coordinate")
    ax.set_ylabel("latent dimension")
    _suptitle(fig, title)
    _trim_to_images(fig, [ax])
    return fig


def plot_side_by_side(left: torch.Tensor, right: torch.Tensor, titles: tuple[str, str], suptitle: str) -> Figure:
    """Two [10, n, 1, 28, 28] digit grids next to each other, rows labelled 0-9 (e.g. chosen sampler vs the prior)."""
    widths = (left.shape[1], right.shape[1])
    tile = min(TILE_IN, (FIGURE_WIDTH_IN - 1.0) / sum(widths), (MAX_HEIGHT_IN - 2.2) / N_DIGITS)
    fig, axes = _subplots(N_DIGITS * tile + 1.4, ncols=2, gridspec_kw={"width_ratios": widths})
    for ax, images, title, cols in zip(axes, (left, right), titles, widths):
        _show_mosaic(ax, images, [f"{d}" for d in range(N_DIGITS)], None)
        _panel_title(ax, title, max(cols * tile - 0.1, 1.5))
        ax.set_xlabel("sample")
    axes[0].set_ylabel("row")
    _suptitle(fig, suptitle)
    _trim_to_images(fig, axes)
    return fig


# --- training --------------------------------------------------------------------------------------------------------
LOSS_ZOOM_FROM_EPOCH = 10  # epoch 1 sits ~150 nats above the rest: the zoomed scale starts after the steep fall
COURSE_ZOOM_FROM_EPOCH = 20
AGREEMENT_BAND_NATS = 0.5  # "the same training curve": within half a nat per image of the course report's


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
        ax.set_ylim(_limits(*drawn))
        if best_epoch is not None and start <= best_epoch <= last:
            _mark_epoch(ax, best_epoch, f"best epoch {best_epoch}" if term == "loss" else None, (start, last))
        ax.set(xlabel="epoch", ylabel="nats per image", xlim=(start, last + 0.02 * max(last - start, 1)))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8 if term == "loss" else 5, integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
        _panel_title(ax, panel, 5.5 if term == "loss" else 2.6)
    fig.legend(*axes["loss"].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    _suptitle(fig, title)
    return fig


def plot_course_protocol(history: pd.DataFrame, original: pd.DataFrame, title: str) -> Figure:
    """The course-protocol run (all 60,000 training images, no validation) against the course report's log.

    Top: both training losses (the course report's full run) and our held-out test negative ELBO, on a scale
    from epoch 20 where the curves differ by tenths of a nat; bottom: ours minus the original per epoch, with
    the +-0.5 nat band that counts as the same curve. The epoch our run has reached is marked while it runs.
    """
    reached, full = int(history["epoch"].max()), int(original["epoch"].max())
    start = _zoom_start(original["epoch"], COURSE_ZOOM_FROM_EPOCH)
    ours_start = start if reached >= 2 * start else int(history["epoch"].min())
    fig, (top, bottom) = _subplots(5.6, nrows=2, sharex=True, gridspec_kw={"height_ratios": (1.6, 1)})

    top.plot(original["epoch"], original["train_loss"], color=ORIGINAL_COLOR, linewidth=1,
             label="course report, training")
    top.plot(history["epoch"], history["train_loss"], color=TRAIN_COLOR, linewidth=1.2, label="ours, training")
    tests = history.dropna(subset=["test_loss"]) if "test_loss" in history.columns else history.iloc[:0]
    top.scatter(tests["epoch"], tests.get("test_loss", []), s=14, color=TEST_COLOR, zorder=3,
                label="ours, test negative ELBO (held out)")
    top.set_ylim(_limits(original.loc[original["epoch"] >= start, "train_loss"],
                         history.loc[history["epoch"] >= ours_start, "train_loss"],
                         tests.loc[tests["epoch"] >= ours_start, "test_loss"] if len(tests) else []))
    top.set(ylabel="nats per image")
    fitted = f" (scale fitted to epochs \u2265 {start})" if start > 1 else ""
    _panel_title(top, f"(a) negative ELBO{fitted}", 5.5)

    both = history[["epoch", "train_loss"]].merge(original[["epoch", "train_loss"]], on="epoch",
                                                   suffixes=("", "_original"))
    difference = both["train_loss"] - both["train_loss_original"]
    bottom.axhspan(-AGREEMENT_BAND_NATS, AGREEMENT_BAND_NATS, color="tab:green", alpha=0.15,
                   label=f"\u00b1{AGREEMENT_BAND_NATS:g} nat")
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.plot(both["epoch"], difference, color=TRAIN_COLOR, linewidth=1, label="ours \u2212 course report")
    bottom.set_ylim(_limits(difference[both["epoch"] >= ours_start],
                            [-1.5 * AGREEMENT_BAND_NATS, 1.5 * AGREEMENT_BAND_NATS]))
    bottom.set(xlabel="epoch", ylabel="difference\n(nats per image)", xlim=(0, full * 1.01))
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    _panel_title(bottom, "(b) training loss, ours minus the course report's", 5.5)

    if reached < full:
        for ax in (top, bottom):
            _mark_epoch(ax, reached, f"ours: epoch {reached:,} of {full:,}" if ax is top else None, (0, full))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    handles = [h for ax in (top, bottom) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    _suptitle(fig, title)
    return fig


# --- clusters and judged digits ---------------------------------------------------------------------------------------
def _heatmap(ax: plt.Axes, table: pd.DataFrame, annotations: np.ndarray | bool, fmt: str, colorbar_label: str,
             **kwargs) -> None:
    """A blue annotated heatmap with unrotated row labels: the one look of every confusion table."""
    sns.heatmap(table, annot=annotations, fmt=fmt, cmap="Blues", cbar_kws={"label": colorbar_label}, ax=ax,
                annot_kws={"size": plt.rcParams["font.size"]}, **kwargs)
    ax.tick_params(axis="y", labelrotation=0)


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
    fig, ax = _subplots(4.9)
    _heatmap(ax, table, True, "d", "images")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    _suptitle(fig, title)
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
    fig, ax = _subplots(4.9)
    _heatmap(ax, percent, percent.map(_percent_text).to_numpy(), "", "percent of the row (%)", vmin=0, vmax=100)
    ax.set(xlabel="digit judged", ylabel="digit asked for")
    _suptitle(fig, title)
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
    fig, ax = _subplots(3.8)
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
    _suptitle(fig, title)
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
        return _message_figure(title, f"None: the judge read all {verdicts.size:,} samples as the digit asked for.")
    cols = min(GALLERY_COLUMNS, len(picks))
    rows = math.ceil(len(picks) / cols)
    tile = FIGURE_WIDTH_IN / GALLERY_COLUMNS  # just wider than a two-line 9 pt title
    fig, axes = _subplots(rows * (tile + 0.3) + 0.7, nrows=rows, ncols=cols, width_in=cols * tile + 0.2,
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
    _suptitle(fig, title)
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
    fig, ax = _subplots(4.2)
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
    _suptitle(fig, title)
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
    fig, (top, bottom) = _subplots(4.8, nrows=2, sharex=True)
    for ax in (top, bottom):  # a grey column behind each inactive dimension, whose KL bar is too short to see
        for position in x[~active]:
            ax.axvspan(position - 0.5, position + 0.5, color="0.93", zorder=0)
    top.bar(x, kl[order], color=colors, hatch=hatches, edgecolor="white")
    top.set(ylabel="KL (nats per image)")
    _panel_title(top, r"(a) mean KL of $q(z_j\,|\,x)$ from $\mathcal{N}(0, 1)$", 5.5)
    shown = np.clip(variance[order], 1e-8, None)  # a log axis cannot show a variance of exactly zero
    bottom.bar(x, shown, color=colors, hatch=hatches, edgecolor="white")
    bottom.set_yscale("log")
    bottom.set_ylim(min(shown.min(), threshold) / 3, max(shown.max(), threshold) * 3)
    bottom.axhline(threshold, color=TEST_COLOR, linestyle="--", linewidth=1)
    bottom.set(ylabel="variance over images\nof the mean $\\mu_j$", xlabel="latent dimension $j$ (sorted by KL)",
               xticks=x, xticklabels=[str(j) for j in order])
    _panel_title(bottom, "(b) variance of the posterior mean over the test images", 5.5)
    handles = [Patch(color=ACTIVE_COLOR, label=f"active: $\\mathrm{{Var}}_x(\\mu_j) > {threshold:g}$"),
               Patch(facecolor=INACTIVE_COLOR, hatch="///", edgecolor="white", label="inactive"),
               Line2D([], [], color=TEST_COLOR, linestyle="--", label=f"threshold {threshold:g}")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    _suptitle(fig, title)
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
    names = {raw: METRIC_LABELS[raw] for raw in SWEEP_METRICS}
    table = df.rename(columns=names)
    curves = _distinct_curves(table, [names[m] for m in SWEEP_METRICS if names[m] in table.columns])
    colors = dict(zip(curves, sns.color_palette("tab10", len(curves))))
    ks = sorted(int(k) for k in table["k"].unique())
    split_styles = {"train": {"linestyle": "-", "marker": "o"}, "test": {"linestyle": "--", "marker": "s"}}
    splits = list(dict.fromkeys(table["split"]))
    fig, ax = _subplots(3.6)
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
                       label=_wrap(label.replace(" = ", " =\n"), 1.6, plt.rcParams["legend.fontsize"]))
                for label in curves]
               + [Line2D([], [], color="0.3", markersize=4, label=split, **split_styles.get(split, {"marker": "^"}))
                  for split in splits])
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _suptitle(fig, title)
    return fig


# --- choosing a sampler ----------------------------------------------------------------------------------------------
def _tradeoff_curves(ax: plt.Axes, comparison: pd.DataFrame, chosen: pd.Series | None) -> None:
    """One curve per sampler through its temperatures (recall grows with T, so T rises left to right), the chosen
    point ringed. Temperatures are named once in the legend's title: labels at every point would pile up."""
    for (name, group), color in zip(comparison.groupby("sampler", sort=False), sns.color_palette("tab10")):
        group = group.sort_values("temperature")
        ax.plot(group["recall"], group["accuracy"], marker="o", markersize=4, color=color,
                label=_wrap(str(name), FIGURE_WIDTH_IN / 2 - 0.5, plt.rcParams["legend.fontsize"]))
    if chosen is not None:
        ax.scatter([chosen["recall"]], [chosen["accuracy"]], s=200, facecolors="none", edgecolors="black",
                   linewidths=1.5, label=f"chosen operating point (T = {chosen['temperature']:g})", zorder=5)
    ax.axhline(MIN_MEAN_ACCURACY, color="tab:green", linestyle="--", linewidth=1,
               label=f"rule: mean \u2265 {MIN_MEAN_ACCURACY:.1%}")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set(xlabel="mean recall\n(share of real test digits reached)")
    ax.grid(alpha=0.3)


def plot_tradeoff(comparison: pd.DataFrame, chosen: pd.Series | None = None, zoom_from: float = 0.9,
                  title: str = "Correct against diverse: judged accuracy and recall over temperature") -> Figure:
    """Lower temperature buys accuracy with recall: every sampler on the left, the competitive band
    (mean accuracy above ``zoom_from``, where the rule chooses) enlarged on the right."""
    n_entries = comparison["sampler"].nunique() + 1 + (chosen is not None)
    fig, (overview, zoom) = _subplots(3.8 + 0.22 * math.ceil(n_entries / 2), ncols=2)
    _tradeoff_curves(overview, comparison, chosen)
    _tradeoff_curves(zoom, comparison, chosen)
    overview.set_ylabel("mean judged accuracy")
    overview.set_title("(a) all samplers")
    band = comparison[comparison["accuracy"] >= zoom_from]
    if not band.empty:
        margin = 0.02 * max(band["recall"].max() - band["recall"].min(), 0.1)
        zoom.set_xlim(band["recall"].min() - margin, band["recall"].max() + 4 * margin)
    zoom.set_ylim(zoom_from, 1.003)
    zoom.set_title(f"(b) enlarged: accuracy above {zoom_from:.0%}")
    temperatures = sorted(comparison["temperature"].unique())
    handles, labels = overview.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False,
               title=f"temperature T from {temperatures[0]:g} (left) to {temperatures[-1]:g} (right) on each curve")
    _suptitle(fig, title)
    return fig

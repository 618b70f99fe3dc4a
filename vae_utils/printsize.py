"""Figures sized for the printed report: one style, the layout helpers every figure uses, and saving a figure with
its caption.

The PDF embeds every figure at its natural size, so ``PRINT_STYLE`` and ``FIGURE_WIDTH_IN`` keep it within the
text width with no type under ``MIN_FONT_PT`` (the report's build checks it: ``report_tools.figure_checks``).
The figures themselves are in ``plots`` and ``plots_generation``; notebooks show them with ``save_and_show``.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import oxipng
import pandas as pd
import seaborn as sns
import torch
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from .paths import project_path, write_bytes

__all__ = ["save_and_show"]

FIGURE_DPI = 150

# --- print size: one style for every figure --------------------------------------------------------------------------
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

# one colour per series, the same in every figure
TRAIN_COLOR, VALIDATION_COLOR, TEST_COLOR, ORIGINAL_COLOR = "tab:blue", "tab:orange", "tab:red", "0.35"
ACTIVE_COLOR, INACTIVE_COLOR = "tab:blue", "0.7"


def save_and_show(fig: Figure, path: str | os.PathLike, caption: str, label: str | None = None) -> None:
    """Save a figure atomically as PNG, then display that PNG with its title and caption below it.

    The figure's title (``figure_title``) is taken out of the picture before saving: on the printed page the caption
    says what the figure shows, and a title inside it would say it twice. In the notebook the title and caption are
    shown as text under the picture instead. The caption also travels in the output's metadata; the report's LaTeX
    template turns it into a numbered figure (``label``, default ``fig:<file stem>``, is what the text's
    ``@fig:...`` references point to).
    """
    from IPython.display import Image, Markdown, display

    path = project_path(path)
    title = _take_out_title(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    png = palette_png(buffer.getvalue())
    write_bytes(path, png)
    display(Image(data=png, format="png"),
            metadata={"caption": caption, "label": label or f"fig:{path.stem.replace('_', '-')}"})
    display(Markdown(f"**{title}.** {caption}" if title else caption))


def _take_out_title(fig: Figure) -> str:
    """The figure's title (one line, as written), removed from the figure so that it neither prints nor takes space."""
    title = fig.get_suptitle()
    if title:
        fig.suptitle("").set(visible=False, in_layout=False)
    return " ".join(title.split()).rstrip(".")


def palette_png(png: bytes) -> bytes:
    """The same picture as a 256-colour palette PNG, its resolution (dpi) kept, compressed losslessly by oxipng.

    A figure holds few colours (a handful of series, grey digits, antialiased edges), so a palette loses nothing
    visible and makes the PNG about 60% smaller. Every figure is embedded in an executed notebook in ``report/``
    as base64; full-colour PNGs made ``report/04_latent_space.ipynb`` 1.8 MiB, and palette PNGs still 1.06 MiB
    once the run-to-run and conditional-VAE sections were in. oxipng's search for the best PNG encoding makes
    the same pixels about 12% smaller again (0.13 s a figure). The dpi must survive: the PDF embeds each figure at
    its natural size, which LaTeX reads from it.
    """
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as image:
        dpi = image.info.get("dpi")
        opaque = PILImage.new("RGB", image.size, "white")
        opaque.paste(image.convert("RGBA"), mask=image.convert("RGBA"))  # a transparent pixel prints as white
    palette = opaque.quantize(256, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", **({"dpi": dpi} if dpi else {}))
    return oxipng.optimize_from_memory(out.getvalue(), level=2)


# --- layout helpers --------------------------------------------------------------------------------------------------
def subplots(height_in: float, nrows: int = 1, ncols: int = 1, width_in: float = FIGURE_WIDTH_IN, **kwargs):
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


def wrap(text: str, width_in: float, size: float | str) -> str:
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


def figure_title(fig: Figure, title: str) -> None:
    """The figure's title, wrapped to the figure width."""
    fig.suptitle(wrap(title, FIGURE_WIDTH_IN - 0.2, plt.rcParams["figure.titlesize"]))


def panel_title(ax: plt.Axes, title: str, width_in: float) -> None:
    """A panel's title, wrapped to about the panel's width so that neighbouring titles do not collide."""
    ax.set_title(wrap(title, width_in, plt.rcParams["axes.titlesize"]))


def grid_size(rows: int, cols: int, margin_w: float = 1.1, margin_h: float = 0.9) -> tuple[float, float]:
    """Figure size for an image grid: digits at ``TILE_IN`` unless that would exceed the page's width or height."""
    tile = min(TILE_IN, (FIGURE_WIDTH_IN - margin_w) / cols, (MAX_HEIGHT_IN - 0.3 - margin_h) / rows)
    return cols * tile + margin_w, rows * tile + margin_h


def trim_to_images(fig: Figure, axes: Sequence[plt.Axes], rounds: int = 4) -> None:
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


def limits(*series, margin: float = 0.06) -> tuple[float, float] | None:
    """Axis limits that just hold the finite values of ``series`` (None if there are none)."""
    values = np.concatenate([np.asarray(s, dtype=float).ravel() for s in series]) if series else np.array([])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    low, high = float(values.min()), float(values.max())
    span = high - low or max(0.05 * abs(high), 1.0)
    return low - margin * span, high + margin * span


def message_figure(title: str, message: str) -> Figure:
    """A small figure that says why there is nothing to draw, so a notebook cell still shows a picture."""
    fig, ax = subplots(1.2)
    ax.axis("off")
    ax.text(0.5, 0.5, wrap(message, FIGURE_WIDTH_IN - 0.4, plt.rcParams["font.size"]), ha="center", va="center",
            transform=ax.transAxes)
    figure_title(fig, title)
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


def show_mosaic(
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


# --- tables ----------------------------------------------------------------------------------------------------------
def heatmap(ax: plt.Axes, table: pd.DataFrame, annotations: np.ndarray | bool, fmt: str, colorbar_label: str,
            **kwargs) -> None:
    """A blue annotated heatmap with unrotated row labels: the one look of every confusion table."""
    sns.heatmap(table, annot=annotations, fmt=fmt, cmap="Blues", cbar_kws={"label": colorbar_label}, ax=ax,
                annot_kws={"size": plt.rcParams["font.size"]}, **kwargs)
    ax.tick_params(axis="y", labelrotation=0)

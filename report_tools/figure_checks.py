"""The check that a figure prints legibly: its saved size within the PDF's text block and no type under 8.5 pt.

Used by ``scripts/check_report.py`` and the tests of every figure; the print style itself is
``vae_utils.printsize``'s, which draws the figures to pass this check.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from vae_utils.printsize import MAX_HEIGHT_IN, MIN_FONT_PT, TEXT_WIDTH_IN

__all__ = ["print_size_problems"]


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

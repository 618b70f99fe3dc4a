"""How the report sets a notebook's table on the page: LaTeX column layouts by table label, and the table float.

The notebooks emit each table as data with its caption (``vae_utils.tables.show_table``); the layout, which columns
wrap and at what width, is decided here, by the builder (``scripts/build_report.py``), not in a notebook.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

__all__ = ["TABLE_LAYOUTS", "column_format", "table_latex", "wrapped"]

_LATEX_SPECIALS = str.maketrans({c: "\\" + c for c in "&%$#_{}"})


def wrapped(share: float, align: str = "left") -> str:
    """A LaTeX column that wraps its text at ``share`` of the text width: ragged-right for text,
    ``align="right"`` for numbers under a header that wraps."""
    ragged = {"left": r"\raggedright", "right": r"\raggedleft"}[align]
    return rf">{{{ragged}\arraybackslash}}p{{{share}\linewidth}}"


# Tables whose text would overrun the page with LaTeX's natural widths, by label: column count -> column spec.
TABLE_LAYOUTS: dict[str, Callable[[int], str]] = {
    "tbl:training-details": lambda n: r"lp{0.62\linewidth}",
    "tbl:judges-spec": lambda n: wrapped(0.2) + wrapped(0.27) + wrapped(0.27) + "r",
    "tbl:samplers": lambda n: wrapped(0.22) + wrapped(0.72),
    "tbl:sampler-key": lambda n: wrapped(0.22) + "r" * (n - 3) + wrapped(0.1, "right") + wrapped(0.06, "right"),
    "tbl:sampler-sweep": lambda n: wrapped(0.25) + "r" * (n - 1),
    "tbl:summary": lambda n: wrapped(0.2) + "r" * (n - 1),
    "tbl:sources": lambda n: wrapped(0.2) + "r" * (n - 1),
    "tbl:judges": lambda n: "l" + wrapped(0.085) * (n - 1),
    "tbl:copying": lambda n: "ll" + wrapped(0.1, "right") * 2 + wrapped(0.13, "right") * 2 + wrapped(0.07, "right"),
    "tbl:claims": lambda n: wrapped(0.17) + wrapped(0.3) + wrapped(0.45),
    "tbl:protocol": lambda n: wrapped(0.26) + wrapped(0.33) + wrapped(0.33),
    "tbl:seeds-generation": lambda n: wrapped(0.2) + wrapped(0.13) * (n - 3) + "rr",
    "tbl:label-budget": lambda n: wrapped(0.14) + "rr" + wrapped(0.115, "right") * (n - 3),
}


def column_format(label: str | None, n_columns: int) -> str | None:
    """The LaTeX column spec of a table by its label, or None for LaTeX's natural widths."""
    layout = TABLE_LAYOUTS.get(label or "")
    return layout(n_columns) if layout else None


def table_latex(text: pd.DataFrame, caption: str, column_format: str | None = None, label: str | None = None,
                landscape: bool = False, caption_is_latex: bool = False, placement: str = "htbp") -> str:
    """A booktabs table that cannot leave the page: a float placed near its mention, caption bound to it, fitted to
    the text. ``placement``: LaTeX's float placement; "H" (the float package) keeps a table exactly where the text
    puts it, as under an appendix heading.

    Set in \\small (10 pt); only a table wider than the text is shrunk, and the report's PDF check refuses any
    text below 8 pt, so a table too wide for that must be split or moved to the landscape appendix.
    ``caption_is_latex``: the caption is LaTeX already (the paper's, converted by pandoc), not plain text.
    """
    tabular = text.to_latex(index=False, escape=True, column_format=column_format)
    label_line = f"\\label{{{label}}}\n" if label else ""
    table = (
        f"\\begin{{table}}[{placement}]\n\\centering\\small\n"
        f"\\caption{{{caption if caption_is_latex else caption.translate(_LATEX_SPECIALS)}}}\n{label_line}"
        "\\begin{adjustbox}{max width=\\linewidth, max totalheight=0.8\\textheight}\n"
        f"{tabular}\\end{{adjustbox}}\n\\end{{table}}\n"
    )
    return f"\\begin{{landscape}}\n{table}\\end{{landscape}}\n" if landscape else table

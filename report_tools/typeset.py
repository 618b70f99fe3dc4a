"""How the report sets a notebook's table on the page: LaTeX column layouts by table label, and the table float.

The notebooks emit each table as data with its caption (``vae_utils.tables.show_table``); the layout, which columns
wrap and at what width, is decided here, by the builder (``scripts/build_report.py``), not in a notebook.
"""

from __future__ import annotations

import re
from typing import Callable

import pandas as pd

__all__ = ["FOLDED_TABLES", "TABLE_LAYOUTS", "column_format", "fold_numbered_rows", "table_latex", "wrapped"]

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
    "tbl:label-budget": lambda n: wrapped(0.11) + wrapped(0.07, "right") + wrapped(0.065, "right") + "r" * (n - 3),
}


# Tables whose rows that differ only in a number (k-means 10, 50, 100, 200) are printed as one row.
FOLDED_TABLES = frozenset({"tbl:samplers"})
_NUMBERED_NAME = re.compile(r"^(?P<stem>.*?)(?P<number>\d+)$")


def fold_numbered_rows(frame: pd.DataFrame, symbol: str = "k") -> pd.DataFrame:
    """Rows whose name (first column) ends in a number and whose other cells are the same sentence with that number
    in place become one row, "k-means k (k = 10, 50, 100, 200)", its sentences with ``symbol`` for the number: one
    sentence printed four times says nothing a reader needs four times. Other rows stay, in their order."""
    name, rest = frame.columns[0], list(frame.columns[1:])
    groups: dict[tuple, list[tuple[int, str]]] = {}
    for index, row in frame.iterrows():
        match = _NUMBERED_NAME.match(str(row[name]))
        if match:
            number = match["number"]
            shape = (match["stem"], *(re.sub(rf"\b{number}\b", symbol, str(row[c])) for c in rest))
            groups.setdefault(shape, []).append((index, number))
    folded, skip = {}, set()
    for shape, members in groups.items():
        if len(members) >= 2:
            numbers = ", ".join(number for _, number in members)
            folded[members[0][0]] = [f"{shape[0]}{symbol} ({symbol} = {numbers})", *shape[1:]]
            skip.update(index for index, _ in members[1:])
    rows = [folded.get(index, list(row)) for index, row in frame.iterrows() if index not in skip]
    return pd.DataFrame(rows, columns=frame.columns)


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
    if text.columns.empty:  # a comparison with nothing to compare yet (a smoke run): say so instead of no table
        text, column_format = pd.DataFrame({"": ["no rows yet"]}), "l"
    tabular = text.to_latex(index=False, escape=True, column_format=column_format)
    label_line = f"\\label{{{label}}}\n" if label else ""
    table = (
        f"\\begin{{table}}[{placement}]\n\\centering\\small\n"
        f"\\caption{{{caption if caption_is_latex else caption.translate(_LATEX_SPECIALS)}}}\n{label_line}"
        "\\begin{adjustbox}{max width=\\linewidth, max totalheight=0.8\\textheight}\n"
        f"{tabular}\\end{{adjustbox}}\n\\end{{table}}\n"
    )
    return f"\\begin{{landscape}}\n{table}\\end{{landscape}}\n" if landscape else table

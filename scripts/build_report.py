#!/usr/bin/env python
"""Merge the executed report notebooks into one notebook and render it to PDF.

Why this script exists
----------------------
The course report is written as several notebooks (data exploration, training,
generation, latent space) that papermill executes one by one. A reader wants
*one* PDF without code, prompts, progress bars or papermill's parameter cells.
nbconvert alone converts one notebook at a time and shows code by default, so
this script:

1. builds one merged notebook: a first markdown cell with ``--intro`` followed
   by every kept cell of each ``--notebooks`` entry, in order;
2. drops cells and outputs that do not belong in a printed report (see
   ``DROP_CELL_TAGS`` and ``clean_outputs``) and turns pandas HTML tables into
   LaTeX ``booktabs`` tables, because LaTeX cannot render ``text/html``;
3. writes the merged notebook next to the PDF (``report.ipynb``) so the exact
   input of the PDF can be inspected in JupyterLab;
4. renders it with nbconvert's ``PDFExporter`` (xelatex) through the custom
   template in ``report/template/``.

Both files are written atomically (temporary file + ``os.replace``) so an
interrupted run never leaves a truncated notebook or PDF behind.

Example::

    python scripts/build_report.py \\
        --notebooks report/01_data_exploration.ipynb report/02_training.ipynb \\
                    report/03_generation.ipynb report/04_latent_space.ipynb \\
        --intro report/intro.md --output report/report.pdf \\
        --title "A convolutional VAE for MNIST" --author "Jane Doe"
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence

import nbformat
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE_DIR = REPO_ROOT / "report" / "template"
INSTALL_HINT = "scripts/install_pdf_tools.sh"
DEFAULT_TITLE = "A convolutional VAE for MNIST"

#: Cells carrying any of these tags are left out of the report entirely.
#: ``parameters`` / ``injected-parameters`` are papermill's; ``remove-cell`` is
#: the Jupyter Book / nbconvert TagRemovePreprocessor convention;
#: ``report-skip`` is this project's own "keep in the notebook, not in the PDF".
DROP_CELL_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "report-skip"})
#: Code cells with this tag keep their place but lose all outputs.
DROP_OUTPUT_TAGS = frozenset({"remove-output"})

#: Interactive widgets (tqdm.auto / ipywidgets progress bars) cannot be printed.
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"

#: ``text/plain`` results that are only Python object reprs, such as
#: ``<matplotlib.legend.Legend at 0x7f...>``, ``Text(0.5, 1.0, 'title')``,
#: ``[<matplotlib.lines.Line2D at 0x...>]`` or ``<Figure size 640x480 with 1 Axes>``:
#: they appear when a cell ends with a plotting call and are noise in a report.
JUNK_REPR_RE = re.compile(
    r"""^\s*(
        \[?\s*<[^<>]*\ at\ 0x[0-9a-fA-F]+>.*  # <... at 0x...>, lists of them
      | <Figure\ size\ [^>]*>                  # figure without image output
      | <IPython\.core\.display\.[A-Za-z]+\ object>
      | (Text|Legend)\(.*\)                    # matplotlib Text(...) results
    )\s*$""",
    re.VERBOSE | re.DOTALL,
)

#: A tqdm text progress bar line, e.g. `` 40%|████      | 4/10 [00:01<00:02, 3.1it/s]``.
TQDM_LINE_RE = re.compile(r"\d+%\|.*\|\s*\d+(\.\d+)?[kMG]?/\d*(\.\d+)?[kMG]?\s*\[")

#: Tables longer than this (and not wider than LONGTABLE_MAX_COLS) become longtables.
LONGTABLE_MIN_ROWS = 40
LONGTABLE_MAX_COLS = 8

LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}
NUMERIC_CELL_RE = re.compile(
    r"^[-+−]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*%?$|^(nan|NaN|<NA>|NaT|None|[-+]?inf|\.\.\.|…)$"
)


class ReportBuildError(RuntimeError):
    """A problem the user can fix (missing tool, bad input); printed without traceback."""


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def default_date() -> str:
    """Today's date as printed on the title page, e.g. ``23 November 2025``."""
    today = dt.date.today()
    return f"{today.day} {today:%B %Y}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (kept separate so tests can call ``main([...])``)."""
    parser = argparse.ArgumentParser(
        description="Merge executed notebooks into one code-free notebook and render it to PDF.",
    )
    parser.add_argument(
        "--notebooks", nargs="+", required=True, type=Path,
        help="executed notebooks, in report order",
    )
    parser.add_argument("--intro", type=Path, help="markdown file that becomes the first cell")
    parser.add_argument("--output", type=Path, default=Path("report/report.pdf"), help="PDF to write")
    parser.add_argument(
        "--merged-notebook", type=Path, default=None,
        help="where to write the merged notebook (default: OUTPUT with .ipynb suffix)",
    )
    parser.add_argument(
        "--title", default=None,
        help=f"title page title (default: 'title:' in the intro front matter, else {DEFAULT_TITLE!r})",
    )
    parser.add_argument(
        "--author", action="append", default=None,
        help="author name; repeat the option for several authors",
    )
    parser.add_argument("--date", default=None, help="date on the title page (default: today)")
    parser.add_argument(
        "--template-dir", type=Path, default=DEFAULT_TEMPLATE_DIR,
        help="nbconvert LaTeX template directory (default: report/template)",
    )
    parser.add_argument("--toc", action="store_true", help="add a table of contents after the title page")
    parser.add_argument(
        "--no-section-numbers", action="store_true",
        help="do not number the sections made from markdown headings",
    )
    parser.add_argument(
        "--keep-tex", action="store_true",
        help="also write the generated LaTeX to report/build/ (always done when xelatex fails)",
    )
    parser.add_argument(
        "--notebook-only", action="store_true",
        help="only write the merged notebook; skip the PDF (no LaTeX needed)",
    )
    return parser.parse_args(argv)


# --------------------------------------------------------------------------
# Toolchain
# --------------------------------------------------------------------------


def missing_programs(programs: Sequence[str] = ("xelatex", "pandoc")) -> list[str]:
    """Return the programs nbconvert's PDF export needs but cannot find on PATH."""
    return [prog for prog in programs if shutil.which(prog) is None]


def require_toolchain() -> None:
    """Fail early, naming the missing program, instead of deep inside nbconvert.

    nbconvert only discovers a missing pandoc/xelatex halfway through the export
    and reports it with a generic message; checking first saves the user the
    wait and tells them exactly what to install.
    """
    missing = missing_programs()
    if missing:
        raise ReportBuildError(
            f"cannot render the PDF: {', '.join(missing)} not found on PATH.\n"
            f"Install the PDF toolchain with:  bash {INSTALL_HINT}\n"
            "(or run with --notebook-only to write just the merged notebook)."
        )


# --------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------


def read_notebook(path: Path) -> NotebookNode:
    """Read a notebook as nbformat v4; warn when it looks unexecuted.

    An unexecuted notebook would silently produce a report without figures, so
    say so on stderr (it is not an error: a notebook may be pure markdown).
    """
    if not path.is_file():
        raise ReportBuildError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if code_cells and not any(c.get("outputs") for c in code_cells):
        print(f"warning: {path} has no outputs at all - was it executed?", file=sys.stderr)
    return nb


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split an optional ``---`` YAML-style header off a markdown file.

    Only flat ``key: value`` lines are understood (title, author, date); that
    is enough for defaults and avoids a YAML dependency. The header must not
    reach pandoc, which would render it as a horizontal rule and text.
    """
    match = re.match(r"\A---\s*\n(.*?)\n(---|\.\.\.)\s*(\n|\Z)", text, re.DOTALL)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end():]


# --------------------------------------------------------------------------
# HTML table -> LaTeX (pandas DataFrame / Styler display)
# --------------------------------------------------------------------------


@dataclass
class HtmlCell:
    """One ``<th>``/``<td>`` of an HTML table."""

    text: str = ""
    is_header: bool = False
    colspan: int = 1
    rowspan: int = 1


@dataclass
class HtmlTable:
    """The rows of the first table in an HTML snippet, split into head and body."""

    caption: str = ""
    head: list[list[HtmlCell]] = field(default_factory=list)
    body: list[list[HtmlCell]] = field(default_factory=list)


class _TableParser(HTMLParser):
    """Collect the first ``<table>`` of pandas' HTML repr with the stdlib parser.

    pandas' ``to_html``/Styler output is regular (thead/tbody, th/td with
    colspan/rowspan for MultiIndex), so a small state machine is enough and the
    project needs neither lxml nor BeautifulSoup.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.table: HtmlTable | None = None
        self._depth = 0          # nesting depth of <table>
        self._done = False
        self._skip = 0           # inside <style>/<script>
        self._in_head = False
        self._saw_thead = False
        self._in_caption = False
        self._row: list[HtmlCell] | None = None
        self._cell: HtmlCell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
            return
        if self._done:
            return
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.table = HtmlTable()
            return
        if self._depth != 1 or self.table is None:
            return
        attr = {k: (v or "") for k, v in attrs}
        if tag == "thead":
            self._in_head = self._saw_thead = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = HtmlCell(
                is_header=(tag == "th"),
                colspan=_int_attr(attr.get("colspan")),
                rowspan=_int_attr(attr.get("rowspan")),
            )
        elif tag == "br" and self._cell is not None:
            self._cell.text += " "

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
            return
        if self._done or self.table is None:
            return
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._done = True
        elif self._depth != 1:
            return
        elif tag == "thead":
            self._in_head = False
        elif tag == "caption":
            self._in_caption = False
        elif tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._cell.text = " ".join(self._cell.text.split())
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            # Without <thead>, leading all-<th> rows are the header.
            is_head = self._in_head or (
                not self._saw_thead and not self.table.body
                and bool(self._row) and all(c.is_header for c in self._row)
            )
            (self.table.head if is_head else self.table.body).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip or self._done or self.table is None or self._depth != 1:
            return
        if self._cell is not None:
            self._cell.text += data
        elif self._in_caption:
            self.table.caption += data


def _int_attr(value: str | None) -> int:
    """Parse a colspan/rowspan attribute, defaulting to 1 for junk values."""
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def escape_latex(text: str) -> str:
    """Escape LaTeX special characters in plain text from a table cell."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def _expand_rowspans(rows: list[list[HtmlCell]]) -> list[list[HtmlCell | None]]:
    """Place cells on a grid: ``None`` marks a slot covered by a rowspan/colspan.

    MultiIndex rows use rowspan for the outer level; in print the outer label is
    shown once and the slots below it stay empty, as in JupyterLab.
    """
    grid: list[list[HtmlCell | None]] = []
    pending: dict[int, int] = {}  # column -> rows still covered by a rowspan above
    for row in rows:
        out: list[HtmlCell | None] = []
        cells = iter(row)
        col = 0
        while True:
            if pending.get(col, 0) > 0:
                pending[col] -= 1
                out.append(HtmlCell(text=""))
                col += 1
                continue
            cell = next(cells, None)
            if cell is None:
                break
            out.append(cell)
            if cell.rowspan > 1:
                for c in range(col, col + cell.colspan):
                    pending[c] = cell.rowspan - 1
            out.extend([None] * (cell.colspan - 1))
            col += cell.colspan
        # rowspans that reach past the end of this (short) row
        for c in sorted(k for k, v in pending.items() if v > 0 and k >= col):
            out.extend([HtmlCell(text="")] * (c - len(out)) + [HtmlCell(text="")])
            pending[c] -= 1
        grid.append(out)
    return grid


def _column_alignments(body: list[list[HtmlCell | None]], ncols: int) -> str:
    """Right-align columns whose body cells are all numbers; left-align the rest."""
    aligns = []
    for col in range(ncols):
        texts = [
            row[col].text for row in body
            if col < len(row) and row[col] is not None and not row[col].is_header  # type: ignore[union-attr]
        ]
        values = [t for t in texts if t]
        numeric = bool(values) and all(NUMERIC_CELL_RE.match(t) for t in values)
        aligns.append("r" if numeric else "l")
    return "".join(aligns)


def _latex_row(row: list[HtmlCell | None], ncols: int, header: bool) -> str:
    """Render one grid row as a tabular line, using \\multicolumn for colspans."""
    parts: list[str] = []
    for cell in row:
        if cell is None:
            continue  # covered by the previous cell's colspan
        text = escape_latex(cell.text)
        if cell.colspan > 1:
            parts.append(rf"\multicolumn{{{cell.colspan}}}{{c}}{{{text}}}")
        else:
            parts.append(text)
    used = sum((c.colspan if c is not None else 0) for c in row)
    parts.extend([""] * max(0, ncols - used))
    line = " & ".join(parts) + r" \\"
    if header:
        rules = []
        col = 1
        for cell in row:
            if cell is None:
                continue
            if cell.colspan > 1 and cell.text:
                rules.append(rf"\cmidrule(lr){{{col}-{col + cell.colspan - 1}}}")
            col += cell.colspan
        if rules:
            line += "\n" + " ".join(rules)
    return line


def _merge_index_name_row(head: list[list[HtmlCell | None]]) -> list[list[HtmlCell | None]]:
    """Fold pandas' separate index-name header row into the column-name row.

    pandas prints a named index as a second header row (``digit`` followed by
    empty cells) under a row whose index slots are empty. In print one row
    reads better: ``digit | n_train | ...``. Only done when the slots line up.
    """
    if len(head) < 2:
        return head
    above, last = head[-2], head[-1]
    if len(above) != len(last):
        return head
    texts = [c.text if c is not None else None for c in last]
    n_index = 0
    while n_index < len(texts) and texts[n_index]:
        n_index += 1
    rest_empty = all(not t for t in texts[n_index:])
    slots_free = all(c is not None and not c.text and c.colspan == 1 for c in above[:n_index])
    if n_index == 0 or not rest_empty or not slots_free:
        return head
    merged = list(last[:n_index]) + list(above[n_index:])
    return head[:-2] + [merged]


def html_table_to_latex(html: str) -> str | None:
    """Convert the first HTML ``<table>`` (a pandas DataFrame/Styler repr) to a booktabs tabular.

    Returns ``None`` when there is no usable table, so the caller can fall
    back to ``text/plain``. The result is a bare ``tabular`` (or a
    ``longtable`` for long, narrow tables); ``fit_tabular`` later centres it
    and shrinks it to the text block.
    """
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    table = parser.table
    if table is None or not (table.head or table.body):
        return None
    head = _expand_rowspans(table.head)
    body = _expand_rowspans(table.body)
    ncols = max(len(r) for r in head + body)
    if ncols == 0:
        return None
    # Drop an all-empty header row (pandas emits one for unnamed column index levels).
    head = _merge_index_name_row([r for r in head if any(c is not None and c.text for c in r)])
    aligns = _column_alignments(body, ncols)
    caption = escape_latex(" ".join(table.caption.split()))
    caption_row = rf"\multicolumn{{{ncols}}}{{c}}{{\itshape {caption}}} \\[2pt]" if caption else ""
    header = [r"\toprule", *(_latex_row(r, ncols, header=True) for r in head)]
    if head:
        header.append(r"\midrule")
    rows = [_latex_row(r, ncols, header=False) for r in body]

    if len(body) > LONGTABLE_MIN_ROWS and ncols <= LONGTABLE_MAX_COLS:
        # Long and narrow: a longtable breaks across pages at full size and
        # repeats the header, instead of being shrunk onto one page.
        lines = [rf"\begin{{longtable}}{{{aligns}}}"]
        lines += ([caption_row] if caption else []) + header + [r"\endfirsthead"]
        lines += header + [r"\endhead", r"\bottomrule", r"\endlastfoot"]
        lines += rows + [r"\end{longtable}"]
    else:
        lines = [rf"\begin{{tabular}}{{{aligns}}}"]
        lines += ([caption_row] if caption else []) + header
        lines += rows + [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


FIT_BOX_OPEN = r"\begin{adjustbox}{max totalsize={\linewidth}{0.85\textheight}}"
FIT_BOX_CLOSE = r"\end{adjustbox}"
TABULAR_RE = re.compile(r"\\begin\{tabular\}.*?\\end\{tabular\}", re.DOTALL)


def fit_tabular(tex: str) -> str:
    """Shrink a LaTeX ``tabular`` to the text block so wide or long tables are never cut off.

    The tabular itself (not the whole output) goes into an ``adjustbox``,
    because outputs such as ``vae_utils.show_table`` put a caption line and a
    ``center`` environment around it, and paragraph material cannot live in a
    box. A bare tabular is also centred. Floats (``table``), ``longtable``
    (cannot be boxed; breaks across pages instead), nested or several tabulars,
    and output already using adjustbox are left untouched.
    """
    if (
        tex.count(r"\begin{tabular}") != 1
        or tex.count(r"\end{tabular}") != 1
        or re.search(r"\\begin\{(table|longtable|adjustbox)", tex)
    ):
        return tex
    match = TABULAR_RE.search(tex)
    if match is None:
        return tex
    boxed = f"{FIT_BOX_OPEN}\n{match.group(0)}\n{FIT_BOX_CLOSE}"
    if not tex[: match.start()].strip() and not tex[match.end():].strip():
        return f"\\begin{{center}}\n{boxed}\n\\end{{center}}\n"
    return tex[: match.start()] + boxed + tex[match.end():]


def latex_table_looks_unescaped(tex: str) -> bool:
    """Detect pandas LaTeX made without ``styler.format.escape='latex'``.

    ``DataFrame.to_latex()`` does not escape by default, so a column called
    ``test_loss`` produces a bare ``_`` and xelatex aborts. Such output is
    replaced by our own (escaped) conversion of the HTML table.
    """
    stripped = re.sub(r"\\[\\_%#&$]", "", tex)            # escaped specials / row ends
    stripped = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", stripped)  # inline math
    return bool(re.search(r"[_#%^]", stripped))


# --------------------------------------------------------------------------
# Cleaning cells and outputs
# --------------------------------------------------------------------------


def cell_tags(cell: NotebookNode) -> set[str]:
    """Tags of a cell (empty set when it has none)."""
    return set(cell.get("metadata", {}).get("tags", []))


def should_drop_cell(cell: NotebookNode) -> bool:
    """True for papermill parameter cells and cells tagged to stay out of the report."""
    return bool(cell_tags(cell) & DROP_CELL_TAGS)


def clean_stream_text(text: str) -> str:
    """Render carriage returns as a terminal would and drop tqdm bar lines.

    Progress bars printed to stdout leave ``\\r``-separated frames; only the
    last frame of each line is what a human saw, and even that is noise in print.
    """
    lines = []
    for line in text.split("\n"):
        line = line.rstrip("\r").split("\r")[-1]
        if TQDM_LINE_RE.search(line):
            continue
        lines.append(line)
    return "\n".join(lines)


def clean_output(output: NotebookNode) -> NotebookNode | None:
    """Return the output as it should appear in the PDF, or ``None`` to drop it.

    * stderr streams (warnings, tqdm bars) are dropped;
    * widget outputs (tqdm.auto / ipywidgets) are dropped;
    * object reprs like ``<matplotlib.lines.Line2D at 0x...>`` are dropped;
    * HTML tables (pandas) get a ``text/latex`` booktabs version, because the
      LaTeX exporter ignores ``text/html``; every LaTeX tabular is fitted to
      the page (``fit_tabular``);
    * ``text/html`` is removed so it cannot leak into LaTeX.
    """
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") != "stdout":
            return None
        text = clean_stream_text(output.get("text", ""))
        if not text.strip():
            return None
        output = copy.deepcopy(output)
        output["text"] = text
        return output
    if kind not in ("display_data", "execute_result"):
        return output  # errors are kept: a report must not hide a failure
    data = output.get("data", {})
    if WIDGET_MIMETYPE in data:
        return None
    output = copy.deepcopy(output)
    data = output["data"]
    html = data.pop("text/html", None)
    if isinstance(html, list):
        html = "".join(html)
    if html and "<table" in html:
        tex = data.get("text/latex")
        if isinstance(tex, list):
            tex = "".join(tex)
        if not tex or latex_table_looks_unescaped(tex):
            converted = html_table_to_latex(html)
            if converted:
                data["text/latex"] = converted
    if isinstance(data.get("text/latex"), list):
        data["text/latex"] = "".join(data["text/latex"])
    if data.get("text/latex"):
        data["text/latex"] = fit_tabular(data["text/latex"])
    renderable = set(data) - {"text/plain"}
    if not renderable:
        plain = data.get("text/plain", "")
        if isinstance(plain, list):
            plain = "".join(plain)
        if not plain.strip() or JUNK_REPR_RE.match(plain):
            return None
    return output


def coalesce_streams(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Join consecutive stream outputs of the same name into one.

    The kernel splits prints into many small stream messages; joining them lets
    carriage-return handling see whole lines and prints one block, not many.
    """
    merged: list[NotebookNode] = []
    for out in outputs:
        if (
            merged and out.get("output_type") == "stream"
            and merged[-1].get("output_type") == "stream"
            and merged[-1].get("name") == out.get("name")
        ):
            merged[-1]["text"] += out.get("text", "")
        else:
            merged.append(copy.deepcopy(out))
    return merged


def clean_cell(cell: NotebookNode) -> NotebookNode:
    """Copy a cell with its outputs cleaned (code cells) and execution noise removed."""
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        if cell_tags(cell) & DROP_OUTPUT_TAGS:
            cell["outputs"] = []
        else:
            cleaned = (clean_output(o) for o in coalesce_streams(cell.get("outputs", [])))
            cell["outputs"] = [o for o in cleaned if o is not None]
    return cell


# --------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------


def merge_notebooks(
    notebooks: Sequence[NotebookNode],
    intro_markdown: str | None,
    title: str,
    authors: Sequence[str],
    date: str,
) -> NotebookNode:
    """Build the single report notebook: intro cell, then each notebook's kept cells.

    Cell ids are renumbered (``nb<i>-c<j>``) because copies of one notebook
    often share ids, which would make the merged notebook invalid; the scheme
    also keeps report.ipynb diffs stable between runs.
    """
    merged = nbformat.v4.new_notebook()
    if notebooks:
        for key in ("kernelspec", "language_info"):
            if key in notebooks[0].metadata:
                merged.metadata[key] = copy.deepcopy(notebooks[0].metadata[key])
    merged.metadata["title"] = title
    merged.metadata["authors"] = [{"name": name} for name in authors]
    merged.metadata["date"] = date

    if intro_markdown and intro_markdown.strip():
        intro = nbformat.v4.new_markdown_cell(intro_markdown.strip() + "\n")
        intro["id"] = "intro"
        merged.cells.append(intro)

    for nb_index, nb in enumerate(notebooks, start=1):
        for cell_index, cell in enumerate(nb.cells):
            if should_drop_cell(cell):
                continue
            cell = clean_cell(cell)
            cell["id"] = f"nb{nb_index}-c{cell_index}"
            if cell.cell_type == "code" and not cell.get("outputs"):
                continue  # code is hidden, so an output-less code cell prints nothing
            merged.cells.append(cell)
    nbformat.validate(merged)
    return merged


# --------------------------------------------------------------------------
# Writing and rendering
# --------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + ``os.replace``.

    Readers (JupyterLab, a PDF viewer, CI artifact upload) then see either the
    old complete file or the new complete file, never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Serialise the merged notebook atomically."""
    atomic_write_bytes(path, (nbformat.writes(nb) + "\n").encode("utf-8"))


def make_exporter(template_dir: Path, latex_only: bool = False) -> Any:
    """Create the nbconvert exporter configured for a code-free report.

    ``exclude_input`` hides code; the prompt flags hide ``In [3]:``/``Out[3]:``.
    xelatex runs twice (enough for hyperref bookmarks and the optional table of
    contents) in nonstop mode so an error ends the run instead of waiting for
    input; bibtex is skipped because the report has no citations.
    """
    from nbconvert import LatexExporter, PDFExporter
    from traitlets.config import Config

    template_dir = template_dir.resolve()
    if not (template_dir / "index.tex.j2").is_file():
        raise ReportBuildError(f"LaTeX template not found: {template_dir / 'index.tex.j2'}")

    config = Config()
    config.TemplateExporter.exclude_input = True
    config.TemplateExporter.exclude_input_prompt = True
    config.TemplateExporter.exclude_output_prompt = True

    class ReportPDFExporter(PDFExporter):
        """PDFExporter without the bibtex pass (no citations; saves a LaTeX rerun)."""

        def run_bib(self, filename: str, raise_on_failure: bool = False) -> bool:  # noqa: ARG002
            return False

    # PDFExporter would only pass raw cells whose format is application/pdf;
    # raw LaTeX cells (e.g. \newpage) are what a report author means to include.
    config.TemplateExporter.raw_mimetypes = ["text/latex", "text/tex"]

    cls = LatexExporter if latex_only else ReportPDFExporter
    exporter = cls(
        config=config,
        extra_template_basedirs=[str(template_dir.parent)],
        template_name=template_dir.name,
    )
    if not latex_only:
        exporter.latex_count = 2
        exporter.latex_command = ["xelatex", "-interaction=nonstopmode", "-halt-on-error", "{filename}"]
    return exporter


def latex_error_summary(log: str, context: int = 3) -> str:
    """Pick the ``! ...`` error lines (plus a little context) out of a xelatex log."""
    lines = log.splitlines()
    picked: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("!"):
            picked.extend(lines[i : i + context + 1])
            picked.append("...")
    return "\n".join(picked) if picked else "\n".join(lines[-30:])


def render_pdf(
    nb: NotebookNode,
    template_dir: Path,
    base_dir: Path,
    number_sections: bool,
    toc: bool,
    tex_path: Path | None,
) -> bytes:
    """Render the merged notebook to PDF bytes with the report template.

    ``base_dir`` becomes TEXINPUTS so images referenced from markdown cells by
    a relative path resolve as they do in JupyterLab. When xelatex fails the
    LaTeX source is written to ``tex_path`` for debugging.
    """
    from nbconvert.exporters.pdf import LatexFailed

    resources = {
        "metadata": {"name": "report", "path": str(base_dir.resolve())},
        "report": {"number_sections": number_sections, "toc": toc},
    }
    exporter = make_exporter(template_dir)
    try:
        pdf_bytes, _ = exporter.from_notebook_node(nb, resources=copy.deepcopy(resources))
    except LatexFailed as exc:
        where = ""
        if tex_path is not None:
            write_latex(nb, template_dir, resources, tex_path)
            where = f"\nThe LaTeX source was written to {tex_path}."
        raise ReportBuildError(
            "xelatex failed:\n" + latex_error_summary(exc.output) + where
        ) from exc
    except OSError as exc:  # pandoc / xelatex vanished between the check and the run
        raise ReportBuildError(f"{exc}\nInstall the PDF toolchain with:  bash {INSTALL_HINT}") from exc
    return pdf_bytes


def write_latex(nb: NotebookNode, template_dir: Path, resources: dict[str, Any], tex_path: Path) -> None:
    """Write the LaTeX source (and extracted figures) the PDF is made from, for debugging."""
    exporter = make_exporter(template_dir, latex_only=True)
    latex, res = exporter.from_notebook_node(nb, resources=copy.deepcopy(resources))
    tex_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(tex_path, latex.encode("utf-8"))
    for name, data in (res.get("outputs") or {}).items():
        atomic_write_bytes(tex_path.parent / name, data)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Build the merged notebook and the PDF; return a process exit code."""
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        if not args.notebook_only:
            require_toolchain()

        front: dict[str, str] = {}
        intro_text = None
        if args.intro is not None:
            if not args.intro.is_file():
                raise ReportBuildError(f"intro file not found: {args.intro}")
            front, intro_text = split_front_matter(args.intro.read_text(encoding="utf-8"))

        title = args.title or front.get("title") or DEFAULT_TITLE
        authors = args.author or ([front["author"]] if front.get("author") else [])
        date = args.date or front.get("date") or default_date()

        notebooks = [read_notebook(path) for path in args.notebooks]
        merged = merge_notebooks(notebooks, intro_text, title, authors, date)
        merged_path = args.merged_notebook or args.output.with_suffix(".ipynb")
        write_notebook(merged, merged_path)
        print(f"wrote {merged_path} ({len(merged.cells)} cells)")

        if args.notebook_only:
            return 0

        tex_path = args.output.parent / "build" / args.output.with_suffix(".tex").name
        pdf = render_pdf(
            merged,
            template_dir=args.template_dir,
            base_dir=args.output.parent,
            number_sections=not args.no_section_numbers,
            toc=args.toc,
            tex_path=tex_path,
        )
        atomic_write_bytes(args.output, pdf)
        if args.keep_tex:
            write_latex(
                merged, args.template_dir,
                {"metadata": {"name": "report", "path": str(args.output.parent.resolve())},
                 "report": {"number_sections": not args.no_section_numbers, "toc": args.toc}},
                tex_path,
            )
            print(f"wrote {tex_path}")
        print(f"wrote {args.output} ({len(pdf) / 1024:.0f} KiB) in {time.perf_counter() - started:.1f} s")
        return 0
    except ReportBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

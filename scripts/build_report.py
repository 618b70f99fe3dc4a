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
   ``DROP_CELL_TAGS`` and ``clean_output``); tables arrive as the ``text/latex``
   that ``vae_utils.show_table`` displays beside its HTML, and are fitted to the page;
3. writes the merged notebook next to the PDF (``report.ipynb``) so the exact
   input of the PDF can be inspected in JupyterLab;
4. renders it with nbconvert's ``PDFExporter`` (xelatex) through the custom
   template in ``report/template/``.

Both files are written atomically (temporary file + ``os.replace``) so an
interrupted run never leaves a truncated notebook or PDF behind.

Example::

    python scripts/build_report.py \\
        --notebooks report/01_data_exploration.ipynb report/02_model_summary.ipynb \\
                    report/03_train.ipynb report/04_latent_space.ipynb \\
        --intro report/intro.md --output report/report.pdf
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
# Tables
# --------------------------------------------------------------------------


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
    * ``text/html`` is removed: the LaTeX exporter cannot render it. Tables
      reach the PDF through their ``text/latex`` form (``vae_utils.show_table``
      provides one), fitted to the page by ``fit_tabular``; anything else falls
      back to its ``text/plain`` form.
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
    data.pop("text/html", None)
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

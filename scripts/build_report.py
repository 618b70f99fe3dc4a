#!/usr/bin/env python
"""Render the paper: ``report/paper.md`` with its named values filled in, the figures it names and the tables the
executed notebooks showed, to ``report/report.pdf`` through nbconvert's LaTeX exporter.

The words live in ``report/paper.md``, where an author reads and revises the paper as a whole; Python computes and
formats the values it names (``vae_utils.paper_values``, read from the run folders' results) and draws the figures
and tables (the notebooks). What ``paper.md`` may hold besides Markdown with ``$math$``:

* ``{{ name }}``: a named value; ``{% if name %} ... {% endif %}``: words that depend on a result (Jinja2). A name
  that no result defines stops the build and is named.
* ``![caption](figures/file.png){#fig:name}`` alone on a line: a numbered figure with that caption.
* ``: caption {#tbl:name}`` alone on a line: the table a notebook showed under the label ``tbl:name``, with this
  caption (``vae_utils.show_table`` keeps the table's cells in its output's metadata).
* ``@fig:name``, ``@tbl:name``, ``@eq:name``: "Figure n", "Table n", "(n)"; ``\\begin{equation} ... \\label{eq:name}``
  for a numbered equation.
* ``[@key]``, ``[@key; @other]``, ``@key``: a citation of the entry ``key`` of the BibTeX file (``--references``,
  ``report/references.bib``), set by pandoc's citeproc in Chicago author-date style ("(Kingma and Welling 2014)",
  "Kingma and Welling (2014)"). A key with no entry stops the build and is named. ``# References {-}`` is where
  citeproc's list of the cited works goes (without the heading, the list ends the body).
* ``# Abstract {-}`` goes under the title; ``# Appendix {-}`` starts the appendix (its sections lettered), which
  follows the references.

A rebuild from the same sources gives the same PDF, byte for byte: the PDF's dates and the date under the title are
those of the results' last commit (``SOURCE_DATE_EPOCH``), not the clock's.

The PDF is written atomically; so is ``report.ipynb`` beside it, the document nbconvert rendered.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import jinja2
import nbformat
import pandas as pd
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
import vae_utils as vu  # noqa: E402  (the project's run folders)
from report_tools import paper, typeset  # noqa: E402  (the paper's values and the tables' layout)
from vae_utils.paths import write_bytes  # noqa: E402  (the project's one atomic writer)

TEMPLATE_DIR = REPO_ROOT / "report" / "template"
INSTALL_HINT = "bash scripts/install_pdf_tools.sh"
DEFAULT_TITLE = "A convolutional VAE for MNIST"
# The citation style: Chicago Manual of Style 17th edition (author-date), the CSL file pandoc itself ships as its
# default (/usr/share/pandoc/data/default.csl), kept here so that every pandoc sets the references alike.
CSL_STYLE = TEMPLATE_DIR / "chicago-author-date.csl"
# The results the paper reports: their last commit dates the PDF (its metadata and the date under the title).
# A run still training commits its resumable state (and its history) at every stop; neither is a source of the PDF.
TRAINING_STATE = ("last.pt", "best.pt", "history.csv")
RESULT_PATHS = ("models", "runs", "report/*.ipynb", *(f":!runs/*/{name}" for name in TRAINING_STATE))
# What the PDF is built from: the paper's text, references and template, the code that computes and sets its values,
# the notebooks, the results and figures, and the pinned versions. Tests, docs and the README are not among them.
SOURCES = ("report/paper.md", "report/references.bib", "report/template", "report/course_report_training_log.csv",
           "report/*.ipynb", "report_tools", "vae_utils", "notebooks", "scripts/build_report.py", "requirements.txt",
           "models", "runs", "figures", *(f":!runs/*/{name}" for name in TRAINING_STATE))
# A copy without git history (an unpacked archive) is dated 1 January 1970 00:00 UTC, the reproducible-builds
# convention for "no date known": the same bytes on every build, and a date nobody takes for a real one.
FALLBACK_SOURCE_DATE_EPOCH = 0
REPORT_NOTEBOOKS = [REPO_ROOT / "report" / f"{name}.ipynb" for name in
                    ("01_data_exploration", "02_model_summary", "03_train", "04_latent_space")]

FIGURE_LINE = re.compile(r"^!\[(?P<caption>.+)\]\((?P<path>[^)\s]+)\)\{#(?P<label>fig:[\w-]+)\}\s*$")
TABLE_LINE = re.compile(r"^: (?P<caption>.+?)\s*\{#(?P<label>tbl:[\w-]+)\}\s*$")
HEADING = re.compile(r"^#\s+(?P<title>.+?)\s*(\{-\})?\s*$")
CROSS_REFERENCE = re.compile(r"@(fig|tbl|eq):([A-Za-z0-9][\w-]*)")
REFERENCE_COMMANDS = {"fig": "figref", "tbl": "tabref", "eq": "eqref"}
# Pandoc's citations: a key begins with a letter, digit or _ and may hold internal punctuation (:.#$%&-+?<>~/).
# ``[see @a, p. 3; -@b]`` is a bracketed citation; ``@a`` or ``@a [p. 3]`` a textual one ("Author (year)"). An @ after
# a letter or digit is an e-mail address, and ``@fig:``, ``@tbl:``, ``@eq:`` are cross-references, not citations.
CITATION_KEY = r"\w(?:[\w:.#$%&+?<>~/-]*\w)?"
CITATION_ITEM = re.compile(rf"(?<![\w@])-?@({CITATION_KEY})")
BRACKETED_CITATION = re.compile(rf"\[[^\[\]]*(?<![\w@])-?@{CITATION_KEY}[^\[\]]*\](?![(\[{{])")
TEXTUAL_CITATION = re.compile(rf"(?<![\w@\[-])@({CITATION_KEY})(?: \[[^\[\]@]*\])?")
CROSS_REFERENCE_PREFIXES = ("fig:", "tbl:", "eq:")
CODE = re.compile(r"^```.*?^```|`[^`\n]+`", re.DOTALL | re.MULTILINE)  # fenced blocks and inline code: no citations


class ReportBuildError(RuntimeError):
    """A problem the user can fix (missing tool, file, value or table; a LaTeX error); printed without a traceback."""


def link_references(text: str) -> str:
    """``@fig:name`` / ``@tbl:name`` / ``@eq:name`` to the LaTeX commands printing "Figure n" / "Table n" / "(n)"."""
    return CROSS_REFERENCE.sub(lambda m: f"\\{REFERENCE_COMMANDS[m.group(1)]}{{{m.group(1)}:{m.group(2)}}}", text)


def markdown_to_latex(text: str) -> str:
    """Markdown (with $math$) as LaTeX, through pandoc as nbconvert converts markdown cells. A caption that starts
    with '(a)' stays text, never a list."""
    from nbconvert.filters.pandoc import convert_pandoc

    return convert_pandoc(link_references(text), "markdown-fancy_lists-example_lists+tex_math_double_backslash",
                          "latex").strip()


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split an optional ``---`` header of flat ``key: value`` lines (title, author, original) off the paper."""
    match = re.match(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", text, re.DOTALL)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end():]


def fill_values(text: str, values: Mapping[str, Any], source: str = "report/paper.md") -> str:
    """The paper with every ``{{ name }}`` and ``{% if %}`` resolved; an undefined name is an error naming it.

    Jinja's comment marker ``{#`` would swallow pandoc's ``{#fig:...}`` labels, so comments are ``{=# ... #=}``.
    """
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     comment_start_string="{=#", comment_end_string="#=}")
    try:
        return environment.from_string(text).render(**values)
    except jinja2.UndefinedError as error:
        raise ReportBuildError(f"{source} names a value no result defines ({error.message}); add it to "
                               "vae_utils.paper_values or correct the name") from error
    except jinja2.TemplateSyntaxError as error:
        raise ReportBuildError(f"{source}, line {error.lineno}: {error.message}") from error


def find_citations(text: str) -> list[tuple[int, int, list[str]]]:
    """Every citation in Markdown text, in order: (start, end, its keys); not in code, not a cross-reference."""
    code = [match.span() for match in CODE.finditer(text)]

    def free(start: int, end: int, taken: Sequence[tuple[int, int]]) -> bool:
        return not any(start < other_end and other_start < end for other_start, other_end in taken)

    found = []
    for match in BRACKETED_CITATION.finditer(text):
        keys = [key for key in CITATION_ITEM.findall(match.group(0)) if not key.startswith(CROSS_REFERENCE_PREFIXES)]
        if keys and free(*match.span(), code):
            found.append((*match.span(), keys))
    taken = code + [(start, end) for start, end, _ in found]
    for match in TEXTUAL_CITATION.finditer(text):
        if not match.group(1).startswith(CROSS_REFERENCE_PREFIXES) and free(*match.span(), taken):
            found.append((*match.span(), [match.group(1)]))
    return sorted(found)


def cited_keys(text: str) -> list[str]:
    """The keys a Markdown text cites, each once, in the order of first citation."""
    return list(dict.fromkeys(key for _, _, keys in find_citations(text) for key in keys))


def run_pandoc(args: Sequence[str], text: str = "") -> str:
    """pandoc's output for ``text`` on stdin; its complaint (a malformed BibTeX file, ...) as a ReportBuildError."""
    result = subprocess.run(["pandoc", *args], input=text, capture_output=True, text=True, encoding="utf-8")
    if result.returncode != 0:
        raise ReportBuildError(f"pandoc {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout


def bibliography_keys(bibliography: Path) -> list[str]:
    """The keys of a BibTeX file's entries, in the file's order, as pandoc (and so citeproc) reads them."""
    if not bibliography.is_file():
        raise ReportBuildError(f"bibliography not found: {bibliography}")
    return [entry["id"] for entry in json.loads(run_pandoc(["-f", "bibtex", "-t", "csljson", str(bibliography)]))]


def resolve_citations(texts: Sequence[str], bibliography: Path | None, source: str = "report/paper.md"
                      ) -> tuple[list[str], str]:
    """The texts with each citation set as citeproc sets it in Chicago author-date ("(Kingma and Welling 2014)",
    "Kingma and Welling (2014)"), and the list of the works cited, as LaTeX (citeproc's ``CSLReferences``, which the
    template sets with a hanging indent); ``""`` when nothing is cited.

    All citations go through one citeproc run, so that two works of one author and year are told apart alike
    everywhere. A key the BibTeX file has no entry for stops the build, named."""
    found = [find_citations(text) for text in texts]
    keys = list(dict.fromkeys(key for citations in found for _, _, cited in citations for key in cited))
    if not keys:
        return list(texts), ""
    if bibliography is None:
        raise ReportBuildError(f"{source} cites {', '.join('@' + key for key in keys)} but no BibTeX file was "
                               "given: pass --references report/references.bib")
    known = set(bibliography_keys(bibliography))
    missing = [key for key in keys if key not in known]
    if missing:
        raise ReportBuildError(f"{source} cites {', '.join('@' + key for key in missing)}, which {bibliography} has "
                               "no entry for: add the entry or correct the key")
    sources = [text[start:end] for text, citations in zip(texts, found) for start, end, _ in citations]
    document = "".join(f"CITATION{index} {citation}\n\n" for index, citation in enumerate(sources))
    document += "::: {#refs}\n:::\n"
    arguments = ["--citeproc", f"--bibliography={bibliography}", f"--csl={CSL_STYLE}", "-f", "markdown",
                 "--wrap=none"]
    rendered = dict(re.findall(r"^CITATION(\d+) (.*)$", run_pandoc([*arguments, "-t", "markdown-citations"],
                                                                      document), re.MULTILINE))
    latex = run_pandoc([*arguments, "-t", "latex"], document)
    references = latex[latex.index("\\begin{CSLReferences}"):].strip()
    replaced, index = [], 0
    for text, citations in zip(texts, found):
        pieces, position = [], 0
        for start, end, _ in citations:
            pieces += [text[position:start], rendered[str(index)]]
            position, index = end, index + 1
        replaced.append("".join(pieces) + text[position:])
    return replaced, references


def harvest_tables(notebooks: Sequence[NotebookNode]) -> dict[str, dict[str, Any]]:
    """Every table the notebooks showed with a label (``vu.show_table``'s ``report_table`` metadata), by label."""
    tables = {}
    for nb in notebooks:
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                shape = output.get("metadata", {}).get("report_table")
                if shape and shape.get("label"):
                    tables[shape["label"]] = shape
    return tables


def read_notebook(path: Path) -> NotebookNode:
    """Read one executed notebook, or fail naming it and the command that makes it."""
    if not path.is_file():
        raise ReportBuildError(f"executed notebook not found: {path} (run `make notebooks` first)")
    return nbformat.read(path, as_version=4)


def figure_cell(caption: str, path: str, label: str, figures_dir: Path) -> NotebookNode:
    """A figure as the template draws it: a PNG output whose metadata holds the caption and label.

    The paper names figures as ``figures/<file>``; they are read from ``figures_dir`` (the main run's ``figures/``,
    or a smoke build's folder)."""
    file = figures_dir / Path(path).relative_to("figures") if path.startswith("figures/") else REPO_ROOT / path
    if not file.is_file():
        raise ReportBuildError(f"figure {label} names {path}, which does not exist (run `make notebooks` first)")
    output = nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(file.read_bytes()).decode("ascii"), "text/plain": caption},
        metadata={"caption": caption, "label": label})
    return nbformat.v4.new_code_cell("", outputs=[output])


def table_cell(caption: str, label: str, tables: Mapping[str, Mapping[str, Any]], placement: str = "htbp"
               ) -> NotebookNode:
    """A table the notebooks showed, with the paper's caption, as raw LaTeX (the layout of ``typeset.table_latex``).

    ``placement``: "htbp" in the body (a float near its mention); "H" in the appendix, where each table belongs
    under its heading and a float drifting to the next page would leave the heading alone."""
    if label not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ReportBuildError(f"the paper places table {label}, which no executed notebook showed (shown: {known})")
    shape = tables[label]
    frame = pd.DataFrame(shape["rows"], columns=shape["columns"])
    if label in typeset.FOLDED_TABLES:
        frame = typeset.fold_numbered_rows(frame)
    latex = typeset.table_latex(frame, markdown_to_latex(caption), typeset.column_format(label, len(frame.columns)),
                                label, caption_is_latex=True, placement=placement)
    return nbformat.v4.new_raw_cell(latex, metadata={"raw_mimetype": "text/latex"})


def printed_date(epoch: int) -> str:
    """The date under the title, "7 December 2026", of a SOURCE_DATE_EPOCH (UTC)."""
    day = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return f"{day.day} {day:%B %Y}"


def paper_notebook(text: str, meta: Mapping[str, str], tables: Mapping[str, Mapping[str, Any]], references: str,
                   figures_dir: Path = REPO_ROOT / "figures", epoch: int = FALLBACK_SOURCE_DATE_EPOCH) -> NotebookNode:
    """The filled-in paper, its citations set, as a notebook nbconvert can render: markdown cells, figure outputs and
    raw LaTeX tables, the abstract in the metadata. ``references`` is the list of works cited as LaTeX
    (``resolve_citations``): it goes under the paper's ``# References {-}`` heading, or under one of its own before
    the appendix. The date under the title is the front matter's ``date``, else that of ``epoch``."""
    document = nbformat.v4.new_notebook()
    document.metadata["title"] = meta.get("title", DEFAULT_TITLE)
    document.metadata["authors"] = [{"name": meta["author"]}] if meta.get("author") else []
    if meta.get("original"):
        document.metadata["original_latex"] = markdown_to_latex(meta["original"])
    document.metadata["date"] = meta.get("date") or printed_date(epoch)
    reference_list = nbformat.v4.new_raw_cell(references.strip(), metadata={"raw_mimetype": "text/latex"})
    placed = not references.strip()
    cells: list[NotebookNode] = []
    appendix: list[NotebookNode] = []
    target, section, lines = cells, "", []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body and section == "abstract":
            document.metadata["abstract_latex"] = markdown_to_latex(body)
        elif body:
            target.append(nbformat.v4.new_markdown_cell(link_references(body) + "\n"))
        lines.clear()

    for line in text.splitlines():
        heading, figure, table = HEADING.match(line), FIGURE_LINE.match(line), TABLE_LINE.match(line)
        if heading and heading.group("title").lower() in ("abstract", "appendix"):
            flush()
            section = heading.group("title").lower()
            if section == "appendix":
                target = appendix
            continue
        if heading and section == "abstract":
            flush()
            section = "body"
        if heading and heading.group("title").lower() == "references" and not placed:
            flush()
            target.extend([nbformat.v4.new_markdown_cell(line + "\n"), reference_list])
            placed = True
            continue
        if figure:
            flush()
            target.append(figure_cell(figure["caption"], figure["path"], figure["label"], figures_dir))
        elif table:
            flush()
            target.append(table_cell(table["caption"], table["label"], tables,
                                     placement="H" if section == "appendix" else "htbp"))
        else:
            lines.append(line)
    flush()
    if not placed:
        cells.extend([nbformat.v4.new_markdown_cell("# References {-}\n"), reference_list])
    if appendix:
        cells.append(nbformat.v4.new_raw_cell("\\appendix", metadata={"raw_mimetype": "text/latex"}))
        cells.extend(appendix)
    document.cells = cells
    for index, cell in enumerate(document.cells):
        cell["id"] = f"paper-{index}"
    nbformat.validate(document)
    return document


def read_text(path: Path | None) -> str:
    """A text file's contents ("" when not given), or fail naming it."""
    if path is None:
        return ""
    if not path.is_file():
        raise ReportBuildError(f"file not found: {path}")
    return path.read_text(encoding="utf-8")


def require_toolchain() -> None:
    """Name a missing xelatex or pandoc before nbconvert stumbles over it halfway through."""
    missing = [program for program in ("xelatex", "pandoc") if shutil.which(program) is None]
    if missing:
        raise ReportBuildError(f"cannot render the PDF: {', '.join(missing)} not found on PATH. "
                               f"Install the PDF toolchain with: {INSTALL_HINT}")


def make_exporter(latex_only: bool = False) -> Any:
    """nbconvert's PDF (or LaTeX) exporter with the report template, code and prompts hidden, no bibtex pass."""
    from nbconvert import LatexExporter, PDFExporter
    from traitlets.config import Config

    class ReportPDFExporter(PDFExporter):
        def run_bib(self, filename: str, raise_on_failure: bool = False) -> bool:  # noqa: ARG002
            return False  # citeproc set the references before LaTeX (resolve_citations): no bibtex run

    config = Config()
    config.TemplateExporter.exclude_input = True
    config.TemplateExporter.exclude_input_prompt = True
    config.TemplateExporter.exclude_output_prompt = True
    cls = LatexExporter if latex_only else ReportPDFExporter
    exporter = cls(config=config, extra_template_basedirs=[str(TEMPLATE_DIR.parent)], template_name=TEMPLATE_DIR.name)
    if not latex_only:
        exporter.latex_count = 2  # two xelatex runs settle references and numbers
        exporter.latex_command = ["xelatex", "-interaction=nonstopmode", "-halt-on-error", "{filename}"]
    return exporter


def source_date_epoch() -> int:
    """When the results were made, in seconds since 1970 (UTC): ``$SOURCE_DATE_EPOCH`` when set (the reproducible-builds
    convention), else the time of the last commit of the results (``RESULT_PATHS``: the run folders and the executed
    notebooks), else ``FALLBACK_SOURCE_DATE_EPOCH`` (no git, or no commit of them). Never the clock: a rebuild from
    the same commit gives the same PDF."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        stamp = subprocess.run(["git", "log", "-1", "--format=%ct", "--", *RESULT_PATHS], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return FALLBACK_SOURCE_DATE_EPOCH
    return int(stamp) if stamp.isdigit() else FALLBACK_SOURCE_DATE_EPOCH


@contextlib.contextmanager
def dated_environment(epoch: int) -> Iterator[None]:
    """xelatex and xdvipdfmx run with ``SOURCE_DATE_EPOCH`` (the PDF's /CreationDate and /ModDate, and the /ID and
    font subset tags derived from it) and ``FORCE_SOURCE_DATE=1`` (TeX's \\today and \\time): no clock reaches the
    PDF. The variables are restored afterwards."""
    saved = {name: os.environ.get(name) for name in ("SOURCE_DATE_EPOCH", "FORCE_SOURCE_DATE")}
    os.environ.update(SOURCE_DATE_EPOCH=str(epoch), FORCE_SOURCE_DATE="1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def render_pdf(nb: NotebookNode, output: Path, epoch: int = FALLBACK_SOURCE_DATE_EPOCH) -> bytes:
    """PDF bytes of the paper, dated ``epoch`` throughout; on a LaTeX error the source goes to report/build/ and the
    errors are shown."""
    from nbconvert.exporters.pdf import LatexFailed

    resources = {"metadata": {"name": "report", "path": str(output.parent.resolve())}}
    try:
        with dated_environment(epoch):
            return make_exporter().from_notebook_node(nb, resources=dict(resources))[0]
    except LatexFailed as error:
        tex = output.parent / "build" / "report.tex"
        write_bytes(tex, make_exporter(latex_only=True).from_notebook_node(nb, resources=dict(resources))[0]
                       .encode())
        errors = [line for line in error.output.splitlines() if line.startswith("!")] or error.output.splitlines()[-20:]
        raise ReportBuildError("xelatex failed:\n" + "\n".join(errors) + f"\nThe LaTeX source is in {tex}.") from error


def is_build_output(path: str) -> bool:
    """Whether a changed file is one that ``make report`` itself writes before the PDF (the executed notebooks, the
    figures, each run folder's analysis results), not a source the PDF is built from."""
    analysis = {*vu.RunFolder.WRITTEN_BY["04_latent_space"], vu.RunFolder.EXECUTIONS}
    return (path.startswith("figures/") or (path.startswith("report/") and path.endswith((".ipynb", ".pdf")))
            or (path.startswith(("models/", "runs/")) and Path(path).name in analysis)
            or (path.startswith("runs/") and Path(path).name in TRAINING_STATE))


def source_commit() -> str:
    """The last commit of the sources the paper is built from (``SOURCES``), or 'unknown'; with 'with uncommitted
    changes' when a source differs from it (code, notebooks, text, weights), not when only the analysis results
    ``make report`` rewrote do. Committing the rendered PDF, tests, docs or a run's resumable state leaves this line,
    and so the PDF's bytes, unchanged: a fresh clone's ``make report`` renders the committed PDF again, byte for
    byte."""
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=12", "--", *SOURCES],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", *SOURCES], cwd=REPO_ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with uncommitted changes" if any(not is_build_output(path) for path in changed) else "")


def build(paper: Path, notebooks: Sequence[Path], references: Path | None, output: Path,
          values: Mapping[str, Any], figures_dir: Path = REPO_ROOT / "figures", epoch: int | None = None
          ) -> NotebookNode:
    """Fill in, cite, assemble and render the paper; ``report.ipynb`` and the PDF appear only when complete.

    ``references``: the BibTeX file the citations name (None: the paper cites nothing). ``epoch``: the date the PDF
    carries (default: ``source_date_epoch()``)."""
    if references is not None and references.suffix != ".bib":
        raise ReportBuildError(f"--references {references}: the references are a BibTeX file (report/references.bib)"
                               ", set by citeproc; a hand-written list is no longer read")
    epoch = source_date_epoch() if epoch is None else epoch
    meta, text = split_front_matter(read_text(paper))
    filled = fill_values(text, values, str(paper))
    (filled, original), reference_list = resolve_citations([filled, meta.get("original", "")], references,
                                                           str(paper))
    meta = {**meta, "original": original} if original else meta
    tables = harvest_tables([read_notebook(path) for path in notebooks])
    document = paper_notebook(filled, meta, tables, reference_list, figures_dir, epoch)
    write_bytes(output.with_suffix(".ipynb"), nbformat.writes(document).encode("utf-8"))
    write_bytes(output, render_pdf(document, output, epoch))
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, compute the values from the run folders, build; a user's problem is one line, exit 2."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", type=Path, default=REPO_ROOT / "report" / "paper.md")
    parser.add_argument("--notebooks", nargs="+", type=Path, default=REPORT_NOTEBOOKS,
                        help="executed notebooks whose labelled tables the paper places")
    parser.add_argument("--references", type=Path, default=REPO_ROOT / "report" / "references.bib",
                        help="BibTeX file of the works the paper cites")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "report" / "report.pdf", help="PDF to write")
    parser.add_argument("--main-run", default=vu.MAIN_RUN_DIR)
    parser.add_argument("--protocol-run", default="runs/course_protocol")
    parser.add_argument("--seed-runs", nargs="*", default=["runs/seed1", "runs/seed2", "runs/seed3"])
    parser.add_argument("--cvae-run", default="runs/cvae")
    parser.add_argument("--figures-dir", type=Path, default=REPO_ROOT / "figures",
                        help="where the paper's figures/<file> are read from")
    args = parser.parse_args(argv)
    try:
        require_toolchain()
        values = paper.paper_values(args.main_run, args.protocol_run, args.seed_runs, args.cvae_run,
                                 commit=source_commit())
        document = build(args.paper, args.notebooks, args.references, args.output, values, args.figures_dir)
        print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB, {len(document.cells)} blocks)")
        return 0
    except ReportBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

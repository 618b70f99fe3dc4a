#!/usr/bin/env python
"""Merge the executed report notebooks into one code-free document and render it to PDF with nbconvert.

nbconvert converts one notebook at a time and shows code; a reader wants one course report: a title page with the
abstract, the notebooks' sections in order, references, then an appendix, and no program output anywhere.

Conventions the notebooks follow (see README, "How the report is built"):
* a figure's caption travels in its output's metadata (``vae_utils.save_and_show``); a table's in its LaTeX;
* ``@fig:name`` and ``@tbl:name`` in markdown become "Figure n" / "Table n" references;
* cell tags: ``report-skip`` / ``remove-cell`` leave a cell out, ``remove-output`` keeps nothing of a code cell,
  ``appendix`` moves a cell behind the references, ``abstract`` puts a cell's markdown output on the title page;
* any printed text that is still left is an error: what a reader needs is a sentence or a table, not a print.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import nbformat
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from vae_utils.paths import write_bytes  # noqa: E402  (the project's one atomic writer)

TEMPLATE_DIR = REPO_ROOT / "report" / "template"
INSTALL_HINT = "bash scripts/install_pdf_tools.sh"
DEFAULT_TITLE = "A convolutional VAE for MNIST"
# ``text/plain`` results that are only object reprs, left by a cell that ends with a plotting call.
JUNK_REPR = re.compile(r"^\s*(\[?\s*<[^<>]*(at 0x[0-9a-fA-F]+|object)>.*|<Figure size [^>]*>|(Text|Legend)\(.*\))\s*$",
                       re.DOTALL)


class ReportBuildError(RuntimeError):
    """A problem the user can fix (missing tool or file, LaTeX error); printed without a traceback."""


CROSS_REFERENCE = re.compile(r"@(fig|tbl):([A-Za-z0-9][\w-]*)")
REFERENCE_COMMANDS = {"fig": "figref", "tbl": "tabref"}


class DropNoisePreprocessor(Preprocessor):
    """Drop what does not belong on paper: stderr (warnings, progress bars) and bare object reprs.

    HTML is removed where a LaTeX form exists, so tables reach the PDF as the LaTeX ``show_table`` wrote.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type == "code":
            cell.outputs = [self._clean(out) for out in cell.outputs if not self._is_noise(out)]
        return cell, resources

    @staticmethod
    def _is_noise(output: NotebookNode) -> bool:
        if output.output_type == "stream":
            return output.name == "stderr" or not output.text.strip()
        data = output.get("data", {})
        return set(data) == {"text/plain"} and bool(JUNK_REPR.match(data["text/plain"]))

    @staticmethod
    def _clean(output: NotebookNode) -> NotebookNode:
        data = output.get("data", {})
        if "text/latex" in data:
            data.pop("text/html", None)
        return output


def clean_notebook(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Apply nbconvert's tag preprocessor and ours; code cells left without output are dropped.

    Printed text that survives is refused (``ReportBuildError`` naming the notebook and cell): a course report
    carries sentences and tables, and a print either becomes one of those or is tagged out of the PDF.
    """
    resources: dict[str, Any] = {}
    tags = TagRemovePreprocessor(
        remove_cell_tags={"parameters", "injected-parameters", "remove-cell", "report-skip"},
        remove_all_outputs_tags={"remove-output"},
    )
    for preprocessor in (tags, DropNoisePreprocessor()):
        nb, resources = preprocessor.preprocess(nb, resources)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.outputs]
    for index, cell in enumerate(nb.cells):
        leftover = next((text for text in map(_program_text, cell.get("outputs", [])) if text), None)
        if leftover:
            first_line = leftover.strip().splitlines()[0][:80]
            raise ReportBuildError(
                f"{name}, cell {index} ({cell.source.strip().splitlines()[0][:60]!r}) prints {first_line!r} into the "
                "report: turn it into a sentence or table (vu.show_markdown / vu.show_table), or tag the cell "
                "remove-output if only a notebook user needs it")
    return nb


def _program_text(output: NotebookNode) -> str:
    """The printed text of an output (stdout, or a result shown only as plain text); empty for figures and tables."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    data = output.get("data", {})
    return data["text/plain"] if set(data) == {"text/plain"} else ""


def link_references(text: str) -> str:
    """``@fig:name`` / ``@tbl:name`` to the LaTeX commands printing "Figure n" / "Table n" (defined in the template)."""
    return CROSS_REFERENCE.sub(lambda m: f"\\{REFERENCE_COMMANDS[m.group(1)]}{{{m.group(1)}:{m.group(2)}}}", text)


def _link_cell(cell: NotebookNode) -> None:
    """Cross references in a markdown cell and in markdown a code cell displayed."""
    if cell.cell_type == "markdown":
        cell.source = link_references(cell.source)
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/markdown" in data:
            data["text/markdown"] = link_references(data["text/markdown"])


def markdown_to_latex(text: str) -> str:
    """Markdown (with $math$) as LaTeX, through pandoc as nbconvert converts markdown cells."""
    from nbconvert.filters.pandoc import convert_pandoc

    return convert_pandoc(link_references(text), "markdown+tex_math_double_backslash", "latex")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split an optional ``---`` header of flat ``key: value`` lines (title, author) off a markdown file."""
    match = re.match(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", text, re.DOTALL)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end():]


def read_notebook(path: Path) -> NotebookNode:
    """Read one executed notebook, or fail with its name."""
    if not path.is_file():
        raise ReportBuildError(f"notebook not found: {path} (run `make notebooks` first)")
    return nbformat.read(path, as_version=4)


def _has_tag(cell: NotebookNode, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _markdown_output(cell: NotebookNode) -> str:
    """The markdown a code cell displayed (the abstract is computed from the results, not typed)."""
    texts = [o["data"]["text/markdown"] for o in cell.get("outputs", []) if "text/markdown" in o.get("data", {})]
    return "\n\n".join(texts) if cell.cell_type == "code" else cell.source


def merge_notebooks(notebooks: Sequence[NotebookNode], intro: str, meta: dict[str, str], references: str = "",
                    names: Sequence[str] | None = None) -> NotebookNode:
    """One document: intro, every kept cell in order, references, then an appendix of the cells tagged ``appendix``.

    A cell tagged ``abstract`` goes to the title page (``metadata.abstract_latex``), not into the body. Cell ids
    are renumbered so copies cannot collide.
    """
    merged = nbformat.v4.new_notebook()
    if notebooks:
        merged.metadata.update({k: notebooks[0].metadata[k] for k in ("kernelspec", "language_info")
                                if k in notebooks[0].metadata})
    merged.metadata["title"] = meta.get("title", DEFAULT_TITLE)
    merged.metadata["authors"] = [{"name": meta["author"]}] if meta.get("author") else []
    if meta.get("original"):
        merged.metadata["original_latex"] = markdown_to_latex(meta["original"])
    today = dt.date.today()
    merged.metadata["date"] = f"{today.day} {today:%B %Y}"
    if intro.strip():
        merged.cells.append(nbformat.v4.new_markdown_cell(intro.strip() + "\n", id="intro"))
    appendix = []
    names = list(names) if names is not None else [f"notebook {i}" for i in range(1, len(notebooks) + 1)]
    for nb_index, (nb, name) in enumerate(zip(notebooks, names), start=1):
        for cell_index, cell in enumerate(clean_notebook(nb, name).cells):
            cell["id"] = f"nb{nb_index}-c{cell_index}"
            _link_cell(cell)
            if _has_tag(cell, "abstract"):
                merged.metadata["abstract_latex"] = markdown_to_latex(_markdown_output(cell))
            elif _has_tag(cell, "appendix"):
                appendix.append(cell)
            else:
                merged.cells.append(cell)
    if references.strip():
        merged.cells.append(nbformat.v4.new_markdown_cell(link_references(references.strip()) + "\n",
                                                          id="references"))
    if appendix:
        merged.cells.append(nbformat.v4.new_raw_cell("\\appendix", id="appendix-start",
                                                     metadata={"raw_mimetype": "text/latex"}))
        merged.cells.extend(appendix)
    nbformat.validate(merged)
    return merged


def read_markdown(path: Path | None) -> str:
    """A markdown file's text ("" when not given), or fail naming it."""
    if path is None:
        return ""
    if not path.is_file():
        raise ReportBuildError(f"markdown file not found: {path}")
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
            return False  # references are a plain list (report/references.md): no bibtex run

    config = Config()
    config.TemplateExporter.exclude_input = True
    config.TemplateExporter.exclude_input_prompt = True
    config.TemplateExporter.exclude_output_prompt = True
    cls = LatexExporter if latex_only else ReportPDFExporter
    exporter = cls(config=config, extra_template_basedirs=[str(TEMPLATE_DIR.parent)], template_name=TEMPLATE_DIR.name)
    if not latex_only:
        exporter.latex_count = 2  # two xelatex runs settle references and table numbers
        exporter.latex_command = ["xelatex", "-interaction=nonstopmode", "-halt-on-error", "{filename}"]
    return exporter


def render_pdf(nb: NotebookNode, output: Path) -> bytes:
    """PDF bytes of the merged notebook; on a LaTeX error the source goes to report/build/ and the errors are shown."""
    from nbconvert.exporters.pdf import LatexFailed

    resources = {"metadata": {"name": "report", "path": str(output.parent.resolve())}}
    try:
        return make_exporter().from_notebook_node(nb, resources=dict(resources))[0]
    except LatexFailed as error:
        tex = output.parent / "build" / "report.tex"
        write_bytes(tex, make_exporter(latex_only=True).from_notebook_node(nb, resources=dict(resources))[0].encode())
        errors = [line for line in error.output.splitlines() if line.startswith("!")] or error.output.splitlines()[-20:]
        raise ReportBuildError("xelatex failed:\n" + "\n".join(errors) + f"\nThe LaTeX source is in {tex}.") from error


def main(argv: Sequence[str] | None = None) -> int:
    """Merge, write report.ipynb beside the PDF, render the PDF; each file appears only when complete."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notebooks", nargs="+", required=True, type=Path, help="executed notebooks, in order")
    parser.add_argument("--intro", type=Path, help="markdown file that becomes the first section")
    parser.add_argument("--references", type=Path, help="markdown file placed after the last notebook")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "report" / "report.pdf", help="PDF to write")
    args = parser.parse_args(argv)
    try:
        require_toolchain()
        meta, intro = split_front_matter(read_markdown(args.intro))
        merged = merge_notebooks([read_notebook(path) for path in args.notebooks], intro, meta,
                                 read_markdown(args.references), names=[path.name for path in args.notebooks])
        write_bytes(args.output.with_suffix(".ipynb"), nbformat.writes(merged).encode("utf-8"))
        pdf = render_pdf(merged, args.output)
        write_bytes(args.output, pdf)
        print(f"wrote {args.output} ({len(pdf) / 1024:.0f} KiB, {len(merged.cells)} cells)")
        return 0
    except ReportBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

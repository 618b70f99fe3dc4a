#!/usr/bin/env python
"""Merge the executed report notebooks into one code-free notebook and render it to PDF with nbconvert.

nbconvert converts one notebook at a time and shows code; a reader wants one PDF without code, prompts or
parameter cells.
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
from nbconvert.preprocessors import CoalesceStreamsPreprocessor, Preprocessor, TagRemovePreprocessor
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


def clean_notebook(nb: NotebookNode) -> NotebookNode:
    """Apply nbconvert's tag and stream preprocessors and ours; code cells left without output are dropped."""
    resources: dict[str, Any] = {}
    tags = TagRemovePreprocessor(
        remove_cell_tags={"parameters", "injected-parameters", "remove-cell", "report-skip"},
        remove_all_outputs_tags={"remove-output"},
    )
    for preprocessor in (tags, CoalesceStreamsPreprocessor(), DropNoisePreprocessor()):
        nb, resources = preprocessor.preprocess(nb, resources)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.outputs]
    return nb


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


def merge_notebooks(notebooks: Sequence[NotebookNode], intro: str, meta: dict[str, str]) -> NotebookNode:
    """One notebook: the intro as first cell, then every kept cell, ids renumbered so copies cannot collide."""
    merged = nbformat.v4.new_notebook()
    if notebooks:
        merged.metadata.update({k: notebooks[0].metadata[k] for k in ("kernelspec", "language_info")
                                if k in notebooks[0].metadata})
    merged.metadata["title"] = meta.get("title", DEFAULT_TITLE)
    merged.metadata["authors"] = [{"name": meta["author"]}] if meta.get("author") else []
    today = dt.date.today()
    merged.metadata["date"] = f"{today.day} {today:%B %Y}"
    if intro.strip():
        merged.cells.append(nbformat.v4.new_markdown_cell(intro.strip() + "\n", id="intro"))
    for nb_index, nb in enumerate(notebooks, start=1):
        for cell_index, cell in enumerate(clean_notebook(nb).cells):
            cell["id"] = f"nb{nb_index}-c{cell_index}"
            merged.cells.append(cell)
    nbformat.validate(merged)
    return merged


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
            return False  # the report has no citations: skip bibtex and its extra LaTeX run

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
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "report" / "report.pdf", help="PDF to write")
    args = parser.parse_args(argv)
    try:
        require_toolchain()
        meta, intro = {}, ""
        if args.intro is not None:
            if not args.intro.is_file():
                raise ReportBuildError(f"intro file not found: {args.intro}")
            meta, intro = split_front_matter(args.intro.read_text(encoding="utf-8"))
        merged = merge_notebooks([read_notebook(path) for path in args.notebooks], intro, meta)
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

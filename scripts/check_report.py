#!/usr/bin/env python
"""Read the rendered report PDF as an examiner would and list what gives away the program behind it.

A notebook's prints, parameter names and unlabelled pictures help the person at the keyboard; in a course report they
read as leftovers. The checks look only at the PDF (text, images, font sizes), so they hold whatever produced it.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

import pymupdf  # PyMuPDF; its old name `fitz` is deprecated from 2.0 on

ROOT = Path(__file__).resolve().parent.parent

# Words the notebooks print for the person running them (paths, devices, progress, resumption notes, the selection
# rule's log), words that only make sense beside a notebook (cells, outputs, make targets), and what Python or
# Jupyter print when something goes wrong or an object is shown raw. None belongs in a report a reader holds on paper.
PROGRAM_PHRASES = (
    "data folder:", "Reusing the finished run", "Pass retrain", "device:", "run folder", "stopped:",
    "judge classifier:", "chosen by the rule:", "active units:", "make report", "stored output", "next cell",
    "cell above", "line above", "Traceback", "Error:", "Warning:", "<Figure size", "object at 0x", "it/s]", "NBVAL",
    "print(",
)

CAPTION = re.compile(r"^Figure\s+(\d+)\s*:")  # LaTeX's caption label: "Figure 3: text"
TABLE_CAPTION = re.compile(r"^Table\s+(\d+)\s*:")
MONOSPACE_FONT = re.compile(r"Mono|Courier|Typewriter|^LMTT|^CMTT", re.IGNORECASE)  # commands and quoted code
# ASCII stand-ins for typeset symbols: >= for ≥, <= for ≤, +- or +/- for ±, -> for →, != for ≠.
ASCII_OPERATORS = re.compile(r"(?<![<>=!+\-])(>=|<=|\+/-|\+-|->|!=|==)(?![=>])")
# Tokens of code in prose: snake_case names, file names of the project's formats, calls like f(x) written in text
# (mathematics is set in math fonts and not read here) and indexing like z[2].
CODE_TOKENS = re.compile(r"\b[\w-]+\.(?:csv|npz|pt|json|py|ipynb)\b|\b[A-Za-z]+_[A-Za-z0-9_]+\b"
                         r"|\b[A-Za-z_]{2,}\([A-Za-z_]|\b[A-Za-z]\w*\[\d+\]")
# Author-year citations: "Kingma and Welling (2014)", "Burda et al. (2016)", "(Jiang et al. 2017)", "Sun (2024)".
NAME = r"[A-Z][A-Za-z\u00c0-\u017f'-]+"
CITATION = re.compile(rf"({NAME})(?: et al\.| and {NAME})?(?: \((\d{{4}})\)|,? (\d{{4}})\))")
MAX_BODY_PAGES = 15
MAX_APPENDIX_PAGES = 5
# Ligatures ("fi" in "finished") expanded so that phrases match; words hyphenated at a line end joined again.
TEXT_FLAGS = (pymupdf.TEXTFLAGS_TEXT | pymupdf.TEXT_DEHYPHENATE) & ~pymupdf.TEXT_PRESERVE_LIGATURES
# Math fonts of xelatex (unicode-math: Latin Modern Math, STIX Two Math, ...) and of pdflatex (Computer Modern math).
MATH_FONT = re.compile(r"Math|^CM(MI|SY|EX)\d|^MS(AM|BM)\d", re.IGNORECASE)
# TeX's point is 1/72.27 inch and PDF's 1/72, so an 8-pt LaTeX font measures 7.97 PDF points: not too small.
SIZE_TOLERANCE_PT = 0.05
FIGURE_DPI = 150  # vae_utils.printsize.FIGURE_DPI: the resolution figures are saved at
MIN_FIGURE_SCALE = 8.0 / 8.5  # figure type is at least 8.5 pt at natural size; printed, it must stay >= 8 pt
MIN_LETTERS = 3  # shorter spans are sub/superscripts, indices and digits, set small by TeX's rules


def parameters_cell_names(source: str) -> set[str]:
    """Names a parameters cell assigns (``a = 1``, ``a, b = 1, 2``, ``a: int = 1``): what papermill may override."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))  # magics
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            names.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
    return names


def notebook_parameter_names(notebooks: Sequence[Path] | None = None) -> set[str]:
    """The names assigned in each notebook's cell tagged ``parameters`` (default: the project's notebooks/0*.ipynb)."""
    notebooks = sorted((ROOT / "notebooks").glob("0*.ipynb")) if notebooks is None else notebooks
    names: set[str] = set()
    for path in notebooks:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
                source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                names |= parameters_cell_names(source)
    return names


def prose_lines(page: pymupdf.Page) -> list[str]:
    """The page's lines without monospaced spans (commands, quoted code) and without math (set in math fonts)."""
    lines = []
    for block in page.get_text("dict", flags=TEXT_FLAGS)["blocks"]:
        for line in block.get("lines", []):
            text = "".join(" " if MONOSPACE_FONT.search(span["font"]) or MATH_FONT.search(span["font"])
                           else span["text"] for span in line["spans"])  # a left-out span still parts words
            if text.strip():
                lines.append(text.strip())
    return lines


def ascii_operator_problems(page_number: int, prose: Sequence[str]) -> list[str]:
    """'>=', '<=', '+-', '->', '!=' in the prose: a paper sets ≥, ≤, ±, →, ≠."""
    text = " ".join(prose)
    return [f"page {page_number}: ASCII operator '{match.group(1)}' in the text (typeset the symbol): "
            f"'{excerpt(text, match.start(), match.end())}'" for match in ASCII_OPERATORS.finditer(text)]


def code_token_problems(page_number: int, prose: Sequence[str], reported: Iterable[str] = ()) -> list[str]:
    """Program text in the prose (outside monospaced quotes): snake_case names, file names, calls, indexing.

    Tokens that contain a name in ``reported`` (the notebook parameters, which have a message of their own) are
    left to that check."""
    text, known = " ".join(prose), [name for name in reported if "_" in name]
    return [f"page {page_number}: code-like token '{match.group(0)}' in the text: "
            f"'{excerpt(text, match.start(), match.end())}'" for match in CODE_TOKENS.finditer(text)
            if not any(name in match.group(0) for name in known)]


def section_page(pages: Sequence[Sequence[str]], heading: re.Pattern[str], start: int = 0) -> int | None:
    """The index of the first page from ``start`` on that has a line matching ``heading`` (None if none)."""
    return next((index for index in range(start, len(pages)) if any(map(heading.match, pages[index]))), None)


def length_problems(pages: Sequence[Sequence[str]], max_body: int = MAX_BODY_PAGES,
                    max_appendix: int = MAX_APPENDIX_PAGES) -> list[str]:
    """The body (first page to the references' heading) at most ``max_body`` pages; the appendix (its first
    lettered section after the references to the end) at most ``max_appendix``."""
    references = section_page(pages, re.compile(r"^References$"))
    body_pages = len(pages) if references is None else references + 1  # no references: all of it is body
    problems = []
    if body_pages > max_body:
        problems.append(f"the body runs to page {body_pages}, longer than {max_body} pages")
    if references is None:
        return problems
    appendix = section_page(pages, re.compile(r"^A\s+[A-Z]"), references)
    if appendix is not None and len(pages) - appendix > max_appendix:
        problems.append(f"the appendix takes {len(pages) - appendix} pages, more than {max_appendix}")
    return problems


def citation_problems(body: str, references: str) -> list[str]:
    """A work cited by author and year whose entry the references lack."""
    missing = []
    for match in CITATION.finditer(body):
        name, year = match.group(1), match.group(2) or match.group(3)
        if not re.search(rf"{re.escape(name)}\b[^()]*\({year}\)", references) and (name, year) not in missing:
            missing.append((name, year))
    return [f"'{name} ({year})' is cited but has no entry in the references" for name, year in missing]


def dangling_reference_problems(body: str, figures: Iterable[int], tables: Iterable[int]) -> list[str]:
    """References that point at nothing: LaTeX's '??' for an undefined label, or a figure or table number that no
    caption in the document carries."""
    problems = [f"an unresolved reference '{match.group(0)}' (a label that does not exist)"
                for match in re.finditer(r"(Figure|Table|Section|Appendix)\s+\?\?|\(\?\?\)", body)]
    for kind, numbers in (("Figure", set(figures)), ("Table", set(tables))):
        for match in re.finditer(rf"\b{kind}\s+(\d+)\b", body):
            if int(match.group(1)) not in numbers:
                problems.append(f"'{match.group(0)}' is referred to, but no {kind.lower()} has that number")
    return sorted(set(problems))


def page_lines(page: pymupdf.Page) -> list[str]:
    """The page's text lines, stripped, empty ones left out."""
    return [line.strip() for line in page.get_text("text", flags=TEXT_FLAGS).splitlines() if line.strip()]


def excerpt(text: str, start: int, end: int, margin: int = 30) -> str:
    """The match with some text either side, so that a problem can be found on the page."""
    return text[max(start - margin, 0):end + margin].strip()


def parameter_name_problems(page_number: int, lines: Sequence[str], names: Iterable[str]) -> list[str]:
    """Parameter names with an underscore (``n_judged``) are code; a report says what the value means instead.

    Names without one (``seed``, ``epochs``) are also plain words, so they are not checked. The text is searched with
    its lines joined by a space and by nothing, so that a name split over two lines is found too.
    """
    texts = (" ".join(lines), "".join(lines))
    problems = []
    for name in sorted(name for name in names if "_" in name):
        word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        match = next((found for found in map(word.search, texts) if found), None)
        if match:
            problems.append(f"page {page_number}: the notebook parameter name '{name}' appears in the text: "
                            f"'{excerpt(match.string, match.start(), match.end())}'")
    return problems


def phrase_problems(page_number: int, lines: Sequence[str], phrases: Sequence[str]) -> list[str]:
    """Program prints and notebook words (PROGRAM_PHRASES), found whatever their case."""
    text = " ".join(" ".join(lines).split())
    problems = []
    for phrase in phrases:
        match = re.search(re.escape(phrase), text, re.IGNORECASE)
        if match:
            problems.append(f"page {page_number}: program output or notebook wording '{phrase}': "
                            f"'{excerpt(text, match.start(), match.end())}'")
    return problems


def caption_numbers(lines: Sequence[str]) -> list[int]:
    """The numbers of the figure captions on a page, in reading order."""
    return [int(match.group(1)) for match in map(CAPTION.match, lines) if match]


def drawn_image_count(page: pymupdf.Page) -> int:
    """Raster images drawn on the page, each placement counted (the same picture twice is two figures)."""
    return sum(1 for info in page.get_image_info() if not pymupdf.Rect(info["bbox"]).is_empty)


def uncaptioned_figure_problems(page_number: int, images: int, captions: int) -> list[str]:
    """A figure the text cannot refer to by number: more pictures on a page than numbered captions."""
    if images <= captions:
        return []
    return [f"page {page_number}: {images} image(s) but {captions} numbered caption(s) ('Figure N: ...'); "
            "every figure needs a caption that says what it shows"]


def shrunk_figure_problems(page_number: int, page: pymupdf.Page, dpi: float = FIGURE_DPI,
                           min_scale: float = MIN_FIGURE_SCALE) -> list[str]:
    """Figures printed smaller than their natural size (``dpi`` pixels per inch, as ``vu.save_and_show`` saves them).

    The figures' type is set at 8.5 pt or more for their natural size (``report_tools.figure_checks``); the template
    shrinks a figure only when it is wider or taller than the page allows, and then its type shrinks with it.
    """
    problems = []
    for info in page.get_image_info():
        natural_width_pt = info["width"] / dpi * 72
        scale = (info["bbox"][2] - info["bbox"][0]) / natural_width_pt
        if scale < min_scale:
            problems.append(f"page {page_number}: a figure is printed at {scale:.0%} of its natural size, so its "
                            f"text falls below 8 pt; make the figure smaller (vae_utils/printsize.py)")
    return problems


def caption_numbering_problems(captions: Sequence[tuple[int, int]]) -> list[str]:
    """Figure numbers over the whole document must run 1, 2, 3, ...: a gap or repeat breaks every reference."""
    problems, expected = [], 1
    for page_number, number in captions:
        if number != expected:
            problems.append(f"page {page_number}: 'Figure {number}:' where 'Figure {expected}:' was expected; "
                            "figure numbers must run 1, 2, 3, ... without gaps or repeats")
        expected = number + 1
    return problems


def unreferenced_figure_problems(captions: Sequence[tuple[int, int]], body_lines: Sequence[str]) -> list[str]:
    """Every figure must be referred to in the text ("Figure n" outside its own caption): a figure nobody points
    to is a printout, not part of the argument."""
    body = " ".join(body_lines)
    return [f"page {page_number}: Figure {number} is never referred to in the text"
            for page_number, number in captions if not re.search(rf"\bFigure\s+{number}\b(?!\s*:)", body)]


def is_math(span: dict) -> bool:
    """Set in a math font: TeX chose its size (scripts, limits), not the author."""
    return bool(MATH_FONT.search(span["font"]))


def beside_math(span: dict, math_boxes: Sequence[pymupdf.Rect]) -> bool:
    """Touching a math glyph: a subscript, superscript or brace label, which TeX sets in script size by design."""
    reach = span["size"]
    box = pymupdf.Rect(span["bbox"]) + (-reach, -reach, reach, reach)
    return any(box.intersects(math_box) for math_box in math_boxes)


def small_text_problems(page_number: int, page: pymupdf.Page, min_font_pt: float) -> list[str]:
    """Text below ``min_font_pt`` (a table shrunk to fit the page), reported once per page with its smallest size.

    Spans of fewer than MIN_LETTERS letters and math (scripts, brace labels) are exempt: TeX sets those small.
    """
    spans = [span for block in page.get_text("dict", flags=TEXT_FLAGS)["blocks"]
             for line in block.get("lines", []) for span in line["spans"]]
    math_boxes = [pymupdf.Rect(span["bbox"]) for span in spans if is_math(span)]
    small = [span for span in spans
             if span["size"] < min_font_pt - SIZE_TOLERANCE_PT
             and sum(char.isalpha() for char in span["text"]) >= MIN_LETTERS
             and not is_math(span) and not beside_math(span, math_boxes)]
    if not small:
        return []
    smallest = min(small, key=lambda span: span["size"])
    return [f"page {page_number}: text set in {smallest['size']:.1f} pt, below the {min_font_pt:g} pt minimum "
            f"(e.g. '{smallest['text'].strip()[:60]}'); set tables at a readable size or split them"]


def pdf_problems(pdf: Path, parameter_names: Iterable[str], phrases: Sequence[str] = PROGRAM_PHRASES,
                 min_font_pt: float = 8.0) -> list[str]:
    """Every leftover of the program in the PDF, each a sentence naming its page; empty for a clean report."""
    names = list(parameter_names)
    problems: list[str] = []
    captions: list[tuple[int, int]] = []
    body_lines: list[str] = []
    pages: list[list[str]] = []
    tables: list[int] = []
    with pymupdf.open(pdf) as document:
        for page in document:
            number, lines, prose = page.number + 1, page_lines(page), prose_lines(page)
            pages.append(lines)
            page_captions = caption_numbers(lines)
            captions += [(number, caption) for caption in page_captions]
            tables += [int(match.group(1)) for match in map(TABLE_CAPTION.match, lines) if match]
            body_lines += [line for line in lines if not CAPTION.match(line)]
            problems += parameter_name_problems(number, prose, names)
            problems += phrase_problems(number, prose, phrases)
            problems += ascii_operator_problems(number, prose)
            problems += code_token_problems(number, prose, names)
            problems += uncaptioned_figure_problems(number, drawn_image_count(page), len(page_captions))
            problems += small_text_problems(number, page, min_font_pt)
            problems += shrunk_figure_problems(number, page)
    references = section_page(pages, re.compile(r"^References$"))
    split = len(pages) if references is None else references
    body = " ".join(line for page in pages[:split + 1] for line in page)
    cited = " ".join(line for page in pages[split:] for line in page) if references is not None else ""
    return (problems + caption_numbering_problems(captions) + unreferenced_figure_problems(captions, body_lines)
            + length_problems(pages) + citation_problems(body.split("References")[0] if references is not None
                                                         else body, cited)
            + dangling_reference_problems(" ".join(body_lines), [number for _, number in captions], tables))


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per problem; exit 1 if there is any, so that a build or CI step can stop on it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pdf", nargs="?", type=Path, default=ROOT / "report" / "report.pdf", help="PDF to read")
    parser.add_argument("--min-font-pt", type=float, default=8.0, help="smallest acceptable text size (points)")
    args = parser.parse_args(argv)
    if not args.pdf.is_file():
        parser.error(f"PDF not found: '{args.pdf}'; render the report first (scripts/build_report.py)")
    problems = pdf_problems(args.pdf, notebook_parameter_names(), min_font_pt=args.min_font_pt)
    print("\n".join(problems) if problems else f"{args.pdf}: no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

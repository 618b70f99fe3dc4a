#!/usr/bin/env python
"""Read the rendered report PDF as an examiner would and list what gives away the program behind it.

A notebook's prints, parameter names and unlabelled pictures help the person at the keyboard; in a course report they
read as leftovers. The checks look only at the PDF (text, images, font sizes, rules), so they hold whatever produced
it; one more compares the BibTeX file with the keys the paper's Markdown cites (an entry nobody cites is not printed,
so the PDF cannot show it).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

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

# The body for the checks of sentences and program text: from the first page to the "References" heading.
REFERENCES_HEADING = re.compile(r"^References$")
# The section where commands, files and tools belong: "7 Reproducibility" (or unnumbered), up to the next heading of
# its level or above.
REPRODUCIBILITY_HEADING = re.compile(r"^(?:(\d+(?:\.\d+)*)\s+)?Reproducibility\b", re.IGNORECASE)
NUMBERED_HEADING = re.compile(r"^(\d+(?:\.\d+)*)\s+\S")
# A number, as a reader counts them: a group of digits with thousands commas and decimals (98.9, 1,234,143, 0.81,
# 95%), not digits inside a word (Conv2d, seed1) or after a hyphen or slash (csci-646, 1/2 is one number).
NUMBER = re.compile(r"(?<![\w.,/-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
MAX_NUMBERS_PER_SENTENCE = 5
# Numbers that name a place in the paper, not a value: "Figure 3", "Tables 4, 9 and 14", "Section 4.1", "Sections
# 4.4 to 4.7", "Eq. (4)", an equation's number alone in parentheses "(4)"; digits of a web address. And the year of
# a citation: a year right after a capitalised name or "et al." ("Kingma and Welling 2014", "Burda, Grosse, and
# Salakhutdinov (2016)").
PLACE_NUMBER = r"\(?[A-Z]?\d+(?:\.\d+)*[a-z]?\)?"
NOT_COUNTED = re.compile(
    rf"\b(?:Figures?|Figs?\.|Tables?|Sections?|Secs?\.|Equations?|Eqs?\.|Appendix|Appendices|Chapters?|Pages?)"
    rf"\s+{PLACE_NUMBER}(?:(?:\s*,\s*|\s+(?:and|or|to)\s+|\s*[–-]\s*){PLACE_NUMBER})*"
    rf"|\(\d+\)|https?://\S+|www\.\S+")
YEAR = re.compile(r"(?:1[5-9]|20)\d\d[a-z]?")
CITATION_YEAR_BEFORE = re.compile(rf"(?:{NAME}|et al\.),?\s+\(?$")
# Where a sentence ends: . ! or ? (and closing quotes or brackets), a space, then a capital, a quote or a bracket;
# not after an abbreviation or an initial ("et al.", "e.g.", "Eq.", "M. H. Sun"; but "Appendix E." ends one).
SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*\s+(?=[A-Z“\"‘(\[])")
ABBREVIATION = re.compile(r"(?:\bal|\be\.g|\bi\.e|\bcf|\bvs|\bEqs?|\bFigs?|\bSecs?|\bNo|\bapprox"
                          r"|(?<!Appendix )\b[A-Z])$")
LIST_LABEL = re.compile(r"^\(?(?:\d{1,2}|[a-z])[.)]\s")  # "1. ", "(a) ": an enumeration's label
# Program text a reader does not need outside the reproducibility statement: tools and commands named in ordinary
# type, file names and folders (snake_case names and the project's data files are CODE_TOKENS, everywhere).
PROGRAM_WORDS = re.compile(r"\b(?:torchsummary|papermill|nbconvert|pytest|make (?:test|pdf|notebooks)|"
                           r"pip install)\b", re.IGNORECASE)
FILE_NAME = re.compile(r"\b[\w-]+\.(?:pdf|py|ipynb|csv|tsv|json|npz|npy|pt|pth|md|bib|tex|png|txt|ya?ml|toml|sh|cfg)\b")
FOLDER = re.compile(r"(?<![\w/:.-])(?:[A-Za-z_][\w.-]*/)+[\w.-]*")
# A citation citeproc could not resolve: pandoc-citeproc's "(???)", citeproc's "(key?)", or a key left as typed.
UNRESOLVED_CITATION = re.compile(r"\?\?\?|\((?:[^()]*;\s*)?[\w:.#$%&+<>~/-]*\w\?\s*[;)]"
                                 r"|(?<![\w@])@[A-Za-z_][\w:.-]*\w")
BOLD = 16  # PyMuPDF's span flag for a bold font


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
    if references is not None and next((line for line in pages[references] if line.strip()), "") == "References":
        body_pages = references  # the references open their page: the body ended on the page before
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
    """A work cited by author and year whose entry the references lack (an entry names the author, then the year:
    "Kingma, Diederik P., and Max Welling. 2014." as citeproc sets it, or "Kingma, D. P. (2014)")."""
    missing = []
    for match in CITATION.finditer(body):
        name, year = match.group(1), match.group(2) or match.group(3)
        if (not re.search(rf"{re.escape(name)}\b[^()]*?(?:\({year}[a-z]?\)|\b{year}[a-z]?\.)", references)
                and (name, year) not in missing):
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


class TextLine(NamedTuple):
    """A line of a page with its spans (PyMuPDF's dicts; a span inside a web link is marked ``"uri": True``)."""

    page: int  # 1-based
    bbox: pymupdf.Rect
    spans: list[dict]

    @property
    def text(self) -> str:
        return "".join(span["text"] for span in self.spans).strip()

    def is_bold(self) -> bool:
        """Set in bold throughout: a heading (or its number), not a caption or a run-in head within a paragraph."""
        return all(span["flags"] & BOLD for span in self.spans if span["text"].strip())


class Table(NamedTuple):
    """A table as printed: its rules' extent and heights on the page, its number, its body rows as text."""

    page: int
    number: int | None
    box: pymupdf.Rect  # from the top rule to the bottom rule
    rows: tuple[str, ...]


def text_lines(page: pymupdf.Page) -> list[TextLine]:
    """The page's lines in reading order, with their spans; spans inside a link to a web address are marked."""
    links = [pymupdf.Rect(link["from"]) for link in page.get_links() if link.get("uri")]
    lines = []
    for block in page.get_text("dict", flags=TEXT_FLAGS)["blocks"]:
        for line in block.get("lines", []):
            spans = [{**span, "uri": any(pymupdf.Rect(span["bbox"]).intersects(link) for link in links)}
                     for span in line["spans"]]
            if "".join(span["text"] for span in spans).strip():
                lines.append(TextLine(page.number + 1, pymupdf.Rect(line["bbox"]), spans))
    return lines


def horizontal_rules(page: pymupdf.Page, min_width: float = 80.0) -> list[pymupdf.Rect]:
    """Lines drawn across the page (a table's rules; fraction bars are shorter), top to bottom."""
    rules = [pymupdf.Rect(drawing["rect"]) for drawing in page.get_drawings()]
    return sorted((rule for rule in rules if rule.height <= 1.5 and rule.width >= min_width), key=lambda r: r.y0)


def page_tables(page: pymupdf.Page, lines: Sequence[TextLine]) -> list[Table]:
    """The booktabs tables on a page: three or more rules of one width (top, middle, bottom), a table caption
    starting a new table; its number from the caption nearest above; its body rows (under the second rule) as the
    words of each printed row, left to right."""
    captions = [(line.bbox, int(match.group(1))) for line in lines if (match := TABLE_CAPTION.match(line.text))]
    groups: list[list[pymupdf.Rect]] = []
    for rule in horizontal_rules(page):
        group = next((group for group in groups if abs(group[-1].x0 - rule.x0) < 2 and abs(group[-1].x1 - rule.x1) < 2
                      and not any(group[-1].y1 < box.y0 < rule.y0 for box, _ in captions)), None)
        if group is None:
            groups.append([rule])
        else:
            group.append(rule)
    words = page.get_text("words", flags=TEXT_FLAGS)
    tables = []
    for rules in (group for group in groups if len(group) >= 3):
        box = pymupdf.Rect(rules[0].x0, rules[0].y0, rules[-1].x1, rules[-1].y1)
        above = [(box_, number) for box_, number in captions if box_.y1 <= box.y0 + 2]
        number = max(above, key=lambda caption: caption[0].y1)[1] if above else None
        rows: dict[int, list[tuple[float, str]]] = {}
        for x0, y0, x1, y1, word, *_ in words:
            if rules[1].y1 < (y0 + y1) / 2 < rules[-1].y0 and box.x0 - 2 <= (x0 + x1) / 2 <= box.x1 + 2:
                key = next((known for known in rows if abs(known - (y0 + y1) / 2) < 2), round((y0 + y1) / 2))
                rows.setdefault(key, []).append((x0, word))
        tables.append(Table(page.number + 1, number, box,
                            tuple(" ".join(word for _, word in sorted(rows[y])) for y in sorted(rows))))
    return tables


def repeats(table: Table, other: Table) -> str | None:
    """How ``table`` (two or more body rows) repeats ``other``: "the same rows" when each of its rows is one of the
    other's, "the same values in fewer columns" when each row's words are all within a row of the other; else None."""
    if len(table.rows) < 2 or table is other:
        return None
    if set(table.rows) <= set(other.rows):
        return "its rows are all rows of"
    words = [Counter(row.split()) for row in other.rows]
    if all(len(row.split()) >= 2 and any(Counter(row.split()) <= candidate for candidate in words)
           for row in table.rows):
        return "each of its rows is printed within a row of"
    return None


def repeated_table_problems(tables: Sequence[Table]) -> list[str]:
    """A table printed twice: every body row of one table is a row of another, or lies within one (the same values,
    fewer columns). Each table is reported once, under the first table it repeats."""
    problems = []
    for index, table in enumerate(tables):
        for other_index, other in enumerate(tables):
            how = repeats(table, other)
            if how and not (other_index > index and repeats(other, table)):  # the same table twice: the second
                name = f"Table {table.number}" if table.number else "a table"
                other_name = f"Table {other.number}" if other.number else "a table"
                problems.append(f"page {table.page}: {name} prints again what {other_name} (page {other.page}) "
                                f"shows: {how} {other_name}; keep one of them")
                break
    return problems


def repeated_image_problems(document: pymupdf.Document) -> list[str]:
    """A picture printed twice: two placements of images with the same pixels (PyMuPDF's MD5 digest)."""
    seen: dict[bytes, str] = {}
    problems = []
    for page in document:
        captions = [(line.bbox, line.text.split(":")[0]) for line in text_lines(page) if CAPTION.match(line.text)]
        for info in page.get_image_info(hashes=True):
            box = pymupdf.Rect(info["bbox"])
            if box.is_empty:
                continue
            below = [(caption_box.y0, name) for caption_box, name in captions if caption_box.y0 >= box.y1 - 2]
            name = f"{min(below)[1]}'s image" if below else "an image"
            where = f"{name} on page {page.number + 1}"
            if info["digest"] in seen:
                problems.append(f"page {page.number + 1}: {name} is the same picture as {seen[info['digest']]}: a "
                                "figure printed twice")
            else:
                seen[info["digest"]] = where
    return problems


def body_text_lines(document: pymupdf.Document, tables: Sequence[Table]) -> list[TextLine]:
    """The lines of the body, first page to the "References" heading, without the tables' cells and page numbers."""
    lines = []
    for page in document:
        boxes = [table.box for table in tables if table.page == page.number + 1]
        for line in text_lines(page):
            if REFERENCES_HEADING.match(line.text):
                return lines
            middle = (line.bbox.y0 + line.bbox.y1) / 2
            if not line.text.isdigit() and not any(box.y0 < middle < box.y1 and box.x0 - 2 <= line.bbox.x0 <= box.x1
                                                   for box in boxes):
                lines.append(line)
    return lines


def sentences(lines: Sequence[TextLine]) -> list[tuple[int, str]]:
    """The body's sentences with the page each starts on, as a reader counts their numbers: math, code font and bold
    (headings, caption labels, run-in heads) are left out, a bold span ends a sentence, and so does ". A"."""
    chunks: list[tuple[int, str]] = []
    for line in lines:
        text = "".join(" " if is_math(span) or MONOSPACE_FONT.search(span["font"])
                       else "\n" if span["flags"] & BOLD else span["text"] for span in line.spans).strip(" ")
        chunks.append((line.page, LIST_LABEL.sub("", text)))
    text, starts, position = "", [], 0
    for page, chunk in chunks:
        starts.append((position, page))
        text += chunk + " "
        position = len(text)
    found = []
    for part_match in re.finditer(r"[^\n]+", text):
        start = part_match.start()
        for boundary in SENTENCE_END.finditer(part_match.group(0)):
            before = part_match.group(0)[:boundary.start()]
            if ABBREVIATION.search(before):
                continue
            found.append((start, part_match.start() + boundary.end()))
            start = part_match.start() + boundary.end()
        found.append((start, part_match.end()))
    result = []
    for start, end in found:
        sentence = " ".join(text[start:end].split())
        if sentence:
            page = next(page for position, page in reversed(starts) if position <= start)
            result.append((page, sentence))
    return result


def counted_numbers(sentence: str) -> list[str]:
    """The numbers a sentence reports (NUMBER), without those that name a place (NOT_COUNTED) or a citation's year."""
    text = NOT_COUNTED.sub(lambda match: " " * len(match.group(0)), sentence)
    return [match.group(0) for match in NUMBER.finditer(text)
            if not (YEAR.fullmatch(match.group(0)) and CITATION_YEAR_BEFORE.search(text[:match.start()]))]


def number_density_problems(lines: Sequence[TextLine], limit: int = MAX_NUMBERS_PER_SENTENCE) -> list[str]:
    """A sentence of the body with more than ``limit`` numbers: a reader cannot hold them; a table can."""
    problems = []
    for page, sentence in sentences(lines):
        numbers = counted_numbers(sentence)
        if len(numbers) > limit:
            shown = sentence if len(sentence) <= 100 else sentence[:97] + "..."
            problems.append(f"page {page}: a sentence with {len(numbers)} numbers, more than {limit} "
                            f"({', '.join(numbers)}); keep the few that carry it and let a table carry the rest: "
                            f"'{shown}'")
    return problems


def program_text_problems(lines: Sequence[TextLine]) -> list[str]:
    """Code font, file names, folders and tool names in the body outside the reproducibility statement (a web
    address in a link is not program text). Snake_case names and the data files' names are CODE_TOKENS' and
    PROGRAM_PHRASES' to report, anywhere."""
    problems, section_number, reproducibility_level = [], None, 0
    for line in lines:
        if line.is_bold() and line.text.replace(".", "").isdigit():
            section_number = line.text  # a heading's number, set apart from its title
            continue
        if line.is_bold():
            title = f"{section_number} {line.text}" if section_number else line.text
            section_number = None
            numbered = NUMBERED_HEADING.match(title)
            level = numbered.group(1).count(".") + 1 if numbered else 1
            if REPRODUCIBILITY_HEADING.match(title):
                reproducibility_level = level
            elif reproducibility_level and level <= reproducibility_level:
                reproducibility_level = 0
            continue
        if reproducibility_level:
            continue
        code = " ".join(span["text"].strip() for span in line.spans
                        if MONOSPACE_FONT.search(span["font"]) and not span["uri"] and span["text"].strip())
        if code:
            problems.append(f"page {line.page}: '{code}' in code font in the body; commands and files belong in the "
                            "reproducibility statement: say it in words here")
        prose = "".join(" " if MONOSPACE_FONT.search(span["font"]) or is_math(span) else span["text"]
                        for span in line.spans)
        found = [match.group(0) for pattern in (PROGRAM_WORDS, FILE_NAME) for match in pattern.finditer(prose)]
        found += [match.group(0) for match in FOLDER.finditer(prose)
                  if match.group(0).endswith("/") or re.search(r"[\d_.]", match.group(0))]
        for token in dict.fromkeys(found):
            if not CODE_TOKENS.search(token):
                problems.append(f"page {line.page}: program text '{token}' in the body; name tools, files and "
                                "commands only in the reproducibility statement")
    return problems


def unresolved_citation_problems(page_number: int, prose: Sequence[str]) -> list[str]:
    """A citation citeproc could not resolve, as it prints one: "(???)", "(key?)", or "@key" left as typed."""
    text = " ".join(prose)
    return [f"page {page_number}: an unresolved citation '{match.group(0).strip()}' (a key with no entry in the "
            f"bibliography, or a citation never set): '{excerpt(text, match.start(), match.end())}'"
            for match in UNRESOLVED_CITATION.finditer(text)]


def bibliography_problems(paper: Path, bibliography: Path) -> list[str]:
    """Keys the paper's Markdown cites without an entry in the BibTeX file, and entries it never cites (citeproc
    prints only what is cited, so an uncited entry is a reference the text lost)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import build_report  # the paper's citation syntax and pandoc's reading of BibTeX, defined once there

    cited = build_report.cited_keys(paper.read_text(encoding="utf-8"))
    entries = build_report.bibliography_keys(bibliography)
    missing = [f"{paper.name} cites @{key}, which {bibliography.name} has no entry for" for key in cited
               if key not in entries]
    uncited = [f"{bibliography.name}: the entry '{key}' is never cited in {paper.name}; cite it or remove it"
               for key in entries if key not in cited]
    duplicated = [f"{bibliography.name}: the key '{key}' has {count} entries" for key, count in Counter(entries).items()
                  if count > 1]
    return missing + uncited + duplicated


def pdf_problems(pdf: Path, parameter_names: Iterable[str], phrases: Sequence[str] = PROGRAM_PHRASES,
                 min_font_pt: float = 8.0) -> list[str]:
    """Every leftover of the program in the PDF, each a sentence naming its page; empty for a clean report."""
    names = list(parameter_names)
    problems: list[str] = []
    captions: list[tuple[int, int]] = []
    body_lines: list[str] = []
    pages: list[list[str]] = []
    tables: list[int] = []
    printed_tables: list[Table] = []
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
            problems += unresolved_citation_problems(number, prose)
            printed_tables += page_tables(page, text_lines(page))
        body_text = body_text_lines(document, printed_tables)
        problems += repeated_image_problems(document) + repeated_table_problems(printed_tables)
        problems += number_density_problems(body_text) + program_text_problems(body_text)
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
    parser.add_argument("--bib", type=Path, default=ROOT / "report" / "references.bib",
                        help="BibTeX file whose every entry the paper must cite")
    parser.add_argument("--paper", type=Path, default=ROOT / "report" / "paper.md",
                        help="the paper's Markdown, whose citation keys are compared with --bib")
    args = parser.parse_args(argv)
    for path, what in ((args.pdf, "render the report first (scripts/build_report.py)"),
                       (args.bib, "pass the paper's BibTeX file with --bib"), (args.paper, "pass it with --paper")):
        if not path.is_file():
            parser.error(f"not found: '{path}'; {what}")
    problems = (pdf_problems(args.pdf, notebook_parameter_names(), min_font_pt=args.min_font_pt)
                + bibliography_problems(args.paper, args.bib))
    print("\n".join(problems) if problems else f"{args.pdf}: no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

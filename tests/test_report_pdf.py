"""The report is a product of the pipeline: smoke-run notebooks render to a PDF with every section, and the PDF reads
as a course report, not as a program's log (scripts/check_report.py; each of its checks is shown to fail here).
"""

import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pymupdf
import pytest

import vae_utils as vu


def _load_check_report():
    spec = importlib.util.spec_from_file_location("check_report", vu.paths.PROJECT_ROOT / "scripts" / "check_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_report"] = module
    spec.loader.exec_module(module)
    return module


check_report = _load_check_report()
pdf_problems, notebook_parameter_names = check_report.pdf_problems, check_report.notebook_parameter_names

# The paper's numbered sections in order, then the references and the appendix.
SECTIONS = [
    "Abstract", "1 Introduction", "2 Related work", "3 Method", "4 Results", "5 Limitations", "6 Conclusion",
    "7 Reproducibility", "References", "A The network", "E The course report",
]


def test_smoke_report_renders_with_layer_table_sections_and_figures(tmp_path, smoke_pipeline):
    executed = [str(path) for path in smoke_pipeline.executed.values()]
    run_dir, figures = smoke_pipeline.run_dir, smoke_pipeline.figures_dir
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [sys.executable, str(vu.paths.PROJECT_ROOT / "scripts" / "build_report.py"), "--notebooks", *executed,
         "--main-run", str(run_dir), "--figures-dir", str(figures), "--output", str(pdf)],
        check=True, env={**os.environ},
    )
    assert pdf.stat().st_size > 100_000

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    text = " ".join(text.split())  # headings may wrap across lines
    assert "1,234,143" in text
    missing = [title for title in SECTIONS if title not in text]
    assert not missing, f"sections missing from the PDF: {missing}"
    positions = [text.index(title) for title in SECTIONS]
    assert positions == sorted(positions), "the sections must appear in the document's order"
    assert "import vae_utils" not in text, "code must be hidden in the report"

    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    images = [line for line in listing.splitlines()[2:] if line.strip()]
    assert len(images) >= 6, "the paper's figures must be embedded in the PDF"
    assert not pdf_problems(pdf, notebook_parameter_names())


# Fast tests: one-page PDFs drawn with PyMuPDF, each broken in one way, prove that every check fails when it should.

Line = tuple[str, float]  # text and font size in points
BODY_PT = 11.0


def _png() -> bytes:
    """A small grey-level picture, standing in for a figure."""
    buffer = io.BytesIO()
    plt.imsave(buffer, np.linspace(0.0, 1.0, 32 * 32).reshape(32, 32), cmap="gray", format="png")
    return buffer.getvalue()


def _write_pdf(path: Path, pages: list[tuple[int, list[Line]]]) -> Path:
    """A PDF whose pages each hold some images, then text lines top to bottom."""
    document, picture = pymupdf.open(), _png()
    for images, lines in pages:
        page, y = document.new_page(), 72.0
        for _ in range(images):
            page.insert_image(pymupdf.Rect(72, y, 232, y + 160), stream=picture)
            y += 170
        for text, size in lines:
            y += size * 1.5
            page.insert_text((72, y), text, fontsize=size)
    document.save(path)
    return path


def _clean_page(caption_number: int = 1) -> tuple[int, list[Line]]:
    """One figure with its numbered caption and a sentence of body text: what a report page looks like."""
    return 1, [(f"Figure {caption_number}: Reconstructions of ten test digits; the mean error is 0.08.", BODY_PT),
               (f"The model reconstructs every digit class; Figure {caption_number} shows one of each.", BODY_PT)]


def test_clean_page_with_a_captioned_figure_passes(tmp_path):
    pdf = _write_pdf(tmp_path / "clean.pdf", [_clean_page()])
    assert pdf_problems(pdf, notebook_parameter_names()) == []


def test_real_notebooks_declare_the_parameters_the_report_must_not_name():
    names = notebook_parameter_names()
    assert {"n_judged", "min_purity", "z_dim", "seed", "betas"} <= names


def test_parameters_cell_names_include_every_assignment_target():
    source = "import os\nlr = 1e-4\nbetas, (a_b, c) = (0.9, 0.99), (1, 2)\nz_dim: int = 15\nx = y = 2\nn += 1\n"
    assert check_report.parameters_cell_names(source) == {"lr", "betas", "a_b", "c", "z_dim", "x", "y", "n"}


def test_parameter_name_in_the_text_is_reported_with_its_page(tmp_path):
    images, lines = _clean_page(2)
    leftover = ("We judge n_judged samples per digit.", BODY_PT)
    pdf = _write_pdf(tmp_path / "name.pdf", [_clean_page(1), (images, lines + [leftover])])
    problems = pdf_problems(pdf, notebook_parameter_names())
    assert len(problems) == 1 and "page 2" in problems[0] and "'n_judged'" in problems[0], problems


def test_parameter_names_match_whole_words_only_and_across_line_breaks(tmp_path):
    images, lines = _clean_page()
    words = [("Each seed and the purity my_min_purity_x are prose or other names; but the value of min_", BODY_PT),
             ("purity is code split over two lines.", BODY_PT)]
    pdf = _write_pdf(tmp_path / "words.pdf", [(images, lines + words)])
    problems = pdf_problems(pdf, {"seed", "min_purity"})
    assert len(problems) == 1 and "'min_purity'" in problems[0], problems


@pytest.mark.parametrize("phrase", check_report.PROGRAM_PHRASES)
def test_program_phrase_is_reported_whatever_its_case(tmp_path, phrase):
    images, lines = _clean_page()
    pdf = _write_pdf(tmp_path / "phrase.pdf", [(images, lines + [(f"As printed: {phrase.swapcase()} 42", BODY_PT)])])
    problems = pdf_problems(pdf, notebook_parameter_names())
    assert len(problems) == 1 and f"'{phrase}'" in problems[0] and "page 1" in problems[0], problems


def test_image_without_a_caption_is_reported(tmp_path):
    pdf = _write_pdf(tmp_path / "uncaptioned.pdf", [_clean_page(), (1, [("Some text about it.", BODY_PT)])])
    problems = pdf_problems(pdf, notebook_parameter_names())
    assert len(problems) == 1 and "page 2" in problems[0] and "caption" in problems[0], problems


def test_second_image_under_one_caption_is_reported(tmp_path):
    images, lines = _clean_page()
    problems = pdf_problems(_write_pdf(tmp_path / "two.pdf", [(images + 1, lines)]), notebook_parameter_names())
    assert len(problems) == 1 and "2 image(s) but 1" in problems[0], problems


def test_caption_numbers_with_a_gap_are_reported(tmp_path):
    pdf = _write_pdf(tmp_path / "gap.pdf", [_clean_page(1), _clean_page(3)])
    problems = pdf_problems(pdf, notebook_parameter_names())
    assert len(problems) == 1 and "page 2" in problems[0] and "'Figure 3:'" in problems[0], problems


def test_repeated_caption_number_is_reported(tmp_path):
    pdf = _write_pdf(tmp_path / "repeat.pdf", [_clean_page(1), _clean_page(2), _clean_page(2)])
    problems = pdf_problems(pdf, notebook_parameter_names())
    assert len(problems) == 1 and "page 3" in problems[0], problems


def test_table_text_below_the_minimum_size_is_reported_once_per_page(tmp_path):
    images, lines = _clean_page()
    table = [("sampler  accuracy  recall", 6.0), ("k-means  0.981  0.274", 6.0)]
    problems = pdf_problems(_write_pdf(tmp_path / "small.pdf", [(images, lines + table)]), notebook_parameter_names())
    assert len(problems) == 1 and "page 1" in problems[0] and "6.0 pt" in problems[0], problems


def test_short_small_spans_such_as_scripts_and_8pt_latex_text_pass(tmp_path):
    images, lines = _clean_page()
    small = [("k=1", 6.0), ("2", 5.0), ("A footnote set in LaTeX's 8 pt, which PDF measures as 7.97 pt.", 7.97)]
    pdf = _write_pdf(tmp_path / "scripts.pdf", [(images, lines + small)])
    assert pdf_problems(pdf, notebook_parameter_names()) == []


def _math_font() -> str | None:
    """Latin Modern Math, the font xelatex sets equations in, where the PDF toolchain is installed."""
    found = shutil.which("kpsewhich") and subprocess.run(["kpsewhich", "latinmodern-math.otf"], capture_output=True,
                                                         text=True).stdout.strip()
    return found or None


@pytest.mark.skipif(not _math_font(), reason="Latin Modern Math missing: bash scripts/install_pdf_tools.sh")
def test_brace_labels_under_an_equation_are_not_taken_for_small_table_text(tmp_path):
    images, lines = _clean_page()
    pdf = _write_pdf(tmp_path / "math.pdf", [(images, lines)])
    with pymupdf.open(pdf) as document:  # an underbrace label, set by TeX in script size right under the brace
        page = document[0]
        page.insert_text((72, 400), "E[log p(x|z)] - KL(q || p)", fontsize=BODY_PT, fontname="lmmath",
                         fontfile=_math_font())
        page.insert_text((80, 412), "reconstruction", fontsize=7.64)
        page.insert_text((72, 500), "regulariser", fontsize=7.64)  # the same size away from any equation
        document.save(tmp_path / "labelled.pdf")
    problems = pdf_problems(tmp_path / "labelled.pdf", notebook_parameter_names())
    assert len(problems) == 1 and "'regulariser'" in problems[0], problems


def test_command_line_prints_each_problem_and_exits_1_or_says_no_problems(tmp_path, capsys):
    clean = _write_pdf(tmp_path / "clean.pdf", [_clean_page()])
    broken = _write_pdf(tmp_path / "broken.pdf", [(2, [("Traceback (most recent call last):", BODY_PT)])])
    assert check_report.main([str(clean)]) == 0
    assert "no problems" in capsys.readouterr().out
    assert check_report.main([str(broken)]) == 1
    assert capsys.readouterr().out.strip().splitlines() == [
        "page 1: program output or notebook wording 'Traceback': 'Traceback (most recent call last):'",
        "page 1: 2 image(s) but 0 numbered caption(s) ('Figure N: ...'); every figure needs a caption that says what "
        "it shows",
    ]


def test_committed_report_reads_as_a_course_report():
    problems = pdf_problems(vu.paths.PROJECT_ROOT / "report" / "report.pdf", notebook_parameter_names())
    assert not problems, "\n".join(problems)


def test_figure_printed_below_its_natural_size_is_reported(tmp_path):
    document = pymupdf.open()
    page = document.new_page()
    buffer = io.BytesIO()
    plt.imsave(buffer, np.zeros((300, 900)), cmap="gray", format="png")  # 6 in wide at 150 dpi
    page.insert_image(pymupdf.Rect(72, 72, 72 + 216, 72 + 72), stream=buffer.getvalue())  # printed 3 in wide
    page.insert_text((72, 180), "Figure 1: A figure squeezed to half its width.", fontsize=BODY_PT)
    page.insert_text((72, 200), "Figure 1 shows it.", fontsize=BODY_PT)
    document.save(tmp_path / "shrunk.pdf")
    problems = pdf_problems(tmp_path / "shrunk.pdf", notebook_parameter_names())
    assert len(problems) == 1 and "50% of its natural size" in problems[0]


def test_figure_never_referred_to_in_the_text_is_reported(tmp_path):
    unreferenced = (1, [("Figure 1: Reconstructions of ten test digits.", BODY_PT), ("The model works well.", BODY_PT)])
    problems = pdf_problems(_write_pdf(tmp_path / "unreferenced.pdf", [unreferenced]), notebook_parameter_names())
    assert problems == ["page 1: Figure 1 is never referred to in the text"]


# The paper's checks: typeset symbols, no program text in the prose, length, citations and references.

def _pdf_with(tmp_path: Path, name: str, lines: list, pages: int = 1, font: str = "helv") -> Path:
    """A PDF of ``pages`` pages, the first holding ``lines`` (text in ``font``) after a clean figure."""
    document = pymupdf.open()
    images, clean = _clean_page()
    for number in range(pages):
        page = document.new_page()
        y = 72.0
        if number == 0:
            page.insert_image(pymupdf.Rect(72, y, 232, y + 160), stream=_png())
            y += 170
            for text, size in [*clean, *lines]:
                y += size * 1.5
                page.insert_text((72, y), text, fontsize=size, fontname=font if (text, size) in lines else "helv")
        else:
            page.insert_text((72, 100), f"Page {number + 1} of the argument goes on.", fontsize=BODY_PT)
    document.save(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("text, operator", [
    ("every digit judged at least 97% correct (accuracy >= 97%)", ">="), ("a margin of 0.4 +- 0.1", "+-"),
    ("epochs <= 1250 in all", "<="), ("the map 28 -> 14 pixels", "->"),
])
def test_ascii_operators_in_the_prose_are_reported(tmp_path, text, operator):
    problems = pdf_problems(_pdf_with(tmp_path, "ops.pdf", [(text, BODY_PT)]), notebook_parameter_names())
    assert len(problems) == 1 and f"ASCII operator '{operator}'" in problems[0], problems


@pytest.mark.parametrize("text, token", [
    ("The results are kept in latent_metrics for later.", "latent_metrics"),
    ("The samples are stored in generated_digits.npz beside it.", "generated_digits.npz"),
    ("Reconstructions are sigmoid(decode(mu)) of each image.", "sigmoid(d"),
    ("The axis shows z[2] against its neighbour.", "z[2]"),
])
def test_code_like_tokens_in_the_prose_are_reported(tmp_path, text, token):
    problems = pdf_problems(_pdf_with(tmp_path, "code.pdf", [(text, BODY_PT)]), notebook_parameter_names())
    assert any(f"code-like token '{token}'" in problem for problem in problems), problems


def test_code_quoted_in_a_monospaced_font_is_not_prose(tmp_path):
    quoted = [("z = torch.randn(1, z_dim).clamp(-2, 2)  # model.decoder(z)", BODY_PT)]
    assert pdf_problems(_pdf_with(tmp_path, "quote.pdf", quoted, font="cour"), notebook_parameter_names()) == []


def test_a_body_longer_than_fifteen_pages_is_reported(tmp_path):
    assert pdf_problems(_pdf_with(tmp_path, "short.pdf", [], pages=15), notebook_parameter_names()) == []
    problems = pdf_problems(_pdf_with(tmp_path, "long.pdf", [], pages=16), notebook_parameter_names())
    assert problems == ["the body runs to page 16, longer than 15 pages"]


def test_a_cited_name_missing_from_the_references_is_reported(tmp_path):
    lines = [("As Kingma and Welling (2014) and (Burda et al. 2016) showed, it works.", BODY_PT),
             ("References", BODY_PT),
             ("Kingma, D. P. and Welling, M. (2014). Auto-encoding variational Bayes.", BODY_PT)]
    problems = pdf_problems(_pdf_with(tmp_path, "cite.pdf", lines), notebook_parameter_names())
    assert problems == ["'Burda (2016)' is cited but has no entry in the references"]


@pytest.mark.parametrize("text, says", [
    ("Figure ?? shows the curves.", "unresolved reference 'Figure ??'"),
    ("Figure 1 and Figure 3 show the curves.", "'Figure 3' is referred to, but no figure has that number"),
])
def test_a_figure_referenced_that_does_not_exist_is_reported(tmp_path, text, says):
    problems = pdf_problems(_pdf_with(tmp_path, "dangling.pdf", [(text, BODY_PT)]), notebook_parameter_names())
    assert any(says in problem for problem in problems), problems

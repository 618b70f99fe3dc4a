"""The PDF reads as a course report, not as a program's log (scripts/check_report.py; each of its checks is shown to
fail here). That the smoke run's notebooks render to a PDF with every section is tested in test_smoke_pipeline.py.
"""

import importlib.util
import io
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



# Fast tests: one-page PDFs drawn with PyMuPDF, each broken in one way, prove that every check fails when it should.

Line = tuple[str, float]  # text and font size in points
BODY_PT = 11.0


def _png(variant: int = 0) -> bytes:
    """A small grey-level picture, standing in for a figure; each ``variant`` a different one."""
    buffer = io.BytesIO()
    plt.imsave(buffer, np.roll(np.linspace(0.0, 1.0, 32 * 32).reshape(32, 32), variant, axis=1), cmap="gray",
               format="png")
    return buffer.getvalue()


def _write_pdf(path: Path, pages: list[tuple[int, list[Line]]], same_picture: bool = False) -> Path:
    """A PDF whose pages each hold some images (each a different picture, or all the same one), then text lines top
    to bottom."""
    document, drawn = pymupdf.open(), 0
    for images, lines in pages:
        page, y = document.new_page(), 72.0
        for _ in range(images):
            page.insert_image(pymupdf.Rect(72, y, 232, y + 160), stream=_png(0 if same_picture else drawn))
            y += 170
            drawn += 1
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
    problems = pdf_problems(_pdf_with(tmp_path, "quote.pdf", quoted, font="cour"), notebook_parameter_names())
    assert len(problems) == 1 and "in code font in the body" in problems[0], problems  # not its names as prose


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


# Checks of the paper as a whole: nothing printed twice, every citation resolved, sentences a reader can hold, and
# program text only in the reproducibility statement. Pages are drawn with PyMuPDF: text in Helvetica ("helv"),
# headings in Helvetica bold ("hebo"), code in Courier ("cour"), tables as booktabs draws them (three rules).

Item = tuple  # (text, font) or ("rules", x0, x1) for a table's rule, or ("image", variant)


def _page(document: pymupdf.Document, items: list[Item]) -> None:
    """One page of items top to bottom: text lines in a font, a horizontal rule, or a picture."""
    page, y = document.new_page(), 72.0
    for item in items:
        if item[0] == "rule":
            y += 4
            page.draw_line((item[1], y), (item[2], y), width=0.4)
            y += 4
        elif item[0] == "image":
            page.insert_image(pymupdf.Rect(72, y, 232, y + 160), stream=_png(item[1]))
            y += 170
        else:
            y += BODY_PT * 1.5
            page.insert_text((72, y), item[0], fontsize=BODY_PT, fontname=item[1])


def _document(tmp_path: Path, name: str, pages: list[list[Item]]) -> Path:
    document = pymupdf.open()
    for items in pages:
        _page(document, items)
    document.save(tmp_path / name)
    return tmp_path / name


def _table(number: int, rows: list[str], words: str = "Accuracy of each sampler.") -> list[Item]:
    """A table as booktabs prints it: caption, top rule, header, middle rule, rows, bottom rule; and a sentence that
    refers to it."""
    return [(f"Table {number}: {words}", "helv"), ("rule", 72, 400), ("sampler   accuracy   recall", "helv"),
            ("rule", 72, 400), *[(row, "helv") for row in rows], ("rule", 72, 400),
            (f"Table {number} gives the accuracy of each sampler.", "helv")]


def _figure(number: int, variant: int) -> list[Item]:
    return [("image", variant), (f"Figure {number}: Samples of each digit.", "helv"),
            (f"Figure {number} shows them.", "helv")]


ROWS = ["k-means   98.1%   0.27", "mixture   98.9%   0.81", "prior   9.5%   0.21"]


def test_the_same_picture_printed_twice_is_reported_with_both_figures(tmp_path):
    clean = _document(tmp_path, "two.pdf", [_figure(1, 0), _figure(2, 1)])
    assert pdf_problems(clean, notebook_parameter_names()) == []
    repeated = _document(tmp_path, "again.pdf", [_figure(1, 0), _figure(2, 0)])
    assert pdf_problems(repeated, notebook_parameter_names()) == [
        "page 2: Figure 2's image is the same picture as Figure 1's image on page 1: a figure printed twice"]


def test_a_table_printed_twice_or_within_another_is_reported(tmp_path):
    clean = _document(tmp_path, "tables.pdf", [_table(1, ROWS), _table(2, ["k-means   97.7%   0.31",
                                                                           "mixture   99.0%   0.79"])])
    assert pdf_problems(clean, notebook_parameter_names()) == []
    twice = _document(tmp_path, "twice.pdf", [_table(1, ROWS), _table(2, ROWS[::-1])])
    assert pdf_problems(twice, notebook_parameter_names()) == [
        "page 2: Table 2 prints again what Table 1 (page 1) shows: its rows are all rows of Table 1; keep one of them"]
    fewer_columns = _document(tmp_path, "columns.pdf", [_table(1, ROWS), _table(2, ["k-means   98.1%",
                                                                                    "mixture   98.9%"])])
    problems = pdf_problems(fewer_columns, notebook_parameter_names())
    assert problems == ["page 2: Table 2 prints again what Table 1 (page 1) shows: each of its rows is printed "
                        "within a row of Table 1; keep one of them"]


def test_two_tables_on_one_page_are_read_apart_row_by_row(tmp_path):
    pdf = _document(tmp_path, "page.pdf", [_table(1, ROWS) + _table(2, ["k-means   97.7%   0.31",
                                                                        "mixture   99.0%   0.79"])])
    with pymupdf.open(pdf) as document:
        tables = check_report.page_tables(document[0], check_report.text_lines(document[0]))
    assert [(table.number, table.rows) for table in tables] == [
        (1, tuple(" ".join(row.split()) for row in ROWS)), (2, ("k-means 97.7% 0.31", "mixture 99.0% 0.79"))]


@pytest.mark.parametrize("text, shown", [
    ("The bound was tightened (burda2016?) with importance weights.", "(burda2016?)"),
    ("The bound was tightened (Kingma and Welling 2014; burda2016?) with weights.",
     "(Kingma and Welling 2014; burda2016?)"),
    ("The bound was tightened (???) with importance weights.", "???"),
    ("The bound was tightened by @burda2016 with importance weights.", "@burda2016"),
])
def test_a_citation_without_an_entry_is_reported_as_citeproc_prints_it(tmp_path, text, shown):
    problems = pdf_problems(_pdf_with(tmp_path, "cite.pdf", [(text, BODY_PT)]), notebook_parameter_names())
    assert len(problems) == 1 and f"unresolved citation '{shown}'" in problems[0], problems


def test_resolved_citations_and_e_mail_addresses_pass_but_a_parenthesised_question_does_not(tmp_path):
    lines = [("The VAE (Kingma and Welling 2014) is asked: what is it? Write to a@b.org (why?) and see it.", BODY_PT),
             ("References", BODY_PT),
             ("Kingma, Diederik P., and Max Welling. 2014. Auto-encoding variational Bayes.", BODY_PT)]
    problems = pdf_problems(_pdf_with(tmp_path, "resolved.pdf", lines), notebook_parameter_names())
    assert len(problems) == 1 and problems[0].startswith("page 1: an unresolved citation '(why?)'"), problems


def _bibliography(tmp_path: Path, cited: str, keys: list[str]) -> tuple[Path, Path]:
    paper = tmp_path / "paper.md"
    paper.write_text(f"# Introduction\n\nAs {cited} showed, and @fig:x draws.\n", encoding="utf-8")
    bib = tmp_path / "references.bib"
    bib.write_text("".join(f"@misc{{{key},\n  author = {{One, A.}},\n  title = {{A work}},\n  year = {{2020}}\n}}\n"
                           for key in keys), encoding="utf-8")
    return paper, bib


needs_pandoc = pytest.mark.skipif(not shutil.which("pandoc"),
                                  reason="pandoc missing: bash scripts/install_pdf_tools.sh")


@needs_pandoc
def test_a_bibtex_entry_never_cited_and_a_key_without_an_entry_are_reported(tmp_path):
    assert check_report.bibliography_problems(*_bibliography(tmp_path, "[@one2020; @two2021]",
                                                             ["one2020", "two2021"])) == []
    assert check_report.bibliography_problems(*_bibliography(tmp_path, "@one2020", ["one2020", "two2021"])) == [
        "references.bib: the entry 'two2021' is never cited in paper.md; cite it or remove it"]
    assert check_report.bibliography_problems(*_bibliography(tmp_path, "@one2020 and @three2022", ["one2020"])) == [
        "paper.md cites @three2022, which references.bib has no entry for"]


@needs_pandoc
def test_command_line_fails_on_an_uncited_entry(tmp_path, capsys):
    clean = _write_pdf(tmp_path / "clean.pdf", [_clean_page()])
    paper, bib = _bibliography(tmp_path, "@one2020", ["one2020", "two2021"])
    assert check_report.main([str(clean), "--paper", str(paper), "--bib", str(bib)]) == 1
    assert "'two2021' is never cited" in capsys.readouterr().out


def _body(tmp_path: Path, sentence: str) -> list[str]:
    return pdf_problems(_pdf_with(tmp_path, "numbers.pdf", [(sentence, BODY_PT)]), notebook_parameter_names())


def test_a_sentence_with_more_than_five_numbers_is_reported(tmp_path):
    assert _body(tmp_path, "The sampler reaches 98.9% at recall 0.81 over 1,234,143 weights, 500 samples, 10 digits.") \
        == []
    problems = _body(tmp_path, "The sampler reaches 98.9% [98.6, 99.2] at recall 0.81 over 500 samples and 10 digits.")
    assert len(problems) == 1 and "page 1: a sentence with 6 numbers, more than 5 (98.9, 98.6, 99.2, 0.81, 500, 10)" \
        in problems[0], problems


@pytest.mark.parametrize("places", [
    "Figure 3, Table 12, Sections 4.4 to 4.7 and (4)",
    "Tables 4, 9, 11 and 14 and Eq. (2)",
    "(Kingma and Welling 2014; Burda, Grosse, and Salakhutdinov 2016) and Sohn et al. (2015)",
])
def test_places_in_the_paper_and_citation_years_are_not_counted_as_numbers(tmp_path, places):
    sentence = f"As {places} show, the sampler reaches 98.9% at recall 0.81 with 500 samples in 10 digits twice, 2."
    assert check_report.counted_numbers(sentence) == ["98.9", "0.81", "500", "10", "2"]
    assert not [problem for problem in _body(tmp_path, sentence) if "numbers" in problem]


def test_sentences_end_at_a_full_stop_before_a_capital_but_not_after_et_al_or_an_initial(tmp_path):
    lines = [(f"Sun et al. (2024) and M. H. Sun found {n} and {n + 1} in Appendix E. Then 1, 2, 3 and 4 came.", BODY_PT)
             for n in (10, 20)]
    pdf = _pdf_with(tmp_path, "sentences.pdf", lines)
    with pymupdf.open(pdf) as document:
        found = check_report.sentences(check_report.body_text_lines(document, []))
    assert [sentence for _, sentence in found][-4:] == [
        "Sun et al. (2024) and M. H. Sun found 10 and 11 in Appendix E.", "Then 1, 2, 3 and 4 came.",
        "Sun et al. (2024) and M. H. Sun found 20 and 21 in Appendix E.", "Then 1, 2, 3 and 4 came."]


def test_numbers_in_tables_and_after_the_references_are_not_counted(tmp_path):
    many = "The values 1, 2, 3, 4, 5 and 6 are too many."
    table = _table(1, ["k-means   98.1%   0.27   0.48   163.9   12   7",
                       "mixture   98.9%   0.81   0.86   20.3   13   8"])
    pdf = _document(tmp_path, "places.pdf", [table + [("References", "hebo"), (many, "helv")]])
    assert pdf_problems(pdf, notebook_parameter_names()) == []


def _sections(code_line: Item) -> list[list[Item]]:
    """A body whose Method section (numbered as LaTeX sets it: number and title apart) holds one more line, then the
    reproducibility statement with a command in code font, then the references."""
    return [[("3", "hebo"), ("Method", "hebo"), ("The network is the course report's.", "helv"), code_line,
             ("7", "hebo"), ("Reproducibility", "hebo"), ("Run these commands to rebuild it:", "helv"),
             ("make report", "cour"),
             ("python scripts/build_report.py --output report/report.pdf", "cour"),
             ("It uses papermill and nbconvert.", "helv"), ("References", "hebo"),
             ("Sun, M. H. 2024. notebook VAE_MNIST.ipynb in models/", "cour")]]


@pytest.mark.parametrize("line, token", [
    (("python scripts/build_report.py", "cour"), "'python scripts/build_report.py' in code font"),
    (("It was checked against its torchsummary table.", "helv"), "program text 'torchsummary'"),
    (("The analysis is run again by papermill.", "helv"), "program text 'papermill'"),
    (("The PDF, report.pdf, is rebuilt each time.", "helv"), "program text 'report.pdf'"),
    (("The weights are kept in models/ beside it.", "helv"), "program text 'models/'"),
    (("The run in runs/seed1 is kept.", "helv"), "program text 'runs/seed1'"),
])
def test_program_text_in_the_body_outside_the_reproducibility_statement_is_reported(tmp_path, line, token):
    clean = _document(tmp_path, "clean.pdf", _sections(("Its input and output are images, and/or codes.", "helv")))
    assert pdf_problems(clean, notebook_parameter_names()) == []
    problems = pdf_problems(_document(tmp_path, "code.pdf", _sections(line)), notebook_parameter_names())
    assert len(problems) == 1 and "page 1: " in problems[0] and token in problems[0], problems


def test_a_web_address_in_code_font_is_a_reference_not_program_text(tmp_path):
    document = pymupdf.open()
    page = document.new_page()
    page.insert_text((72, 100), "The original (code: https://github.com/mh-sun/a) is public.", fontsize=BODY_PT,
                     fontname="cour")
    page.insert_link({"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(72, 88, 500, 104),
                      "uri": "https://github.com/mh-sun/a"})
    document.save(tmp_path / "url.pdf")
    assert pdf_problems(tmp_path / "url.pdf", notebook_parameter_names()) == []


def test_references_that_open_a_page_end_the_body_on_the_page_before():
    length_problems = check_report.length_problems
    body = [["Some text."] for _ in range(15)]
    assert length_problems([*body, ["References", "Burda 2016."]]) == []
    assert length_problems([*body, ["The end of a sentence.", "References", "Burda 2016."]]) == [
        "the body runs to page 16, longer than 15 pages"]

"""scripts/build_report.py: the paper's words from report/paper.md, its numbers from named values, its figures and
tables placed by label, its citations set by citeproc from report/references.bib, the same PDF from the same sources,
and nothing half-written in report/.

The assembly is tested without LaTeX; the renders need xelatex and pandoc (scripts/install_pdf_tools.sh).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import vae_utils as vu
from report_tools import paper

REPO = Path(__file__).resolve().parent.parent
needs_pandoc = pytest.mark.skipif(not shutil.which("pandoc"),
                                  reason="pandoc missing: bash scripts/install_pdf_tools.sh")
needs_latex = pytest.mark.skipif(not (shutil.which("xelatex") and shutil.which("pandoc") and shutil.which("pdftotext")),
                                 reason="PDF toolchain missing: bash scripts/install_pdf_tools.sh")


def _load_build_report():
    spec = importlib.util.spec_from_file_location("build_report", REPO / "scripts" / "build_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_report"] = module
    spec.loader.exec_module(module)
    return module


br = _load_build_report()


def _table_notebook(path: Path, label: str = "tbl:numbers", rows: int = 3) -> Path:
    """An executed notebook with one table as vu.show_table shows it (its cells in the output's metadata)."""
    frame = pd.DataFrame({"name": [f"row {i}" for i in range(rows)], "value": range(rows)})
    shape = {"label": label, "columns": list(frame.columns), "rows": vu.tables.format_table(frame).values.tolist(),
             "caption": "a table"}
    output = new_output("display_data", data={"text/plain": "table"}, metadata={"report_table": shape})
    nbformat.write(new_notebook(cells=[new_code_cell("vu.show_table(df)", outputs=[output])]), path)
    return path


def _figure(folder: Path, name: str = "line.png") -> Path:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(buffer.getvalue())
    return folder / name


PAPER = """---
title: A test paper
author: The testers
---

# Abstract {-}

The loss is {{ loss }} nats.

# Results

As @fig:line and @tbl:numbers show, and Eq. @eq:one says,
{% if improved %}it improved.{% else %}it did not improve.{% endif %} The bound is that of @one2020 [see also
@two2021, p. 3].

\\begin{equation}
a = b
\\label{eq:one}
\\end{equation}

![A straight line with $T = 0.9$ and loss {{ loss }}.](figures/line.png){#fig:line}

: Three numbered rows, {{ loss }} nats in all. {#tbl:numbers}

# References {-}

# Appendix {-}

# More

Words of the appendix.
"""


def test_values_fill_the_text_and_an_undefined_name_is_refused_by_name():
    assert br.fill_values("loss {{ loss }}{% if ok %}, fine{% endif %}", {"loss": "1.5", "ok": True}) == \
        "loss 1.5, fine"
    with pytest.raises(br.ReportBuildError, match="'lost' is undefined"):
        br.fill_values("loss {{ lost }}", {"loss": "1.5"})


def test_pandoc_labels_survive_the_value_filling():
    assert br.fill_values("![x](figures/a.png){#fig:a}", {}) == "![x](figures/a.png){#fig:a}"


def test_paper_places_figures_and_tables_by_label_abstract_on_top_appendix_last(tmp_path):
    meta, text = br.split_front_matter(PAPER)
    filled = br.fill_values(text, {"loss": "93.17", "improved": True})
    tables = br.harvest_tables([nbformat.read(_table_notebook(tmp_path / "nb.ipynb"), as_version=4)])
    _figure(tmp_path / "figures")
    reference_list = "\\begin{CSLReferences}{1}{0}\nOne, Ann. 2020. A work.\n\\end{CSLReferences}"
    document = br.paper_notebook(filled, meta, tables, reference_list, figures_dir=tmp_path / "figures",
                                 epoch=1_700_000_000)
    assert document.metadata["title"] == "A test paper" and "93.17" in document.metadata["abstract_latex"]
    kinds = [(cell.cell_type, cell.source[:20]) for cell in document.cells]
    figure = next(cell for cell in document.cells if cell.cell_type == "code")
    assert figure.outputs[0].metadata == {"caption": "A straight line with $T = 0.9$ and loss 93.17.",
                                          "label": "fig:line"}
    table = next(cell for cell in document.cells if cell.cell_type == "raw" and "tabular" in cell.source)
    assert "Three numbered rows, 93.17 nats in all." in table.source and "\\label{tbl:numbers}" in table.source
    assert "\\begin{table}[htbp]" in table.source  # a body table floats near its mention
    sources = [cell.source for cell in document.cells]
    references = next(i for i, source in enumerate(sources) if source.startswith("# References"))
    appendix = sources.index("\\appendix")
    assert references < appendix and "Words of the appendix" in sources[appendix + 1], kinds
    assert sources[references + 1] == reference_list and document.cells[references + 1].cell_type == "raw"
    assert document.metadata["date"] == "14 November 2023"  # the epoch's date, not today's
    assert "\\figref{fig:line}" in sources[0] and "\\eqref{eq:one}" in sources[0] and "it improved" in sources[0]


def test_an_appendix_table_stays_under_its_heading(tmp_path):
    meta, text = br.split_front_matter(PAPER.replace("Words of the appendix.", ": Rows again. {#tbl:numbers}")
                                       .replace(": Three numbered rows, {{ loss }} nats in all. {#tbl:numbers}", ""))
    tables = br.harvest_tables([nbformat.read(_table_notebook(tmp_path / "nb.ipynb"), as_version=4)])
    _figure(tmp_path / "figures")
    document = br.paper_notebook(br.fill_values(text, {"loss": "1", "improved": True}), meta, tables, "",
                                 figures_dir=tmp_path / "figures")
    sources = [cell.source for cell in document.cells]
    table = sources[sources.index("\\appendix") + 2]
    assert "Rows again." in table and "\\begin{table}[H]" in table


def test_a_table_no_notebook_showed_is_refused_naming_the_shown_ones(tmp_path):
    with pytest.raises(br.ReportBuildError, match=r"places table tbl:missing, which no executed notebook showed "
                                                  r"\(shown: tbl:numbers\)"):
        br.table_cell("caption", "tbl:missing", {"tbl:numbers": {}})


def test_a_missing_figure_is_named(tmp_path):
    with pytest.raises(br.ReportBuildError, match="figures/none.png, which does not exist"):
        br.figure_cell("caption", "figures/none.png", "fig:none", tmp_path)


def test_missing_toolchain_names_the_program(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda program: None)
    assert br.main(["--output", "unused.pdf"]) == 2
    assert "xelatex, pandoc not found" in capsys.readouterr().err


BIBLIOGRAPHY = """@inproceedings{one2020,
  author = {One, Ann and Two, Ben}, title = {A Bound}, booktitle = {A Conference}, year = {2020}
}
@article{two2021,
  author = {Three, Cleo}, title = {Another Bound}, journal = {A Journal}, volume = {4}, pages = {1--9}, year = {2021}
}
"""


def _bib(folder: Path, text: str = BIBLIOGRAPHY) -> Path:
    (folder / "references.bib").write_text(text, encoding="utf-8")
    return folder / "references.bib"


def _render(tmp_path: Path, output: str = "out", epoch: int = 1_700_000_000) -> Path:
    (tmp_path / "paper.md").write_text(PAPER, encoding="utf-8")
    _figure(tmp_path / "figures")
    pdf = tmp_path / output / "report.pdf"
    br.build(tmp_path / "paper.md", [_table_notebook(tmp_path / "nb.ipynb")], _bib(tmp_path), pdf,
             {"loss": "93.17", "improved": False}, tmp_path / "figures", epoch=epoch)
    return pdf


@needs_latex
def test_pdf_numbers_figures_tables_and_equations_and_resolves_references(tmp_path):
    pdf = _render(tmp_path)
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "As Figure 1 and Table 1 show, and Eq. (1) says, it did not improve." in text
    assert "The bound is that of One and Two (2020) (see also Three 2021, 3)." in text
    assert "Figure 1: A straight line with" in text and "Table 1: Three numbered rows, 93.17 nats in all." in text
    assert "The loss is 93.17 nats." in text and "More Words of the appendix" in text and "@" not in text
    assert "References One, Ann, and Ben Two. 2020. “A Bound.” In A Conference. Three, Cleo. 2021." in text
    assert (tmp_path / "out" / "report.ipynb").is_file()


@needs_latex
def test_interrupted_render_leaves_no_pdf_and_no_temporary_file(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C arrived while xelatex ran

    monkeypatch.setattr(br, "render_pdf", crash)
    with pytest.raises(KeyboardInterrupt):
        _render(tmp_path)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.ipynb"]  # complete, written before the render


def test_every_value_the_paper_names_exists_for_the_committed_runs():
    values = paper.paper_values("models", "runs/course_protocol", ["runs/seed1", "runs/seed2", "runs/seed3"],
                             "runs/cvae", commit="abc")
    meta, text = br.split_front_matter((REPO / "report" / "paper.md").read_text(encoding="utf-8"))
    filled = br.fill_values(text, values)
    assert "{{" not in filled and "{%" not in filled and meta["title"]
    assert values["main_test_elbo"] in filled and "abc" in filled


def test_paper_values_format_the_results_as_the_json_holds_them():
    values = paper.paper_values("models", None, [], None)
    metrics = vu.RunFolder("models").read_metrics()
    assert values["main_test_elbo"] == f"{metrics['test']['loss']:.2f}"
    assert values["main_best_epoch"] == str(metrics["best_epoch"])
    assert values["n_parameters"] == "1,234,143" and values["n_parameters_cvae"] == "1,237,003"
    assert values["protocol_done"] is False and values["cvae_done"] is False
    assert paper.plain_hardware({"hardware": "Intel(R) Xeon(R) Processor, 2 cores", "device": "cpu"}) == \
        "a two-core Intel Xeon CPU"
    assert vu.formatting.signed(-0.0216, 3) == "\u22120.022" and vu.formatting.nats(93.1676) == "93.17"
    assert [vu.formatting.count_word(n) for n in (4, 0, 10, 1250)] == ["four", "zero", "ten", "1,250"]


def test_what_labels_buy_is_read_digit_by_digit():
    def row(digit, accuracy, low, high, recall, frechet):
        return {"digit": digit, "accuracy": accuracy, "accuracy_low": low, "accuracy_high": high, "recall": recall,
                "frechet": frechet}
    sampler = [row("0", 0.99, 0.98, 1.0, 0.8, 20), row("1", 0.90, 0.87, 0.92, 0.6, 30),
               row("2", 0.99, 0.98, 1.0, 0.9, 9), row("mean", 0.96, 0.95, 0.97, 0.77, 20)]
    cvae = [row("0", 0.99, 0.98, 1.0, 0.85, 15), row("1", 0.98, 0.96, 0.99, 0.9, 10),
            row("2", 0.93, 0.9, 0.95, 0.8, 12), row("mean", 0.97, 0.96, 0.98, 0.85, 12)]
    values = paper.labels_digit_by_digit(sampler, cvae)
    assert values["cvae_accuracy_higher"] == "digit 1" and values["cvae_accuracy_lower"] == "digit 2"
    assert values["cvae_recall_higher_count"] == "2" and values["cvae_frechet_lower_count"] == "2"
    assert (values["cvae_recall_largest_digit"], values["cvae_recall_largest_change"]) == ("1", "+0.30")


@pytest.mark.parametrize("path, written_by_make_report", [
    ("report/04_latent_space.ipynb", True), ("report/report.pdf", True), ("figures/loss_curves.png", True),
    ("models/latent_metrics.json", True), ("runs/seed2/executions.json", True), ("runs/cvae/likelihood.json", True),
    ("report/paper.md", False), ("report/template/index.tex.j2", False), ("vae_utils/model.py", False),
    ("notebooks/04_latent_space.ipynb", False), ("models/vae_mnist.pt", False), ("runs/seed1/metrics.json", False),
])
def test_only_a_changed_source_makes_the_commit_line_say_uncommitted(path, written_by_make_report):
    """The reproducibility statement names the commit; results `make report` rewrote before rendering must not mark
    it as uncommitted, a changed source (code, text, weights) must."""
    assert br.is_build_output(path) is written_by_make_report


def test_citations_are_found_by_pandoc_syntax_outside_code_and_cross_references():
    text = ("As @kingma2014 [p. 3] and [see @burda2016, ch. 2; -@sohn2015] show (mail a@b.org), @fig:x and [@tbl:y]"
            " do not cite, nor does `@decorator` or\n```\n@torch.no_grad()\n```\n[@lecun1998].")
    assert [text[start:end] for start, end, _ in br.find_citations(text)] == [
        "@kingma2014 [p. 3]", "[see @burda2016, ch. 2; -@sohn2015]", "[@lecun1998]"]
    assert br.cited_keys(text + " @kingma2014") == ["kingma2014", "burda2016", "sohn2015", "lecun1998"]


@needs_pandoc
def test_citeproc_sets_citations_author_year_and_lists_the_works_cited_with_a_hanging_indent(tmp_path):
    (text, original), references = br.resolve_citations(["As @one2020 showed [@two2021; @one2020].", "By @two2021."],
                                                        _bib(tmp_path))
    assert text == "As One and Two (2020) showed (Three 2021; One and Two 2020)." and original == "By Three (2021)."
    assert references.startswith("\\begin{CSLReferences}{1}") and references.endswith("\\end{CSLReferences}")
    assert references.index("One, Ann, and Ben Two. 2020.") < references.index("Three, Cleo. 2021.")


@needs_pandoc
def test_a_citation_without_an_entry_stops_the_build_naming_the_key(tmp_path):
    with pytest.raises(br.ReportBuildError, match=r"paper.md cites @three2022, @four2023, which .*references.bib "
                                                  r"has no entry for: add the entry or correct the key"):
        br.resolve_citations(["As @one2020 and @three2022 [@four2023] showed."], _bib(tmp_path), "paper.md")


def test_the_old_hand_written_reference_list_is_refused(tmp_path):
    with pytest.raises(br.ReportBuildError, match="the references are a BibTeX file"):
        br.build(tmp_path / "paper.md", [], tmp_path / "references.md", tmp_path / "report.pdf", {})


def test_the_pdf_is_dated_by_the_results_commit_or_a_fixed_date_never_the_clock(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    committed = subprocess.run(["git", "log", "-1", "--format=%ct", "--", *br.RESULT_PATHS], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
    assert br.source_date_epoch() == (int(committed) if committed else br.FALLBACK_SOURCE_DATE_EPOCH)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert br.source_date_epoch() == 1_700_000_000 and br.printed_date(1_700_000_000) == "14 November 2023"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")

    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert br.source_date_epoch() == br.FALLBACK_SOURCE_DATE_EPOCH == 0


@needs_latex
def test_a_rebuild_gives_the_same_pdf_byte_for_byte_dated_by_the_epoch(tmp_path):
    import pymupdf

    first, second = _render(tmp_path, "first"), _render(tmp_path, "second")
    assert first.read_bytes() == second.read_bytes()
    with pymupdf.open(first) as document:
        assert document.metadata["creationDate"].startswith("D:20231114221320")  # 1,700,000,000 s, in UTC
        assert "14 November 2023" in document[0].get_text()
    assert _render(tmp_path, "later", epoch=1_800_000_000).read_bytes() != first.read_bytes()


def test_matched_recall_words_say_when_a_pair_goes_against_the_average():
    rows = [{"training seed": seed, "recall": 0.6, "difference": difference}
            for seed, difference in [(0, 0.002), (1, 0.015), (2, -0.003)]]
    values = paper._matched_values(pd.DataFrame(rows))
    assert values["matched_difference"] == "+0.5" and values["matched_mixed"] and not values["matched_labels_help"]
    assert values["matched_difference_words"] == ("0.5 points less accurate on average over three pairs of training "
                                                  "runs, though one of the three pairs goes the other way (per pair "
                                                  "\u22120.3 to +1.5 points)")
    agreeing = paper._matched_values(pd.DataFrame(rows[:2]))
    assert not agreeing["matched_mixed"] and agreeing["matched_difference_words"].endswith("two pairs of training runs")
    assert paper._matched_values(pd.DataFrame()) == {"matched_pairs": "zero",
                                                     "matched_pairs_phrase": "Over zero pairs of training runs, "
                                                                             "paired by seed"}

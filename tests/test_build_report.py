"""scripts/build_report.py: what reaches the PDF and what does not, and nothing half-written in report/.

The merging and cleaning are tested without LaTeX; the renders need xelatex and pandoc (scripts/install_pdf_tools.sh).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import vae_utils as vu

REPO = Path(__file__).resolve().parent.parent
needs_latex = pytest.mark.skipif(not (shutil.which("xelatex") and shutil.which("pandoc") and shutil.which("pdftotext")),
                                 reason="PDF toolchain missing: bash scripts/install_pdf_tools.sh")


def _load_build_report():
    spec = importlib.util.spec_from_file_location("build_report", REPO / "scripts" / "build_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_report"] = module
    spec.loader.exec_module(module)
    return module


br = _load_build_report()


def _table_output(caption: str, rows: int = 3) -> dict:
    text = vu.format_table(pd.DataFrame({"name": [f"row {i}" for i in range(rows)], "value": range(rows)}))
    return new_output("display_data", data={"text/html": "<table></table>", "text/plain": caption,
                                            "text/latex": vu.table_latex(text, caption)})


def test_parameter_and_tagged_cells_are_dropped_and_order_kept():
    first = new_notebook(cells=[
        new_code_cell("epochs = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("epochs = 20", metadata={"tags": ["injected-parameters"]}),
        new_markdown_cell("# Data"),
        new_code_cell("x", metadata={"tags": ["report-skip"]},
                      outputs=[new_output("stream", name="stdout", text="s\n")]),
        new_markdown_cell("hidden", metadata={"tags": ["remove-cell"]}),
        new_code_cell("print(1)", metadata={"tags": ["remove-output"]},
                      outputs=[new_output("stream", name="stdout", text="for the notebook user\n")]),
        new_code_cell("show_table(df)", outputs=[_table_output("kept")]),
        new_code_cell("x = 1"),
    ])
    merged = br.merge_notebooks([first, new_notebook(cells=[new_markdown_cell("# Latent space")])], "# Intro\n",
                                {"title": "T", "author": "A"})
    assert [c.source for c in merged.cells] == ["# Intro\n", "# Data", "show_table(df)", "# Latent space"]
    assert merged.metadata["authors"] == [{"name": "A"}] and merged.metadata["title"] == "T"
    assert len({c.id for c in merged.cells}) == len(merged.cells)


@pytest.mark.parametrize("output", [
    new_output("stream", name="stdout", text="device: cpu, run folder: models\n"),
    new_output("execute_result", data={"text/plain": "0.9917"}, execution_count=1),
    new_output("error", ename="ValueError", evalue="bad", traceback=[]),
])
def test_printed_text_left_in_the_report_is_refused_naming_notebook_and_cell(output):
    nb = new_notebook(cells=[new_markdown_cell("# A"), new_code_cell("print(device)", outputs=[output])])
    with pytest.raises(br.ReportBuildError, match=r"03_train.ipynb, cell 1 \('print\(device\)'\).*remove-output"):
        br.merge_notebooks([nb], "", {}, names=["03_train.ipynb"])


def test_abstract_goes_to_the_title_page_and_appendix_cells_after_the_references():
    abstract = new_output("display_data", data={"text/markdown": "We reach **98.9%** (@fig:toy).", "text/plain": "m"})
    nb = new_notebook(cells=[
        new_markdown_cell("# Body\n\nAs @fig:toy and @tbl:sweep show."),
        new_markdown_cell("# Full sweeps", metadata={"tags": ["appendix"]}),
        new_code_cell("show_table(sweep)", outputs=[_table_output("sweep")], metadata={"tags": ["appendix"]}),
        new_code_cell("show_markdown(abstract)", outputs=[abstract], metadata={"tags": ["abstract"]}),
        new_markdown_cell("# Conclusion"),
    ])
    merged = br.merge_notebooks([nb], "", {"original": "Reproduces *X*."}, references="# References {-}\n\n- A.")
    sources = [c.source for c in merged.cells]
    assert sources == ["# Body\n\nAs \\figref{fig:toy} and \\tabref{tbl:sweep} show.", "# Conclusion",
                       "# References {-}\n\n- A.\n", "\\appendix", "# Full sweeps", "show_table(sweep)"]
    assert "\\textbf{98.9\\%}" in merged.metadata["abstract_latex"]
    assert "\\figref{fig:toy}" in merged.metadata["abstract_latex"]
    assert "\\emph{X}" in merged.metadata["original_latex"]


@pytest.mark.parametrize("output", [
    new_output("stream", name="stderr", text="warning: noisy\n"),
    new_output("execute_result", data={"text/plain": "Text(0.5, 1.0, 'Training loss')"}, execution_count=1),
    new_output("execute_result", data={"text/plain": "[<matplotlib.lines.Line2D at 0x7f3a2c1d0>]"}, execution_count=1),
    new_output("display_data", data={"text/plain": "<Figure size 640x480 with 1 Axes>"}),
    new_output("display_data", data={"text/plain": "<IPython.core.display.Markdown object>"}),
])
def test_noise_outputs_are_dropped(output):
    nb = br.clean_notebook(new_notebook(cells=[new_code_cell("x", outputs=[output])]))
    assert nb.cells == []


def test_latex_table_is_kept_verbatim_and_its_html_dropped():
    output = _table_output("Losses")
    latex = output.data["text/latex"]
    nb = br.clean_notebook(new_notebook(cells=[new_code_cell("show_table(df)", outputs=[output])]))
    data = nb.cells[0].outputs[0].data
    assert "text/html" not in data and data["text/latex"] == latex
    assert latex.startswith("\\begin{table}[H]") and "\\caption{Losses}" in latex


def test_missing_toolchain_names_the_program(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(br.shutil, "which", lambda program: None if program == "xelatex" else "/usr/bin/" + program)
    nb_path = tmp_path / "a.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# A")]), nb_path)
    assert br.main(["--notebooks", str(nb_path), "--output", str(tmp_path / "r.pdf")]) == 2
    error = capsys.readouterr().err
    assert "xelatex not found" in error and "install_pdf_tools.sh" in error
    assert not (tmp_path / "r.pdf").exists()


def test_missing_notebook_is_named(tmp_path, capsys):
    if not (shutil.which("xelatex") and shutil.which("pandoc")):
        pytest.skip("the toolchain check comes first")
    assert br.main(["--notebooks", str(tmp_path / "nope.ipynb"), "--output", str(tmp_path / "r.pdf")]) == 2
    assert "nope.ipynb" in capsys.readouterr().err


def _write_report_notebook(tmp_path: Path, n_tables: int) -> Path:
    cells = [new_markdown_cell("# Results"), new_code_cell("import secret_code_marker", outputs=[
        new_output("stream", name="stdout", text="short stdout\n")], metadata={"tags": ["remove-output"]})]
    for i in range(n_tables):
        cells.append(new_markdown_cell("Some words before a table. " * 12))
        cells.append(new_code_cell("show_table(df)", outputs=[_table_output(f"Table caption {i}", rows=6)]))
    path = tmp_path / "01.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


@needs_latex
def test_pdf_hides_code_and_keeps_each_caption_on_its_tables_page(tmp_path):
    pdf = tmp_path / "report.pdf"
    assert br.main(["--notebooks", str(_write_report_notebook(tmp_path, 14)), "--output", str(pdf)]) == 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "short stdout" not in text and "secret_code_marker" not in text and "In [" not in text
    pages = text.split("\f")
    for i in range(14):
        page = next(p for p in pages if f"Table caption {i}" in p)
        assert f"Table {i + 1}:" in page and "row 5" in page, f"table {i} is split from its caption"
    assert (tmp_path / "report.ipynb").is_file()


@needs_latex
def test_figure_caption_from_output_metadata_is_numbered_and_referenced(tmp_path):
    import base64
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    image = new_output("display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode(),
                                             "text/plain": "<IPython.core.display.Image object>"},
                       metadata={"caption": "(a) A straight line with $T = 0.9$.", "label": "fig:line"})
    path = tmp_path / "01.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Results\n\nAs @fig:line shows, it is straight."),
                                       new_code_cell("save_and_show(fig)", outputs=[image])]), path)
    pdf = tmp_path / "report.pdf"
    assert br.main(["--notebooks", str(path), "--output", str(pdf)]) == 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.split())
    # "(a) ..." is a panel name, not the start of a pandoc list (a list inside \\caption breaks LaTeX)
    assert "As Figure 1 shows" in text and "Figure 1: (a) A straight line with" in text and "@fig" not in text


@needs_latex
def test_interrupted_render_leaves_no_pdf_and_no_temporary_file(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C arrived while xelatex ran

    monkeypatch.setattr(br, "render_pdf", crash)
    with pytest.raises(KeyboardInterrupt):
        br.main(["--notebooks", str(_write_report_notebook(tmp_path, 1)), "--output", str(tmp_path / "out" / "r.pdf")])
    assert not (tmp_path / "out" / "r.pdf").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["r.ipynb"]  # complete, written before the render

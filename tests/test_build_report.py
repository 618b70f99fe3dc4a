"""Tests for scripts/build_report.py: what reaches the PDF and what does not.

The merge/cleaning logic is tested without LaTeX; one end-to-end render runs
only where xelatex and pandoc are installed (scripts/install_pdf_tools.sh).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parent.parent


def _load_build_report():
    spec = importlib.util.spec_from_file_location("build_report", REPO / "scripts" / "build_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_report"] = module
    spec.loader.exec_module(module)
    return module


br = _load_build_report()

def test_html_is_dropped_and_latex_table_kept():
    latex = "\\begin{tabular}{lr}\na & 1 \\\\\n\\end{tabular}\n"
    output = new_output("display_data", data={"text/html": "<table></table>", "text/latex": latex, "text/plain": "a 1"})
    cleaned = br.clean_output(output)["data"]
    assert "text/html" not in cleaned and "\\begin{tabular}" in cleaned["text/latex"]


def test_fit_tabular_boxes_only_the_tabular():
    bare = "\\begin{tabular}{lr}\na & 1 \\\\\n\\end{tabular}\n"
    fitted = br.fit_tabular(bare)
    assert fitted.startswith("\\begin{center}") and br.FIT_BOX_OPEN in fitted
    # caption + center around the tabular (vae_utils.show_table): only the tabular is boxed
    captioned = "\\begin{center}\n\\textbf{Losses}\\\\[4pt]\n" + bare + "\\end{center}\n"
    fitted = br.fit_tabular(captioned)
    assert fitted.index("\\textbf{Losses}") < fitted.index(br.FIT_BOX_OPEN) < fitted.index("\\begin{tabular}")
    assert fitted.count("\\begin{center}") == 1
    # floats and longtables cannot be boxed
    for tex in ("\\begin{table}\n" + bare + "\\end{table}", "\\begin{longtable}{l}\na\\\\\n\\end{longtable}"):
        assert br.fit_tabular(tex) == tex


@pytest.mark.parametrize(
    "output",
    [
        new_output("stream", name="stderr", text="warning: noisy\n"),
        new_output("display_data", data={br.WIDGET_MIMETYPE: {"model_id": "x"}, "text/plain": "0%|  | 0/3"}),
        new_output("execute_result", data={"text/plain": "Text(0.5, 1.0, 'Training loss')"}, execution_count=1),
        new_output("execute_result", data={"text/plain": "[<matplotlib.lines.Line2D at 0x7f3a2c1d0>]"}, execution_count=1),
        new_output("display_data", data={"text/plain": "<Figure size 640x480 with 1 Axes>"}),
    ],
)
def test_noise_outputs_are_dropped(output):
    assert br.clean_output(output) is None


def test_stdout_keeps_text_but_not_progress_bars():
    text = "epoch 1: loss=99.1\n\r  0%|          | 0/3 [00:00<?, ?it/s]\r100%|##########| 3/3 [00:01<00:00, 2.9it/s]\ndone\n"
    cleaned = br.clean_output(new_output("stream", name="stdout", text=text))
    assert cleaned["text"] == "epoch 1: loss=99.1\ndone\n"


def test_merge_drops_tagged_cells_and_keeps_order():
    def nb(*cells):
        return new_notebook(cells=list(cells))

    first = nb(
        new_code_cell("epochs = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("epochs = 20", metadata={"tags": ["injected-parameters"]}),
        new_markdown_cell("# Data"),
        new_code_cell("print('x')", metadata={"tags": ["report-skip"]},
                      outputs=[new_output("stream", name="stdout", text="skip me\n")]),
        new_markdown_cell("hidden", metadata={"tags": ["remove-cell"]}),
        new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="kept\n")]),
        new_code_cell("x = 1"),
    )
    second = nb(new_markdown_cell("# Latent space"))
    merged = br.merge_notebooks([first, second], "# Intro\n", "T", ["A", "B"], "1 May 2025")
    sources = [c.source for c in merged.cells]
    assert sources == ["# Intro\n", "# Data", "print(1)", "# Latent space"]
    assert merged.metadata["authors"] == [{"name": "A"}, {"name": "B"}]
    assert len({c.id for c in merged.cells}) == len(merged.cells)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out" / "report.pdf"
    br.atomic_write_bytes(target, b"one")
    br.atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["report.pdf"]


def test_missing_toolchain_names_program(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(br.shutil, "which", lambda prog: None if prog == "xelatex" else "/usr/bin/" + prog)
    nb_path = tmp_path / "a.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# A")]), nb_path)
    assert br.main(["--notebooks", str(nb_path), "--output", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert "xelatex" in err and "install_pdf_tools.sh" in err


def test_end_to_end_pdf_has_table_text_and_no_code(tmp_path):
    cells = [
        new_markdown_cell("# Results"),
        new_code_cell("show_table(df)", execution_count=3, outputs=[new_output("display_data", data={
            "text/html": "<table></table>", "text/plain": "test_loss 101.5",
            "text/latex": "\\begin{tabular}{lr}\ntest\\_loss & 101.5 \\\\\n\\end{tabular}\n",
        })]),
        new_code_cell("import secret_code_marker", execution_count=4,
                      outputs=[new_output("stream", name="stdout", text="short stdout\n")]),
    ]
    nb_path = tmp_path / "01.ipynb"
    nbformat.write(new_notebook(cells=cells), nb_path)
    intro = tmp_path / "intro.md"
    intro.write_text("# Introduction\n\n$$z = \\mu + \\sigma \\odot \\varepsilon$$\n")
    pdf = tmp_path / "report.pdf"
    rc = br.main(["--notebooks", str(nb_path), "--intro", str(intro), "--output", str(pdf),
                  "--title", "Test report", "--author", "Tester", "--date", "1 May 2025"])
    assert rc == 0 and pdf.stat().st_size > 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "test_loss" in text and "101.5" in text and "short stdout" in text
    assert "Test report" in text and "Tester" in text
    assert "secret_code_marker" not in text and "In [" not in text
    assert (tmp_path / "report.ipynb").is_file()

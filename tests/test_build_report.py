"""Tests for scripts/build_report.py: what reaches the PDF and what does not.

The merge/cleaning logic is tested without LaTeX; one end-to-end render runs
only where xelatex and pandoc are installed (scripts/install_pdf_tools.sh).
"""

from __future__ import annotations

import importlib.util
import shutil
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

DF_HTML = """<div><style scoped>.dataframe tbody tr th {vertical-align: top;}</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;"><th></th><th>test_loss</th><th>acc %</th></tr>
    <tr><th>model_id</th><th></th><th></th></tr>
  </thead>
  <tbody>
    <tr><th>vae_a</th><td>101.5</td><td>0.91</td></tr>
    <tr><th>vae&amp;b</th><td>99.25</td><td>NaN</td></tr>
  </tbody>
</table></div>"""


def _table_output(latex: str | None = None) -> nbformat.NotebookNode:
    data = {"text/html": DF_HTML, "text/plain": "  test_loss ..."}
    if latex is not None:
        data["text/latex"] = latex
    return new_output("display_data", data=data)


def test_html_table_becomes_escaped_booktabs_tabular():
    tex = br.html_table_to_latex(DF_HTML)
    assert tex.startswith(r"\begin{tabular}{lrr}")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"test\_loss" in tex and r"acc \%" in tex and r"vae\&b" in tex
    assert "scoped" not in tex  # <style> content is skipped
    # pandas' separate index-name row is folded into the header row
    assert r"model\_id & test\_loss & acc \% \\" in tex


def test_multiindex_columns_use_multicolumn():
    html = """<table><thead>
      <tr><th></th><th colspan="2">accuracy</th></tr>
      <tr><th></th><th>mean</th><th>std</th></tr></thead>
      <tbody><tr><th rowspan="2">kmeans</th><td>0.9</td><td>0.1</td></tr>
      <tr><td>0.8</td><td>0.2</td></tr></tbody></table>"""
    tex = br.html_table_to_latex(html)
    assert r"\multicolumn{2}{c}{accuracy}" in tex
    assert r"\cmidrule(lr){2-3}" in tex
    assert " & 0.8 & 0.2 \\\\" in tex  # rowspan slot left empty


def test_long_narrow_table_becomes_longtable():
    rows = "".join(f"<tr><th>{i}</th><td>{i / 7:.3f}</td></tr>" for i in range(60))
    tex = br.html_table_to_latex(f"<table><thead><tr><th></th><th>elbo</th></tr></thead><tbody>{rows}</tbody></table>")
    assert tex.startswith(r"\begin{longtable}") and r"\endhead" in tex


def test_unescaped_pandas_latex_is_replaced_but_escaped_latex_kept():
    unescaped = "\\begin{tabular}{lrr}\n\\toprule\n & test_loss & acc % \\\\\n\\bottomrule\n\\end{tabular}\n"
    escaped = unescaped.replace("test_loss", r"test\_loss").replace("acc %", r"acc \%")
    assert br.latex_table_looks_unescaped(unescaped)
    assert not br.latex_table_looks_unescaped(escaped)
    assert br.clean_output(_table_output(unescaped))["data"]["text/latex"] != unescaped
    kept = br.clean_output(_table_output(escaped))["data"]["text/latex"]
    assert escaped.strip() in kept and kept.startswith(r"\begin{center}")
    assert "text/html" not in br.clean_output(_table_output())["data"]


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


@pytest.mark.skipif(
    not (shutil.which("xelatex") and shutil.which("pandoc") and shutil.which("pdftotext")),
    reason="PDF toolchain not installed (scripts/install_pdf_tools.sh)",
)
def test_end_to_end_pdf_has_table_text_and_no_code(tmp_path):
    cells = [
        new_markdown_cell("# Results"),
        new_code_cell("display(df)", execution_count=3, outputs=[_table_output()]),
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

"""The report is a product of the pipeline: smoke-run notebooks render to a PDF with every section."""

import os
import subprocess
import sys

import papermill

import vae_utils as vu

NOTEBOOKS = ["01_data_exploration", "02_model_summary", "03_train", "04_latent_space"]
SECTIONS = [
    "Introduction", "Method", "The data: MNIST", "The model: the course report", "Training",
    "Learning curves", "Reconstructions", "The latent space: digits on demand", "An independent judge",
    "Right and diverse", "The chosen sampler on a fresh seed", "Test-set likelihood", "Results and the course report",
    "Conclusion",
]


def test_smoke_report_renders_with_layer_table_sections_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")  # smoke configuration in every notebook
    run_dir, figures = tmp_path / "run", tmp_path / "figures"
    executed = []
    for name in NOTEBOOKS:
        parameters = {"figures_dir": str(figures)} if name != "02_model_summary" else {}
        if name in ("03_train", "04_latent_space"):
            parameters["run_dir"] = str(run_dir)
        output = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(
            str(vu.PROJECT_ROOT / "notebooks" / f"{name}.ipynb"), str(output), parameters=parameters,
            cwd=str(vu.PROJECT_ROOT / "notebooks"), progress_bar=False,
        )
        executed.append(str(output))

    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [sys.executable, str(vu.PROJECT_ROOT / "scripts" / "build_report.py"), "--notebooks", *executed,
         "--intro", str(vu.PROJECT_ROOT / "report" / "intro.md"), "--output", str(pdf)],
        check=True, env={**os.environ},
    )
    assert pdf.stat().st_size > 100_000

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    text = " ".join(text.split())  # headings may wrap across lines
    assert "1,234,143" in text
    missing = [title for title in SECTIONS if title not in text]
    assert not missing, f"sections missing from the PDF: {missing}"
    assert "import vae_utils" not in text, "code must be hidden in the report"

    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    images = [line for line in listing.splitlines()[2:] if line.strip()]
    figures_written = list(figures.glob("*.png"))
    assert len(figures_written) >= 15
    assert len(images) >= len(figures_written), "every figure must be embedded in the PDF"

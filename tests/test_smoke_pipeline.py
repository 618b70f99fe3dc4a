"""What the session's one execution of the notebooks left (``smoke_pipeline``): the conditional VAE's whole route,
and the paper rendered from the executed notebooks.

These are the only tests that read the smoke pipeline's outputs. Under pytest-xdist this module runs on the worker
that executes the notebooks, after them (conftest.py's scheduler): a test reading the pipeline belongs here.
"""

import os
import subprocess
import sys

import numpy as np
from test_report_pdf import notebook_parameter_names, pdf_problems

import vae_utils as vu

# The paper's numbered sections in order, then the references and the appendix.
SECTIONS = [
    "Abstract", "1 Introduction", "2 Related work", "3 Method", "4 Results", "5 Limitations", "6 Conclusion",
    "7 Reproducibility", "References", "A The network", "D More on the runs", "E The course report",
]


def test_notebook_03_trains_the_conditional_vae_and_notebook_05_scores_it_like_the_samplers(smoke_pipeline):
    cvae = vu.RunFolder(smoke_pipeline.cvae_dir)
    assert isinstance(cvae.load_model(), vu.ConditionalVAE)
    scored = cvae.read_latent_metrics()
    assert scored["likelihood_given_label"] and scored["model"]["conditional"]
    assert {row["sampler"] for row in scored["sampler_comparison"]} == {vu.ConditionalPriorSampler(15).name}
    assert "judge2_accuracy" in scored["chosen"]
    assert cvae.load_generated().shape[:2] == (10, scored["n_judged"])

    main = vu.RunFolder(smoke_pipeline.run_dir)
    comparisons = main.read_comparisons()
    assert comparisons["conditional_runs"] == [cvae.shown]
    tested = {(row["generated"], row["space"], row["reference"]) for row in comparisons["data_copying"]}
    assert ("conditional VAE", "pixels", "reconstructions") in tested
    assert ("ex-post sampler", "judge features", "real test digits") in tested
    assert set(comparisons["judge_agreement"]) == {"sampler", "recon.", "cond."}
    assert np.isfinite(main.read_latent_metrics()["second_judge"]["test_accuracy"])
    figures = smoke_pipeline.figures_dir
    assert (figures / "nearest_copies.png").is_file() and (figures / "conditional_digits.png").is_file()


def test_smoke_report_renders_with_layer_table_sections_and_figures(tmp_path, smoke_pipeline):
    """The smoke run's paper renders with every section and passes the checks (that a rebuild gives the same bytes
    is tested on a small paper, in test_build_report.py)."""
    executed = [str(path) for path in smoke_pipeline.executed.values()]
    run_dir, figures = smoke_pipeline.run_dir, smoke_pipeline.figures_dir
    environment = {name: value for name, value in os.environ.items() if name != "SOURCE_DATE_EPOCH"}
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [sys.executable, str(vu.paths.PROJECT_ROOT / "scripts" / "build_report.py"), "--notebooks", *executed,
         "--main-run", str(run_dir), "--figures-dir", str(figures), "--output", str(pdf)],
        check=True, env=environment,
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
    assert "(Kingma and Welling 2014)" in text and "Sun, Mehedi Hasan. 2024." in text, "citations set by citeproc"

    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    images = [line for line in listing.splitlines()[2:] if line.strip()]
    assert len(images) >= 6, "the paper's figures must be embedded in the PDF"
    assert not pdf_problems(pdf, notebook_parameter_names())

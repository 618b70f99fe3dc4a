"""The conditional VAE's whole route in the smoke configuration: notebook 03 trains it, notebook 04 scores it."""

import json
import os

import numpy as np
import papermill

import vae_utils as vu

NOTEBOOKS = vu.PROJECT_ROOT / "notebooks"


def _execute(name, output, **parameters):
    """Run a notebook with papermill in smoke mode (CI is set for the whole test session by conftest.py)."""
    assert "CI" in os.environ
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(output), parameters=parameters,
                               cwd=str(NOTEBOOKS), progress_bar=False)


def test_notebook_03_trains_the_conditional_vae_and_notebook_04_scores_it_like_the_samplers(tmp_path):
    main, cvae, figures = tmp_path / "run", tmp_path / "cvae", tmp_path / "figures"
    _execute("03_train", tmp_path / "03_vae.ipynb", run_dir=str(main), figures_dir=str(figures))
    _execute("03_train", tmp_path / "03_cvae.ipynb", run_dir=str(cvae), figures_dir=str(figures),
             model_name="cvae")
    assert isinstance(vu.RunFolder(cvae).load_model(), vu.ConditionalVAE)
    _execute("04_latent_space", tmp_path / "04.ipynb", run_dir=str(main), cvae_run_dir=str(cvae),
             figures_dir=str(figures))

    scored = json.loads((cvae / vu.RunFolder.LATENT_METRICS).read_text())
    assert scored["likelihood_given_label"] and scored["model"]["conditional"]
    assert {row["sampler"] for row in scored["sampler_comparison"]} == {vu.ConditionalPriorSampler(15).name}
    assert "judge2_accuracy" in scored["chosen"]
    generated = vu.RunFolder(cvae).load_generated()
    assert generated.shape[:2] == (10, scored["n_judged"])

    main_results = json.loads((main / vu.RunFolder.LATENT_METRICS).read_text())
    tested = {(row["generated"], row["space"], row["reference"]) for row in main_results["data_copying"]}
    assert ("conditional VAE", "pixels", "reconstructions") in tested
    assert ("ex-post sampler", "judge features", "real test digits") in tested
    assert set(main_results["judge_agreement"]) == {"sampler", "recon.", "cond."}
    assert np.isfinite(main_results["second_judge"]["test_accuracy"])
    assert (figures / "nearest_copies.png").is_file() and (figures / "conditional_digits.png").is_file()

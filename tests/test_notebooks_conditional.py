"""The conditional VAE's whole route in the smoke pipeline: notebook 03 trains it, notebook 05 scores it like the
samplers and sets it beside them (the session's one execution of the notebooks, ``smoke_pipeline``)."""

import numpy as np

import vae_utils as vu


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

"""The numbers a reader meets (the PDF's abstract and body, the README) are the committed runs', not stale copies.

They are checked against the run folders' ``metrics.json`` and ``latent_metrics.json``, formatted as the paper
formats them (``vae_utils.paper``), so a rebuilt run without a rebuilt report or README fails here.
"""

from __future__ import annotations

import pandas as pd
import pymupdf
import pytest

import vae_utils as vu
from report_tools import paper

RUN = vu.RunFolder("models")
PROTOCOL = vu.RunFolder("runs/course_protocol")
SEEDS = [vu.RunFolder(f"runs/seed{seed}") for seed in (1, 2, 3)]
CVAE = vu.RunFolder("runs/cvae")
PDF = vu.paths.PROJECT_ROOT / "report" / "report.pdf"
README = vu.paths.PROJECT_ROOT / "README.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def pages() -> list[str]:
    with pymupdf.open(PDF) as document:
        return [_flat(page.get_text()) for page in document]


def abstract_numbers() -> dict[str, str]:
    """The abstract's findings, from the committed results: the few numbers that carry them."""
    results = RUN.read_latent_metrics()
    chosen, prior = results["chosen"], results["prior_reported"]
    matched = pd.DataFrame(RUN.read_comparisons()["matched_recall"])
    gap = 100 * matched.groupby("training seed")["difference"].mean().mean()
    return {
        "judged accuracy of the chosen sampler": vu.formatting.percent(chosen["accuracy"]),
        "its 95% interval": vu.formatting.interval(chosen["accuracy_low"], chosen["accuracy_high"]),
        "the course report's procedure, judged": vu.formatting.percent(prior["accuracy"]),
        "the second judge's accuracy": vu.formatting.percent(results["chosen_second_judge"]["judge2_accuracy"]),
        "the conditional VAE's accuracy gap at matched recall": f"{abs(gap):.1f} points",
    }


def body_numbers() -> dict[str, str]:
    """Numbers the body states, from the main and the course-protocol runs."""
    metrics, results = RUN.read_metrics(), RUN.read_latent_metrics()
    protocol, protocol_results = PROTOCOL.read_metrics(), PROTOCOL.read_latent_metrics()
    return {
        "test negative ELBO": vu.formatting.nats(metrics["test"]["loss"]),
        "importance-weighted -log p(x)": vu.formatting.nats(results["test_iw_nll"]),
        "best epoch": str(metrics["best_epoch"]),
        "the course-protocol run's test negative ELBO": vu.formatting.nats(protocol["test"]["loss"]),
        "its importance-weighted -log p(x)": vu.formatting.nats(protocol_results["test_iw_nll"]),
    }


def finished_seed_numbers() -> dict[str, str]:
    """Each finished run of the main protocol's test negative ELBO and, once analysed, its chosen setting's judged
    accuracy (the paper's two tables of runs state them)."""
    numbers = {f"{run.shown}'s test negative ELBO": vu.formatting.nats(run.read_metrics()["test"]["loss"])
               for run in SEEDS if run.finished}
    numbers.update({f"{run.shown}'s chosen setting, judged": vu.formatting.percent(run.read_latent_metrics()["chosen"]
                                                                               ["accuracy"])
                    for run in SEEDS if run.finished and run.has(vu.RunFolder.LATENT_METRICS)})
    return numbers


@pytest.mark.parametrize("name", list(abstract_numbers()))
def test_abstract_states_the_committed_runs_number(name, pages):
    value = abstract_numbers()[name]
    abstract = pages[0].split("Introduction")[0]
    assert "Abstract" in abstract
    assert value in abstract, f"{name} ({value}, from the run folders' JSON) is not in the PDF's abstract"


@pytest.mark.parametrize("name", list(body_numbers()))
def test_paper_and_readme_state_the_committed_runs_number(name, pages):
    value = body_numbers()[name]
    assert value in " ".join(pages), f"{name} ({value}, from the run folders' JSON) is not in the PDF"
    assert value in _flat(README.read_text(encoding="utf-8")), f"{name} ({value}) is not in README.md"


def test_paper_states_each_finished_seed_runs_test_elbo(pages):
    text = " ".join(pages)
    missing = {name: value for name, value in finished_seed_numbers().items() if value not in text}
    assert not missing, f"finished runs whose numbers the PDF lacks: {missing}"


def test_paper_states_the_conditional_vaes_accuracy_once_it_is_scored(pages):
    if not (CVAE.finished and CVAE.has(CVAE.LATENT_METRICS)):
        pytest.skip("the conditional VAE has not finished training and scoring yet")
    value = vu.formatting.percent(CVAE.read_latent_metrics()["chosen"]["accuracy"])
    assert value in " ".join(pages)


def test_paper_states_the_run_to_run_spread_of_the_test_elbo(pages):
    seeds = paper.main_results(RUN).get("seeds")
    if not seeds or len(seeds["runs"]) < 2:
        pytest.skip("fewer than two runs of the main protocol are analysed")
    row = seeds["summary"]["test -ELBO"]
    value = f"{row['mean']:.2f} ± {row['sd']:.2f}"
    assert value in " ".join(pages), f"the runs' test negative ELBO, {value}, is not in the PDF"


def test_copying_sentence_gives_the_ex_post_samplers_own_reference_distances(pages):
    """Each model's copying test has reconstructions of its own; the sentence about the ex-post sampler must quote
    the distances of its test, not the conditional VAE's."""
    rows = [row for row in paper.main_results(RUN).get("data_copying", [])
            if row["generated"] == "ex-post sampler" and row["space"] == "pixels"]
    if not rows:
        pytest.skip("the data-copying test has not run")
    reference = {row["reference"]: f"{row['reference_median_distance']:.2f}" for row in rows}
    sentence = (f"{rows[0]['generated_median_distance']:.2f} for the samples and {reference['reconstructions']} for "
                f"reconstructions, against {reference['real test digits']} for real test digits")
    assert sentence in " ".join(pages)

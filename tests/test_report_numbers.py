"""The numbers a reader meets first (the PDF's abstract, the README) are the committed run's, not stale copies.

Both are checked against ``models/metrics.json`` and ``models/latent_metrics.json``, formatted as the report
formats them (``vu.percent`` and two decimals), so a rebuilt run without a rebuilt report or README fails here.
"""

from __future__ import annotations

import pymupdf
import pytest

import vae_utils as vu

RUN = vu.RunFolder("models")
PDF = vu.PROJECT_ROOT / "report" / "report.pdf"
README = vu.PROJECT_ROOT / "README.md"


def headline_numbers() -> dict[str, str]:
    """The abstract's numbers as text, from the committed run folder's results."""
    metrics, results = RUN.read_metrics(), RUN.read_latent_metrics()
    chosen, prior = results["chosen"], results["prior_reported"]
    return {
        "test negative ELBO": f"{metrics['test']['loss']:.2f}",
        "importance-weighted -log p(x)": f"{results['test_iw_nll']:.2f}",
        "judged accuracy of the chosen sampler": vu.percent(chosen["accuracy"]),
        "its worst digit's accuracy": vu.percent(chosen["min_accuracy"]),
        "its recall": f"{chosen['recall']:.2f}",
        "the course report's procedure, judged": vu.percent(prior["accuracy"]),
        "best epoch": str(metrics["best_epoch"]),
    }


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def abstract_page() -> str:
    with pymupdf.open(PDF) as document:
        return _flat(document[0].get_text())


@pytest.mark.parametrize("name", list(headline_numbers()))
def test_abstract_states_the_committed_runs_number(name, abstract_page):
    value = headline_numbers()[name]
    assert "Abstract" in abstract_page
    assert value in abstract_page, f"{name} ({value}, from models/*.json) is not in the PDF's abstract"


@pytest.mark.parametrize("name", list(headline_numbers()))
def test_readme_states_the_committed_runs_number(name):
    value = headline_numbers()[name]
    readme = _flat(README.read_text(encoding="utf-8"))
    assert value in readme, f"{name} ({value}, from models/*.json) is not in README.md"


PROTOCOL = vu.RunFolder("runs/course_protocol")


def protocol_numbers() -> dict[str, str]:
    """The course-protocol run's numbers that the README's table and the PDF's abstract state."""
    metrics, results = PROTOCOL.read_metrics(), PROTOCOL.read_latent_metrics()
    return {
        "its test negative ELBO": f"{metrics['test']['loss']:.2f}",
        "its importance-weighted -log p(x)": f"{results['test_iw_nll']:.2f}",
        "its final training loss": f"{metrics['best_epoch_train']['loss']:.2f}",
    }


@pytest.mark.parametrize("name", list(protocol_numbers()))
def test_readme_and_abstract_state_the_course_protocol_runs_number(name, abstract_page):
    value = protocol_numbers()[name]
    readme = _flat(README.read_text(encoding="utf-8"))
    assert value in readme, f"{name} ({value}, from runs/course_protocol/*.json) is not in README.md"
    assert value in abstract_page, f"{name} ({value}, from runs/course_protocol/*.json) is not in the PDF's abstract"

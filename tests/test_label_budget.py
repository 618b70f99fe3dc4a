"""The label-budget study (notebook 06): a budget of one label per digit runs end to end, a budget the labels cannot
give is refused before any heavy work, the smallest sufficient budget follows its rule, and the figure prints legibly.

Synthetic codes (ten separated blobs), an untrained VAE and an untrained judge: the behaviours, not the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu
from report_tools import figure_checks
from vae_utils import label_budget as lb
from vae_utils.judge import DigitClassifier, real_features
from vae_utils.label_samplers import NAMING_RULES
from vae_utils.latent import fit_clusters
from vae_utils.plots_budget import plot_label_budget
from vae_utils.run import Stop, TrainingState

N_JUDGED = 8  # PRDC's k = 5 needs at least 7 per digit


def _images(n_per_digit: int, seed: int) -> vu.MNISTTensors:
    """Random grey images with every digit ``n_per_digit`` times: a stand-in for real reference digits."""
    labels = torch.arange(10).repeat_interleave(n_per_digit)
    return vu.MNISTTensors(torch.rand(len(labels), 1, 28, 28, generator=torch.Generator().manual_seed(seed)), labels)


@pytest.fixture
def study(digit_blobs) -> lb.BudgetStudy:
    """The study's inputs on ten blobs of 60 codes: 20 k-means clusters, an untrained VAE and judge."""
    latents, labels = digit_blobs
    torch.manual_seed(0)
    model, judge = vu.VAE(latents.shape[1]).eval(), DigitClassifier().eval()
    return lb.BudgetStudy(model, judge, latents, labels, fit_clusters(latents, labels, 20, seed=0), None, 0.8,
                          N_JUDGED)


def _made_up_rows(accuracies: dict[str, dict[int | str, list[float]]]) -> list[dict]:
    """Rows shaped like ``budget_study``'s: per family, budget and subset, every metric derived from the accuracy."""
    rows = []
    for family, by_budget in accuracies.items():
        for budget, values in by_budget.items():
            for subset, accuracy in enumerate(values):
                rows.append({"family": family, "budget": budget, "subset": subset,
                             "labelled_images": 10 * (5_500 if budget == lb.ALL else budget), "accuracy": accuracy,
                             "min_accuracy": accuracy - 0.03, "recall": accuracy - 0.2, "coverage": 0.7,
                             "frechet": 30.0})
    return rows


def test_a_budget_of_one_label_per_digit_runs_end_to_end_and_gives_a_row_per_family(study):
    reference = real_features(study.judge, _images(10, seed=1))
    choice = lb.choose_naming_rule(study, [1, None], subsets=2, seed=99, reference=reference)
    assert choice.rule in NAMING_RULES and choice.budgets == [1]
    assert sorted(choice.scores["rule"]) == sorted(NAMING_RULES) and (choice.scores["settings"] == 2).all()
    rows = lb.budget_study(study, [1], subsets=2, rule=choice.rule, seed=0, reference=reference)
    assert [(row["family"], row["budget"], row["subset"]) for row in rows] == [
        (lb.KMEANS, 1, 0), (lb.GAUSSIAN, 1, 0), (lb.KMEANS, 1, 1), (lb.GAUSSIAN, 1, 1)]
    for row in rows:
        assert row["labelled_images"] == 10
        assert all(np.isfinite(row[metric]) for metric in lb.BUDGET_METRICS)
    assert rows[0]["undrawable_digits"] == [] and rows[0]["clusters_named_with_labels"] <= 10
    table = vu.budget_table(rows)
    assert list(table["sampler"]) == [lb.KMEANS, lb.GAUSSIAN] and (table["subsets"] == 2).all()


def test_the_results_hold_every_subset_the_chosen_rule_and_round_trip_through_the_run_folder(study, tmp_path):
    reference = real_features(study.judge, _images(10, seed=1))
    choice = lb.choose_naming_rule(study, [1, None], subsets=1, seed=99, reference=reference)
    rows = lb.budget_study(study, [1, None], subsets=3, rule=choice.rule, seed=0, reference=reference)
    assert [row["budget"] for row in rows] == [1] * 6 + [lb.ALL] * 2  # all labels: one subset, whatever subsets is
    train = vu.MNISTTensors(torch.zeros(len(study.labels), 1, 28, 28), torch.from_numpy(study.labels))
    setup = lb.BudgetSetup(train, train, "pure mixture 100", 0.8, 99, 500, 20, None, "why", None)
    results = lb.label_budget_results(setup=setup, study=study, rows=rows, choice=choice, budgets=[1, None],
                                      subsets=3, seed=0, sampling_seed=0)
    assert results["naming_rule"]["chosen"] == choice.rule and results["naming_rule"]["reference"] == "validation"
    assert results["reference_sets"] == {"naming_rule": "validation", "reported": "test"}
    assert results["main_run"] == {"sampler": "pure mixture 100", "temperature": 0.8, "tuning_seed": 99,
                                   "n_judged": 500}
    assert len(results["per_subset"]) == 8 and results["budgets"] == [1, lb.ALL]
    assert set(results["smallest_sufficient_budget"]) == set(lb.FAMILIES)
    run = vu.RunFolder(tmp_path / "run")
    run.path.mkdir()
    assert run.write_label_budget(results) and not run.write_label_budget(results)  # the same results: not rewritten
    assert run.read_label_budget()["naming_rule"]["chosen"] == choice.rule
    assert vu.RunFolder.LABEL_BUDGET in vu.RunFolder.WRITTEN_BY["06_label_budget"]


def test_a_budget_larger_than_the_labelled_set_is_refused_naming_the_value(digit_blobs):
    _, labels = digit_blobs  # 60 images of every digit
    lb.check_budgets([1, 60, None], labels)
    with pytest.raises(ValueError, match=r"budgets holds 61 labels per digit, .* only 60 images of digit 0"):
        lb.check_budgets([1, 61, None], labels)


def _finished_run(folder, model_name: str = "vae") -> vu.RunFolder:
    """A run folder with an exported, finished (untrained) network of ``model_name`` and its metrics."""
    run = vu.RunFolder(folder)
    run.path.mkdir()
    config = vu.TrainConfig(epochs=1, train_limit=600, val_size=100, model_name=model_name)
    run.export(vu.build_model(model_name, config.z_dim), config,
               TrainingState(epoch=1, best_epoch=1, stop_reason=Stop.EPOCH_LIMIT.reason(epochs=1)))
    run.write_metrics({"config": config.to_dict()})
    return run


def _analysed_run(tmp_path) -> vu.RunFolder:
    """A finished run holding only what the study reads before heavy work: metrics, the analysis and a judge."""
    run = _finished_run(tmp_path / "run")
    run.write_latent_metrics({"chosen": {"sampler": "k-means 20", "temperature": 0.8}, "n_judged": N_JUDGED,
                              "rule": {"tuning_seed": 99}})
    run.save_judge(DigitClassifier())
    return run


def test_the_study_refuses_a_budget_the_training_split_cannot_give_before_any_heavy_work(tmp_path):
    run = _analysed_run(tmp_path)
    train_set = _images(60, seed=0)  # 600 images; 500 after the run's 100 validation images
    setup = lb.prepare_study(run, train_set, budgets=[1, 20, None], sampling_seed=0, train_limit=600,
                             cvae_run_dir=None)
    assert (setup.k, setup.min_purity, len(setup.train.labels), len(setup.val.labels)) == (20, None, 500, 100)
    with pytest.raises(ValueError, match=r"^budgets holds 5,000 labels per digit"):
        lb.prepare_study(run, train_set, budgets=[1, 5_000], sampling_seed=0, train_limit=600, cvae_run_dir=None)
    with pytest.raises(ValueError, match="sampling_seed must differ from notebook 04's tuning seed"):
        lb.prepare_study(run, train_set, budgets=[1], sampling_seed=99, train_limit=600, cvae_run_dir=None)
    with pytest.raises(ValueError, match=r"^train_limit must be the run's own \(600\)"):
        lb.prepare_study(run, train_set, budgets=[1], sampling_seed=0, train_limit=None, cvae_run_dir=None)


def test_a_run_folder_that_is_unfinished_or_of_the_wrong_kind_is_refused(tmp_path):
    train_set = _images(60, seed=0)
    with pytest.raises(ValueError, match="run_dir '.*' holds no finished training run"):
        lb.prepare_study(vu.RunFolder(tmp_path / "empty"), train_set, budgets=[1], sampling_seed=0, train_limit=600,
                         cvae_run_dir=None)
    conditional = _finished_run(tmp_path / "cvae", "cvae")
    with pytest.raises(ValueError, match="run_dir '.*' holds a 'cvae' run"):
        lb.prepare_study(conditional, train_set, budgets=[1], sampling_seed=0, train_limit=600, cvae_run_dir=None)
    with pytest.raises(FileNotFoundError, match="cvae_run_dir '.*' has not been scored yet"):
        lb.conditional_reference(str(conditional.path))
    with pytest.raises(ValueError, match="cvae_run_dir '.*' holds a run of model_name 'vae'"):
        lb.conditional_reference(str(_finished_run(tmp_path / "vae").path))
    with pytest.raises(FileNotFoundError, match="cvae_run_dir '.*' does not exist"):
        lb.conditional_reference(str(tmp_path / "nowhere"))
    assert lb.conditional_reference(None) is None


def test_the_smallest_sufficient_budget_is_the_first_from_which_every_larger_one_is_within_a_point():
    rows = _made_up_rows({
        # 3 is within a point of all labels (0.99) but 10 falls below it again; from 30 on every budget is within
        lb.KMEANS: {1: [0.90, 0.92], 3: [0.985, 0.985], 10: [0.975, 0.977], 30: [0.975, 0.989],
                    100: [0.995, 0.993], lb.ALL: [0.99]},
        lb.GAUSSIAN: {1: [0.5, 0.6], 100: [0.90, 0.91], lb.ALL: [0.97]},  # no budget comes within a point
    })
    assert lb.smallest_sufficient_budget(rows) == 30  # the mean of 30's subsets, 0.982, is within
    assert lb.smallest_sufficient_budget(rows, lb.GAUSSIAN) is None
    assert lb.smallest_sufficient_budget(rows, within=0.02) == 3
    assert lb.smallest_sufficient_budget(pd.DataFrame(rows), within=0.1) == 1
    without_all = [row for row in rows if row["budget"] != lb.ALL]
    with pytest.raises(ValueError, match="no all-labels row of 'k-means'"):
        lb.smallest_sufficient_budget(without_all)


def test_the_naming_rule_with_the_highest_validation_accuracy_is_chosen_ties_to_the_worst_digit(study, monkeypatch):
    scores = {"nearest": (0.90, 0.80), "majority_only": (0.95, 0.85), "majority_then_nearest": (0.95, 0.90)}
    monkeypatch.setattr(lb, "budget_samplers", lambda study, budget, subset, rule: (rule, {}, None))
    monkeypatch.setattr(lb, "_score", lambda study, rule, seed, reference: {
        "accuracy": scores[rule][0], "min_accuracy": scores[rule][1], "recall": 0.5, "coverage": 0.5})
    choice = lb.choose_naming_rule(study, [1, 3, 10, 30, None], subsets=2, seed=99, reference=None)
    assert choice.rule == "majority_then_nearest" and choice.budgets == [1]  # k = 20: only 1 gives <= 1 per cluster
    assert list(choice.scores["rule"]) == ["majority_then_nearest", "majority_only", "nearest"]
    assert list(vu.rule_table(choice)["chosen"]) == ["yes", "", ""]


def test_rule_budgets_are_those_with_at_most_one_label_per_cluster():
    assert lb.rule_budgets([1, 3, 10, 30, 100, None], k=100) == [1, 3, 10]
    assert lb.rule_budgets([30, 100, None], k=100) == [30]  # none is that small: the smallest


def test_the_studys_clusters_follow_the_chosen_k_means_sampler_else_default_to_100():
    assert lb.study_clusters("pure k-means 50", 1_000, 0.9)[:2] == (50, 0.9)
    assert lb.study_clusters("k-means 200", 1_000, 0.9)[:2] == (200, None)
    k, purity, why = lb.study_clusters("pure mixture 100", 1_000, 0.9)
    assert (k, purity) == (lb.DEFAULT_CLUSTERS, None) and "not a k-means sampler" in why


@pytest.mark.parametrize("with_conditional", [True, False])
def test_the_label_budget_figure_prints_legibly(with_conditional):
    rows = _made_up_rows({family: {1: [0.8, 0.85, 0.82, 0.79, 0.84], 3: [0.93] * 5, 10: [0.97] * 5,
                                   30: [0.98] * 5, 100: [0.985] * 5, lb.ALL: [0.99]} for family in lb.FAMILIES})
    conditional = {"accuracy": 0.99, "min_accuracy": 0.97, "recall": 0.75, "temperature": 0.8}
    fig = plot_label_budget(rows, conditional if with_conditional else None)
    assert figure_checks.print_size_problems(fig) == []
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xscale() == "log" for ax in axes)
    assert [label.get_text() for label in axes[0].get_xticklabels()] == ["1", "3", "10", "30", "100", "all"]
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert any("conditional VAE" in text for text in legend) == with_conditional

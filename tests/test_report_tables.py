"""The report's tables say what their results say, for the main run and the course-protocol run alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import vae_utils as vu
from vae_utils.run import HISTORY_COLUMNS


def _protocol(last_epoch: int, test_losses: dict[int, float]) -> vu.curves.ProtocolRun:
    epochs = np.arange(1, last_epoch + 1)
    history = pd.DataFrame({column: np.nan for column in HISTORY_COLUMNS}, index=range(last_epoch))
    history["epoch"], history["train_loss"] = epochs, 90 + 100 / epochs
    for epoch, loss in test_losses.items():
        history.loc[history["epoch"] == epoch, "test_loss"] = loss
    return vu.run.RunRecord("runs/course_protocol", None, None, history)


def _committed(name: str) -> dict:
    return json.loads((Path(__file__).resolve().parents[1] / "models" / name).read_text())


def test_claims_table_names_the_stopping_rule_and_the_splits_each_run_had():
    """The comparison table must hold for the course-protocol run too: no validation split, the original's rule."""
    results, metrics = _committed("latent_metrics.json"), _committed("metrics.json")
    main = vu.course_report_comparison(results, metrics).set_index("aspect")["this project"]
    assert main["early stopping"] == "patience 10 on a validation split of 5,000 training images"
    assert "validation" in main["loss"] and "best epoch" in main["loss"]

    protocol = {**metrics, "best_epoch_val": None, "early_stopping": None,
                "config": {**metrics["config"], "val_size": 0, "stopping": "course_report"}}
    rows = vu.course_report_comparison(results, protocol).set_index("aspect")["this project"]
    assert "the course report's rule" in rows["early stopping"] and "no validation split" in rows["early stopping"]
    assert "validation" not in rows["loss"] and "last epoch" in rows["loss"]


def _finished_protocol(test_loss: float, iw_nll: float, accuracy: float,
                       on_the_way: dict[int, float] | None = None) -> vu.curves.ProtocolRun:
    """The course-protocol run after 1,250 epochs and notebook 04's analysis, its numbers made up around the main's."""
    metrics, results = _committed("metrics.json"), _committed("latent_metrics.json")
    config = {**metrics["config"], "val_size": 0, "stopping": "course_report"}
    protocol_metrics = {**metrics, "config": config, "epochs_run": 1250, "best_epoch": 1250, "best_epoch_val": None,
                        "early_stopping": None, "stop_reason": "reached epochs=1250", "test": {
                            **metrics["test"], "loss": test_loss}}
    chosen = {**results["chosen"], "accuracy": accuracy, "accuracy_low": accuracy - 0.003,
              "accuracy_high": accuracy + 0.003}
    history = _protocol(1250, {**(on_the_way or {1000: test_loss - 0.01}), 1250: test_loss}).history
    return vu.run.RunRecord("runs/course_protocol", protocol_metrics,
                            {**results, "test_iw_nll": iw_nll, "chosen": chosen}, history)


def test_protocol_table_sets_both_runs_side_by_side_measure_by_measure():
    protocol = _finished_protocol(test_loss=92.60, iw_nll=89.40, accuracy=0.990)
    main = (_committed("metrics.json"), _committed("latent_metrics.json"))
    table = vu.protocol_table(main, (protocol.metrics, protocol.latent)).set_index("measure")
    main_column, protocol_column = table.columns
    committed_elbo, committed_iw = main[0]["test"]["loss"], main[1]["test_iw_nll"]
    assert table.loc["test negative ELBO"].tolist() == [f"{committed_elbo:.2f}", "92.60"]
    assert table.loc["test −log p(x), importance-weighted"].tolist() == [f"{committed_iw:.2f} (K = 100)",
                                                                          "89.40 (K = 100)"]
    assert table.loc["training images"].tolist() == ["55,000", "60,000"]
    assert table.loc["epochs run (weights kept)", protocol_column] == "1,250 (epoch 1,250)"
    assert "no validation split" in table.loc["stopping", protocol_column]
    chosen = main[1]["chosen"]  # the committed result, read back: a retrain changes it, not this test
    assert table.loc["judged accuracy (95% interval)", main_column] == vu.formatting.with_interval(
        chosen["accuracy"], chosen["accuracy_low"], chosen["accuracy_high"])
    assert table.loc["training time", main_column].endswith("s per epoch (mean)")  # no history at hand

    slowed = pd.DataFrame({"epoch": [1, 2, 3], "epoch_seconds": [24.0, 900.0, 25.0]})  # one epoch shared the CPU
    table = vu.protocol_table(main, (protocol.metrics, protocol.latent, slowed)).set_index("measure")
    assert table.loc["training time", protocol_column].endswith(", 25.0 s per epoch (median)")



def test_missing_values_are_blank_in_text_columns_too():
    frame = pd.DataFrame({"quantity": ["chosen sampler", "T"], "seed 2": [np.nan, 0.9], "seed 3": ["mixture", None]})
    rows = vu.tables.format_table(frame).values.tolist()
    assert rows == [["chosen sampler", "", "mixture"], ["T", "0.90", ""]]
    json.dumps(rows, allow_nan=False)  # the table's metadata must stay valid JSON in the notebook


def test_copying_table_sets_each_spaces_statistic_side_by_side_with_a_typeset_minus():
    rows = [{"generated": generated, "reference": reference, "space": space, "c_t": c_t, "cells": 50,
             "cells_used": used, "generated_median_distance": 3.5, "reference_median_distance": 4.25}
            for generated, reference, space, c_t, used in [
                ("ex-post sampler", "real test digits", "pixels", -7.016, 50),
                ("ex-post sampler", "real test digits", "judge features", -4.79, 48),
                ("ex-post sampler", "reconstructions", "pixels", 1.37, 50),
                ("ex-post sampler", "reconstructions", "judge features", 0.5, 49)]]
    table = vu.copying_table(pd.DataFrame(rows))
    assert list(table["reference"]) == ["real test digits", "reconstructions"]
    first = table.iloc[0]
    assert (first["statistic, pixels"], first["statistic, features"]) == ("\u22127.02", "\u22124.79")
    assert first["median distance, pixels"] == "3.50 / 4.25" and first["cells used"] == "50 / 48"
    assert table.iloc[1]["statistic, pixels"] == "1.37"


def test_patience_table_gives_what_each_run_needed_without_repeating_the_training_table():
    seeds = {"patience": [{"seed": 0, "stop epoch": 231, "best epoch": 221, "noise sd": 0.0625, "plateau epoch": 211,
                           "patience to plateau": 8, "patience to best": 8}]}
    table = vu.patience_table(seeds)
    assert list(table.columns) == ["training seed", "noise sd (nats)", "within noise of best from epoch",
                                   "longest wait before it (epochs)"]
    assert table.iloc[0].tolist() == ["0", "0.062", "211", "8"]


def test_rows_that_differ_only_in_a_number_are_folded_into_one_and_the_others_stay():
    from report_tools.typeset import fold_numbered_rows

    frame = pd.DataFrame({"sampler": ["clamped prior", "k-means 10", "k-means 50", "pure k-means 50", "mixture 100"],
                          "drawn from": ["the prior", "a Gaussian per cluster (10 clusters)",
                                         "a Gaussian per cluster (50 clusters)", "a pure one (50 clusters)",
                                         "a 100-component mixture"]})
    folded = fold_numbered_rows(frame)
    assert folded["sampler"].tolist() == ["clamped prior", "k-means k (k = 10, 50)", "pure k-means 50", "mixture 100"]
    assert folded.loc[1, "drawn from"] == "a Gaussian per cluster (k clusters)"


def test_a_table_with_nothing_to_compare_yet_is_typeset_as_saying_so():
    from report_tools.typeset import table_latex

    latex = table_latex(pd.DataFrame(), "Nothing yet", label="tbl:empty")
    assert "no rows yet" in latex and "\\begin{tabular}{l}" in latex

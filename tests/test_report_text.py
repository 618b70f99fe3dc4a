"""The report's computed sentences say what their numbers say: each verdict follows the evidence, not a template."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vae_utils as vu
from vae_utils.run import HISTORY_COLUMNS


def _evidence(slope: float, slope_se: float, residual_sd: float, noise_sd: float = 0.06) -> dict:
    trend = vu.Trend(slope, slope_se, 192, 231, 40, residual_sd)
    return {**vu.stopping_evidence(trend, noise_sd, 10), "noise_seeds": 10, "trend_epochs": 40,
            "first_epoch": 192, "last_epoch": 231}


@pytest.mark.parametrize("slope, slope_se, residual_sd, verdict", [
    (-0.005, 0.0014, 0.10, "stopped on noise"),  # the committed run: falling, but by less than the scatter
    (-0.0001, 0.001, 0.10, "indistinguishable from flat"),
    (-0.05, 0.001, 0.05, "still improving by more than single epochs scatter"),
])
def test_early_stopping_verdict_follows_the_trend_and_the_scatter(slope, slope_se, residual_sd, verdict):
    text = vu.early_stopping_text({"early_stopping": _evidence(slope, slope_se, residual_sd)})
    assert verdict in text
    assert ("no sign of overfitting" in text) == (slope < 0)


def test_early_stopping_text_without_a_validation_split_points_to_the_protocol_run():
    assert "Section 7" in vu.early_stopping_text({"early_stopping": None})


def _protocol(last_epoch: int, test_losses: dict[int, float]) -> vu.ProtocolRun:
    epochs = np.arange(1, last_epoch + 1)
    history = pd.DataFrame({column: np.nan for column in HISTORY_COLUMNS}, index=range(last_epoch))
    history["epoch"], history["train_loss"] = epochs, 90 + 100 / epochs
    for epoch, loss in test_losses.items():
        history.loc[history["epoch"] == epoch, "test_loss"] = loss
    return vu.ProtocolRun(history, None, None)


@pytest.mark.parametrize("losses, says", [
    ({100: 94.0, 110: 93.9, 120: 93.95}, "no overfitting so far"),
    ({100: 94.0, 110: 93.5, 120: 94.2}, "by this bound, the longer training overfits"),
])
def test_protocol_text_says_whether_the_held_out_loss_rose_beyond_the_noise(losses, says):
    log = pd.DataFrame({"epoch": np.arange(1, 1251), "train_loss": 90 + 100 / np.arange(1, 1251), "train_kl": 22.0})
    metrics = {"test": {"loss": 93.17}, "early_stopping": {"noise_sd": 0.06}}
    text = vu.protocol_text(_protocol(120, losses), log, metrics, {"test_iw_nll": 89.88})
    assert "reached epoch 120 of 1,250" in text and says in text
    assert "median of 0.00 nats" in text  # the same curve as the log: no difference


def test_discussion_compares_each_measure_with_the_reference_as_the_numbers_say():
    chosen = {"precision": 0.99, "density": 1.43, "recall": 0.81, "coverage": 0.857}  # the committed run's
    real = {"precision": 0.95, "density": 0.93, "recall": 0.96, "coverage": 0.828}
    per_digit = [{"digit": str(d), "recall": 0.8 - (d == 1) * 0.2} for d in range(10)]
    per_digit.append({"digit": "mean", "recall": 0.8})
    text = vu.discussion({"chosen": chosen, "real_reference": real, "chosen_per_digit": per_digit})
    assert "precision is 0.99, above theirs (0.95)" in text and "recall is 0.81, below theirs (0.96)" in text
    assert "coverage is 0.86, close to theirs (0.83)" in text and "mode-seeking" in text
    assert "Digit 1 has the lowest recall, 0.60" in text
    text = vu.discussion({"chosen": {**chosen, "recall": 0.97}, "real_reference": real, "chosen_per_digit": per_digit})
    assert "mode-seeking" not in text  # not claimed when recall is not below the reference


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


@pytest.mark.parametrize("stopping, reason, says", [
    ("validation", "early stopping: no improvement for 10 epochs", "stopped by validation patience after 231 epochs"),
    ("validation", "reached epochs=231", "trained for 231 epochs, the validation loss selecting epoch 221"),
    ("course_report", "reached epochs=1250", "under the course report's own rule, which never fired"),
    ("course_report", "early stopping (course report's rule): the training loss rose in 11 consecutive epochs",
     "stopped by the course report's own rule"),
])
def test_abstract_and_conclusion_say_how_the_run_stopped(stopping, reason, says):
    results, metrics = _committed("latent_metrics.json"), _committed("metrics.json")
    metrics = {**metrics, "stop_reason": reason, "config": {**metrics["config"], "stopping": stopping}}
    assert says in vu.training_phrase(metrics)
    for text in (vu.abstract(results, metrics), vu.conclusion(results, metrics)):
        assert says[1:] in text and ("validation" in text) == (stopping == "validation")


def _finished_protocol(test_loss: float, iw_nll: float, accuracy: float,
                       on_the_way: dict[int, float] | None = None) -> vu.ProtocolRun:
    """The course-protocol run after 1,250 epochs and notebook 04's analysis, its numbers made up around the main's."""
    metrics, results = _committed("metrics.json"), _committed("latent_metrics.json")
    config = {**metrics["config"], "val_size": 0, "stopping": "course_report"}
    protocol_metrics = {**metrics, "config": config, "epochs_run": 1250, "best_epoch": 1250, "best_epoch_val": None,
                        "early_stopping": None, "stop_reason": "reached epochs=1250", "test": {
                            **metrics["test"], "loss": test_loss}}
    chosen = {**results["chosen"], "accuracy": accuracy, "accuracy_low": accuracy - 0.003,
              "accuracy_high": accuracy + 0.003}
    history = _protocol(1250, {**(on_the_way or {1000: test_loss - 0.01}), 1250: test_loss}).history
    return vu.ProtocolRun(history, protocol_metrics, {**results, "test_iw_nll": iw_nll, "chosen": chosen})


def test_finished_protocol_run_is_set_beside_the_main_model_with_what_the_evidence_argues():
    log = vu.read_course_log()
    metrics, results = _committed("metrics.json"), _committed("latent_metrics.json")
    better = _finished_protocol(test_loss=92.60, iw_nll=89.40, accuracy=0.990)
    text = vu.protocol_text(better, log, metrics, results)
    assert "It ran all 1,250 epochs" in text and "@tbl:protocol" in text
    assert "0.57 nats below the main model's 93.17" in text and "89.40, 0.48 nats below the main model's 89.88" in text
    assert "intervals overlap" in text and "no overfitting." in text and "so far" not in text
    assert "The 1,019 extra epochs bought 0.57 nats" in text and "patience of at least 43 epochs" in text
    assert "The gap between the two" not in text  # 3.20 against 3.29: within twice the noise

    same = _finished_protocol(test_loss=93.10, iw_nll=89.85, accuracy=0.95)
    text = vu.protocol_text(same, log, metrics, results)
    assert "within twice the noise of one estimate ($2 \\times 0.06$ nats) of the main model's 93.17" in text
    assert "cost nothing measurable" in text and "at least" not in text
    assert "the two intervals do not overlap" in text

    gave_back = _finished_protocol(test_loss=93.20, iw_nll=89.90, accuracy=0.99, on_the_way={500: 92.80, 510: 92.70})
    text = vu.protocol_text(gave_back, log, metrics, results)
    assert "at epoch 510, the test negative ELBO was 0.47 nats below it" in text and "remaining 740 epochs" in text
    assert "patience of at least 43 epochs" in text and "lowest of 3 estimates" in text
    assert "training loss, which fell from 90.20 at epoch 510 to 90.08 at epoch 1,250" in text
    assert "cost nothing measurable" not in text and "by this bound, the longer training overfits" in text

    looser = _finished_protocol(test_loss=93.15, iw_nll=89.31, accuracy=0.99, on_the_way={510: 92.70})
    text = vu.protocol_text(looser, log, metrics, results)
    assert "89.31, 0.57 nats below the main model's 89.88" in text
    assert "has grown from 3.29 to 3.84 nats" in text and "likelihood better than its negative ELBO shows" in text
    assert "By the test negative ELBO the final weights are no better" in text
    assert "The temperatures differ" not in text  # both chose the same sampler and temperature

    protocol_latent = dict(looser.latent)
    swept = [row for row in results["sampler_comparison"]
             if (row["sampler"], row["temperature"]) == (results["chosen"]["sampler"], 0.9)]
    assert len(swept) == 1
    protocol_latent["sampler_comparison"] = [{**swept[0], "accuracy": 0.981, "min_accuracy": 0.968, "recall": 0.84}]
    protocol_latent["chosen"] = {**looser.latent["chosen"], "temperature": 0.8, "recall": 0.79, "frechet": 33.7}
    text = vu.protocol_text(looser._replace(latent=protocol_latent), log, metrics, results)
    assert "at the main model's setting (T = 0.9), the protocol model's samples are judged 98.1% correct" in text
    assert "(worst digit 96.8%) with recall 0.84" in text and "falls short of the rule's 97.0%" in text
    assert "so the rule takes T = 0.8" in text and "Fréchet distance 33.7 against 20.2" in text

    running = better._replace(metrics=None, latent=None)
    assert not running.analysed and "@tbl:protocol" not in vu.protocol_text(running, log, metrics, results)


def test_abstract_and_conclusion_report_the_protocol_run_only_once_it_is_finished_and_analysed():
    log = vu.read_course_log()
    metrics, results = _committed("metrics.json"), _committed("latent_metrics.json")
    finished = _finished_protocol(test_loss=93.15, iw_nll=89.31, accuracy=0.99)
    for write in (vu.abstract, vu.conclusion):
        text = write(results, metrics, finished, log)
        assert "Run again under the course report's own protocol for 1,250 epochs" in text
        assert "a test negative ELBO of 93.15 and an importance-weighted estimate of $-\\log p(x)$ of 89.31" in text
        assert "the main model reaches a test negative ELBO of 93.17" in text
        running = finished._replace(metrics=None, latent=None)
        for absent in (write(results, metrics), write(results, metrics, running, log)):
            assert "Run again" not in absent and "the main model reaches a test negative ELBO of 93.17" in absent


def test_protocol_table_sets_both_runs_side_by_side_measure_by_measure():
    protocol = _finished_protocol(test_loss=92.60, iw_nll=89.40, accuracy=0.990)
    main = (_committed("metrics.json"), _committed("latent_metrics.json"))
    table = vu.protocol_table(main, (protocol.metrics, protocol.latent)).set_index("measure")
    main_column, protocol_column = table.columns
    assert table.loc["test negative ELBO"].tolist() == ["93.17", "92.60"]
    assert table.loc["test -log p(x), importance-weighted"].tolist() == ["89.88 (K = 100)", "89.40 (K = 100)"]
    assert table.loc["training images"].tolist() == ["55,000", "60,000"]
    assert table.loc["epochs run (weights kept)", protocol_column] == "1,250 (epoch 1,250)"
    assert "no validation split" in table.loc["stopping", protocol_column]
    assert table.loc["judged accuracy (95% interval)", main_column] == "98.9% [98.6, 99.2]"
    assert table.loc["training time", main_column].endswith("s per epoch (mean)")  # no history at hand

    slowed = pd.DataFrame({"epoch": [1, 2, 3], "epoch_seconds": [24.0, 900.0, 25.0]})  # one epoch shared the CPU
    table = vu.protocol_table(main, (protocol.metrics, protocol.latent, slowed)).set_index("measure")
    assert table.loc["training time", protocol_column].endswith(", 25.0 s per epoch (median)")

"""The report's computed sentences say what their numbers say: each verdict follows the evidence, not a template."""

from __future__ import annotations

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
    ({100: 94.0, 110: 93.5, 120: 94.2}, "overfits the held-out likelihood"),
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

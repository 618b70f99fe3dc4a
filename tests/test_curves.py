"""Learning-curve evidence on curves with a known answer: offsets, slopes, minima and the noise of one estimate."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu
from vae_utils.run import HISTORY_COLUMNS


def _history(epochs, **columns):
    return pd.DataFrame({"epoch": np.asarray(epochs), **{name: np.asarray(values) for name, values in columns.items()}})


def test_course_log_is_the_original_reports_1250_epochs():
    log = vu.read_course_log()
    assert list(log.columns) == ["epoch", "train_loss", "train_kl"]
    assert len(log) == 1250 and log["epoch"].iloc[0] == 1 and log["epoch"].iloc[-1] == 1250
    assert vu.curves.COURSE_LOG.is_absolute() and vu.curves.COURSE_LOG.name == "course_report_training_log.csv"


def test_missing_course_log_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="elsewhere.csv"):
        vu.read_course_log(tmp_path / "elsewhere.csv")


def test_comparison_with_the_log_recovers_a_constant_offset_after_the_burn_in():
    epochs = np.arange(1, 201)
    theirs = 100 + 150 / epochs
    log = _history(epochs, train_loss=theirs, train_kl=np.zeros(200))
    ours = theirs[:150] + 0.25
    ours[9] += 50.0  # a burn-in spike: epoch 10 must not count
    ours[119] += 1.0  # epoch 120: the largest difference after the burn-in
    comparison = vu.compare_with_log(_history(epochs[:150], train_loss=ours), log, after=50)
    assert comparison.epochs == 100 and (comparison.first_epoch, comparison.last_epoch) == (51, 150)
    assert comparison.median_abs_diff == pytest.approx(0.25)
    assert comparison.max_abs_diff == pytest.approx(1.25) and comparison.max_abs_diff_epoch == 120
    assert comparison.last_diff == pytest.approx(0.25)
    assert comparison.ours_last - comparison.theirs_last == pytest.approx(0.25)
    assert comparison.theirs_last == pytest.approx(101.0)


def test_comparison_of_a_smoke_run_shorter_than_the_burn_in_is_empty_not_an_error():
    comparison = vu.compare_with_log(_history([1, 2], train_loss=[250.0, 170.0]), vu.read_course_log(), after=50)
    assert comparison.epochs == 0 and all(math.isnan(value) for value in comparison[1:])


def test_loss_trend_recovers_a_known_slope_and_scatter_from_the_last_epochs_only():
    rng = np.random.default_rng(0)
    epochs = np.arange(1, 301)
    loss = np.where(epochs < 200, 500.0 - 2 * epochs, 100.0 - 0.05 * (epochs - 200)) + rng.normal(0, 0.1, 300)
    loss[-5] = np.nan  # an epoch without validation is skipped, not counted
    trend = vu.curves.loss_trend(_history(epochs, val_loss=loss), last=60)
    assert trend.epochs == 60 and trend.last_epoch == 300 and trend.first_epoch == 240
    assert trend.slope == pytest.approx(-0.05, abs=0.005)
    assert 0 < trend.slope_se < 0.005
    assert trend.residual_sd == pytest.approx(0.1, rel=0.25)


def test_loss_trend_uses_what_there_is_and_is_nan_below_three_points():
    short = vu.curves.loss_trend(_history([1, 2, 3], val_loss=[3.0, 2.0, 1.0]), last=40)
    assert short.epochs == 3 and short.slope == pytest.approx(-1.0) and short.residual_sd == pytest.approx(0.0)
    two = vu.curves.loss_trend(_history([1, 2, 3], val_loss=[np.nan, 2.0, 1.0]))
    assert two.epochs == 2 and math.isnan(two.slope) and math.isnan(two.residual_sd)


def test_validation_noise_differs_between_seeds_and_repeats_for_the_same_seed():
    torch.manual_seed(0)
    model = vu.VAE()
    images = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    losses = vu.curves.validation_noise(model, images, seeds=[1, 2, 1, 3])
    assert losses.shape == (4,) and np.isfinite(losses).all()
    assert losses[0] == losses[2]
    assert len({losses[0], losses[1], losses[3]}) == 3
    assert losses[0] == vu.evaluate(model, images, seed=1)["loss"]


def test_heldout_minimum_finds_the_bottom_of_a_u_and_the_rise_after_it():
    epochs = np.arange(1, 41)
    test_loss = 90 + 0.01 * (epochs - 25) ** 2
    test_loss[1::3] = np.nan  # only some epochs are tested, the last not at all
    test_loss[-1] = np.nan
    held = vu.curves.heldout_minimum(_history(epochs, test_loss=test_loss))
    assert (held.min_epoch, held.min_value) == (25, pytest.approx(90.0))
    assert held.last_epoch == 39 and held.last_value == pytest.approx(90 + 0.01 * 14 ** 2)
    assert held.rise == pytest.approx(1.96) and held.recorded == 26
    nothing = vu.curves.heldout_minimum(_history([1], test_loss=[np.nan]))
    assert all(math.isnan(value) for value in nothing[:-1]) and nothing.recorded == 0


def test_stopping_evidence_separates_a_slope_hidden_by_noise_from_a_plateau_and_a_clear_fall():
    hidden = vu.curves.Trend(slope=-0.01, slope_se=0.002, first_epoch=1, last_epoch=40, epochs=40, residual_sd=0.2)
    evidence = vu.curves.stopping_evidence(hidden, noise_sd=0.05, patience=10)
    assert evidence["expected_improvement"] == pytest.approx(0.1) and evidence["noise_sd"] == 0.05
    assert evidence["still_improving"] and evidence["stopped_on_noise"]
    plateau = hidden._replace(slope=-0.001)  # within 2 standard errors of flat
    assert not vu.curves.stopping_evidence(plateau, 0.05, 10)["stopped_on_noise"]
    clear = hidden._replace(slope=-0.1)  # 1.0 expected over 10 epochs, far above the scatter
    assert not vu.curves.stopping_evidence(clear, 0.05, 10)["stopped_on_noise"]
    assert all(isinstance(value, (bool, int, float)) for value in evidence.values())


def test_noise_proof_patience_is_the_patience_at_which_the_stop_stops_being_noise():
    hidden = vu.curves.Trend(slope=-0.01, slope_se=0.002, first_epoch=1, last_epoch=40, epochs=40, residual_sd=0.2)
    evidence = vu.curves.stopping_evidence(hidden, noise_sd=0.05, patience=10)
    patience = vu.curves.noise_proof_patience(evidence)
    assert patience == 40  # 2 x 0.2 / 0.01
    assert vu.curves.stopping_evidence(hidden, 0.05, int(patience) - 1)["stopped_on_noise"]
    assert not vu.curves.stopping_evidence(hidden, 0.05, int(patience))["stopped_on_noise"]
    assert math.isnan(vu.curves.noise_proof_patience({**evidence, "slope": 0.001}))  # not falling: no patience helps


def test_loss_gap_pairs_the_epochs_both_recorded_in_order():
    ours = pd.DataFrame({"epoch": [3, 1, 2], "train_loss": [95.0, 100.0, np.nan]})
    log = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_loss": [101.0, 99.0, 94.5, 94.0]})
    gap = vu.curves.loss_gap(ours, log)
    assert list(gap["epoch"]) == [1, 3] and list(gap["gap"]) == [-1.0, 0.5]


@pytest.mark.parametrize("stop_reason, finished", [
    ("time budget of 165 min for this session used (re-running continues)", False),
    ("reached epochs=1250", True),
])
def test_protocol_run_paused_by_a_time_budget_counts_as_unfinished(tmp_path, stop_reason, finished):
    """Notebook 03 writes metrics.json at every stop; a paused run's results must not reach the report as final."""
    run = vu.RunFolder(tmp_path)
    history = pd.DataFrame({column: [1.0, 2.0] for column in HISTORY_COLUMNS})
    history.to_csv(run.file(run.HISTORY), index=False)
    run.write_metrics({"stop_reason": stop_reason})
    run.write_latent_metrics({"test_iw_nll": 89.9})
    protocol = vu.load_protocol_run(tmp_path)
    assert len(protocol.history) == 2
    assert (protocol.metrics is not None, protocol.analysed) == (finished, finished)

"""Run-to-run spread: the band test, the patience each run needed, and the table's mean, sd and range."""

import numpy as np
import pandas as pd
import pytest

import vae_utils as vu


def _run(name, seed, train_loss, val_loss=None, best_epoch=None, noise_sd=0.05, latent=None):
    epochs = np.arange(1, len(train_loss) + 1)
    history = pd.DataFrame({"epoch": epochs, "train_loss": train_loss,
                            "val_loss": val_loss if val_loss is not None else np.nan})
    metrics = {"epochs_run": int(epochs[-1]), "best_epoch": best_epoch or int(epochs[-1]), "test": {"loss": 93.0},
               "early_stopping": {"noise_sd": noise_sd}, "config": {"seed": seed}}
    return vu.run.RunRecord(name, metrics, latent, history)


def _log(values):
    return pd.DataFrame({"epoch": np.arange(1, len(values) + 1), "train_loss": values})


def test_a_log_between_the_runs_is_inside_the_band_and_one_above_them_is_not():
    base = 100 - np.log(np.arange(1, 101))
    runs = [_run(f"r{i}", i, base + offset) for i, offset in enumerate([-0.2, -0.1, 0.1, 0.2])]
    inside = vu.seeds.log_band(runs, _log(base))
    assert inside["inside_share"] == 1.0 and inside["inside_share_after"] == 1.0
    assert inside["run_vs_run_median_abs"] == pytest.approx(np.median([0.1, 0.3, 0.4, 0.2, 0.3, 0.1]))
    above = vu.seeds.log_band(runs, _log(base + 1.0))
    assert above["inside_share"] == 0.0 and above["median_signed_after"] == pytest.approx(1.0)
    assert above["log_vs_run_median_abs"] > above["run_vs_run_median_abs"]


def test_patience_needed_is_the_longest_wait_for_a_new_best():
    # new bests at epochs 1, 2, 6 (a wait of 4), 7, 14 (a wait of 7); within 0.05 of the best from epoch 7
    val = [10, 9, 9.5, 9.4, 9.3, 8.0, 7.04, 7.5, 7.4, 7.3, 7.2, 7.1, 7.05, 7.0, 7.3, 7.3]
    run = _run("r", 0, np.ones(len(val)), val_loss=np.array(val, float), best_epoch=14, noise_sd=0.05)
    row = vu.seeds.patience_needs([run]).iloc[0]
    assert (row["plateau epoch"], row["patience to plateau"], row["patience to best"]) == (7, 4, 7)


def test_a_run_without_validation_has_no_patience_row():
    assert vu.seeds.patience_needs([_run("course", 0, np.ones(5))]).empty


def test_seed_summary_gives_mean_sd_and_range_over_runs():
    runs = [_run(f"r{i}", i, np.ones(3), best_epoch=b) for i, b in enumerate([2, 3, 3, 3])]
    table = vu.seeds.seed_table(runs, {"sampler": "x", "temperature": 1.0})
    summary = vu.seeds.seed_summary(table)
    assert summary.loc["best epoch", "mean"] == pytest.approx(2.75)
    assert summary.loc["best epoch", "sd"] == pytest.approx(np.std([2, 3, 3, 3], ddof=1))
    assert (summary.loc["best epoch", "min"], summary.loc["best epoch", "max"]) == (2, 3)
    shown = vu.seed_report_table(vu.seed_results(runs, {"sampler": "x", "temperature": 1.0}, _log(np.ones(3))),
                                 "training")
    assert list(shown["training seed"]) == ["0", "1", "2", "3", "mean ± sd", "range"]
    assert shown.iloc[-2]["best epoch"] == "2.8 ± 0.5" and shown.iloc[-1]["best epoch"] == "2 to 3"


def test_the_main_runs_setting_is_read_from_another_runs_sweep():
    latent = {"sampler_comparison": [{"sampler": "a", "temperature": 0.8, "accuracy": 0.97},
                                     {"sampler": "a", "temperature": 0.9, "accuracy": 0.99}]}
    assert vu.seeds.main_setting_on(latent, "a", 0.9)["accuracy"] == 0.99
    assert vu.seeds.main_setting_on(latent, "b", 0.9) is None


def test_the_generation_table_has_a_column_per_run_and_rows_per_quantity():
    latent = {"chosen": {"sampler": "mixture 100", "temperature": 0.8, "meets_rule": True, "accuracy": 0.99,
                         "min_accuracy": 0.98, "recall": 0.8, "frechet": 20.0},
              "test_iw_nll": 90.0, "active_units": 15, "clustering_k10": {"test": {"purity": 0.8}}}
    runs = [_run(f"r{i}", i, np.ones(3), latent={**latent, "chosen": {**latent["chosen"], "temperature": t}})
            for i, t in enumerate([0.8, 0.9])]
    seeds = vu.seed_results(runs, {"sampler": "mixture 100", "temperature": 0.8}, _log(np.ones(3)))
    table = vu.seed_generation_table(seeds).set_index("quantity")
    assert list(table.columns) == ["seed 0", "seed 1", "mean ± sd", "range"]
    assert table.loc["chosen sampler", "seed 1"] == "mixture 100"
    assert table.loc["temperature T", "mean ± sd"] == "0.85 ± 0.07"
    assert table.loc["temperature T", "range"] == "0.80 to 0.90"

"""Notebook 05's comparisons on inputs with a known answer, and the door check of the run folders it reads."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import vae_utils as vu
from vae_utils.config import ComparisonsConfig, check_run_folders


def _curve(family, seed, shift=0.0):
    """A temperature curve on which accuracy falls linearly with recall: accuracy = 1 - 0.1 * recall - shift."""
    recall = np.array([0.5, 0.6, 0.7, 0.8])
    return pd.DataFrame({"family": family, "training seed": seed, "temperature": [0.6, 0.7, 0.8, 0.9],
                         "recall": recall, "accuracy": 1 - 0.1 * recall - shift})


def test_accuracy_at_recall_reads_the_curve_between_temperatures_and_nothing_outside_it():
    curve = _curve("a", 0)
    assert vu.comparisons.accuracy_at_recall(curve, 0.65) == pytest.approx(1 - 0.065)
    assert math.isnan(vu.comparisons.accuracy_at_recall(curve, 0.95))


def test_matched_recall_pairs_runs_by_training_seed_and_compares_at_the_same_recall():
    curves = pd.concat([_curve("ex-post", 0), _curve("ex-post", 1, 0.02), _curve("ex-post", 3),
                        _curve("conditional", 0, 0.01), _curve("conditional", 1, 0.01)])
    matched = vu.matched_recall(curves, "ex-post", "conditional", n_points=3)
    assert sorted(set(matched["training seed"])) == [0, 1]  # seed 3 has no conditional partner
    assert len(matched) == 6 and matched["recall"].between(0.5, 0.8).all()
    by_seed = matched.groupby("training seed")["difference"].mean()
    assert by_seed[0] == pytest.approx(0.01) and by_seed[1] == pytest.approx(-0.01)


def test_curves_that_share_no_recall_give_no_rows_but_the_same_columns_and_table():
    curves = pd.concat([_curve("ex-post", 0), _curve("conditional", 0).assign(recall=lambda c: c["recall"] + 1)])
    matched = vu.matched_recall(curves, "ex-post", "conditional")
    assert matched.empty and list(matched.columns) == ["training seed", "recall", "ex-post", "conditional",
                                                         "difference"]
    assert list(vu.matched_recall_table(matched).columns)[-1] == "difference (points)"


def test_matched_recall_table_reads_percent_and_signed_points():
    matched = pd.DataFrame({"training seed": [0, 1], "recall": [0.5, 0.5], "a": [0.987, 0.97], "b": [0.979, 0.973],
                            "difference": [0.008, -0.003]})
    rows = vu.matched_recall_table(matched)
    assert tuple(rows.iloc[0][["a", "b", "recall", "difference (points)"]]) == ("98.7%", "97.9%", "0.50", "+0.8")
    assert rows.iloc[1]["difference (points)"] == "\u22120.3"  # the typeset minus of the prose


def _seed_run(folder, seed, best, losses, improving):
    history = pd.DataFrame({"epoch": range(1, len(losses) * 10 + 1)})
    history["test_loss"] = [losses[epoch // 10 - 1] if epoch % 10 == 0 else np.nan for epoch in history["epoch"]]
    metrics = {"epochs_run": len(losses) * 10, "test": {"loss": best},
               "early_stopping": {"still_improving": improving}, "config": {"seed": seed}}
    return vu.run.RunRecord(folder, metrics, None, history)


def test_fixed_epoch_losses_compare_runs_at_the_same_epochs_up_to_the_shortest_run():
    runs = [_seed_run("a", 0, 90.0, [100, 95, 93, 92, 91, 90.5], True),
            _seed_run("b", 1, 91.0, [101, 96, 94, 93, 92], False)]
    table = vu.fixed_epoch_losses(runs, step=20)
    assert [column for column in table.columns if column.startswith("epoch")] == ["epoch 20", "epoch 40"]
    assert list(table["epoch 40"]) == [92, 93]
    assert list(table["still improving"]) == [True, False] and list(table["stopped at epoch"]) == [60, 50]
    shown = vu.fixed_epoch_table(table, runs)
    assert list(shown["training seed"]) == ["0", "1"] and list(shown["still improving"]) == ["yes", "no"]


def test_a_run_that_recorded_no_test_loss_keeps_its_row_without_shortening_the_others():
    silent = _seed_run("main", 0, 93.0, [100, 95], True)
    silent.history["test_loss"] = np.nan  # trained before the recording existed
    table = vu.fixed_epoch_losses([silent, _seed_run("a", 1, 90.0, [100, 95, 93, 92], True)], step=20)
    assert [column for column in table.columns if column.startswith("epoch")] == ["epoch 20", "epoch 40"]
    assert np.isnan(table.loc[0, "epoch 40"]) and table.loc[1, "epoch 40"] == 92


def _run(folder, model_name="vae", finished=True, analysed=True):
    """A run folder with untrained weights: stopped (or still going), analysed or not, of either network."""
    torch.manual_seed(0)
    config = vu.TrainConfig(epochs=1, model_name=model_name)
    run = vu.RunFolder(folder)
    run.path.mkdir(parents=True)
    reason = vu.run.Stop.EPOCH_LIMIT.reason(epochs=1) if finished else ""
    run.export(vu.build_model(model_name, 15), config, vu.run.TrainingState(epoch=1, stop_reason=reason))
    run.write_metrics({"config": config.to_dict()})
    if analysed:
        run.write_latent_metrics({"note": "made up"})
    return str(folder)


def _comparisons(tmp_path, **changes):
    values = dict(smoke_test=True, seed=0, data_dir=None, figures_dir=None, run_dir=_run(tmp_path / "main"),
                  train_limit=None, comparison_run_dir=None, seed_run_dirs=[], cvae_run_dirs=[], copying_cells=10,
                  bootstrap_rounds=20, n_per_digit=5, iw_images=None, eval_seed=0)
    return ComparisonsConfig(**{**values, **changes})


def test_run_folders_of_the_kind_asked_pass_the_door(tmp_path):
    check_run_folders(_comparisons(tmp_path, seed_run_dirs=[_run(tmp_path / "seed1")],
                                   cvae_run_dirs=[_run(tmp_path / "cvae", "cvae", analysed=False)]))


@pytest.mark.parametrize("changes, error, words", [
    (lambda p: {"cvae_run_dirs": [str(p / "nowhere")]}, FileNotFoundError, "cvae_run_dirs names"),
    (lambda p: {"cvae_run_dirs": [_run(p / "cvae", "cvae", finished=False)]}, ValueError, "has finished"),
    (lambda p: {"cvae_run_dirs": [_run(p / "vae", "vae")]}, ValueError, "conditional VAE"),
    (lambda p: {"seed_run_dirs": [_run(p / "cvae", "cvae")]}, ValueError, "unconditional VAE"),
    (lambda p: {"comparison_run_dir": _run(p / "protocol", analysed=False)}, ValueError, "analysed by"),
])
def test_a_run_folder_of_another_kind_is_refused_naming_the_parameter(tmp_path, changes, error, words):
    with pytest.raises(error, match=words):
        check_run_folders(_comparisons(tmp_path, **changes(tmp_path)))

"""Run-to-run spread: the main protocol trained with several seeds, side by side. Used by notebook 04.

One training run is an anecdote. With several seeds of the same protocol (the same validation split, other
initialisations and batch orders) every claim can be set against how much two runs differ: the training curve
against the course report's log, the stopping epochs, the likelihoods, the latent space and the chosen sampler.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .run import RunFolder, RunRecord

__all__ = ["fixed_epoch_losses", "load_seed_runs", "log_band", "main_setting_on", "patience_needs", "seed_losses",
           "seed_results", "seed_summary", "seed_table"]


def load_seed_runs(run_dirs: Sequence[str | os.PathLike]) -> list[RunRecord]:
    """The finished runs among ``run_dirs``, read back in the order given (runs still training are left out)."""
    return [record for record in (RunFolder(folder).read_back() for folder in run_dirs) if record.metrics is not None]


def main_setting_on(latent: Mapping[str, Any], sampler: str, temperature: float) -> dict[str, Any] | None:
    """The row of a run's sampler comparison (tuning seed) for another run's chosen sampler and temperature."""
    for row in latent.get("sampler_comparison", []):
        if row["sampler"] == sampler and abs(row["temperature"] - temperature) < 1e-9:
            return row
    return None


def seed_table(runs: Sequence[RunRecord], main_chosen: Mapping[str, Any]) -> pd.DataFrame:
    """One numeric row per run: stopping and best epoch, test negative ELBO and IW-NLL, active units, k-means
    purity at k = 10 (test), the rule's choice with its accuracy, worst digit, recall and Fréchet distance, and the
    main run's chosen setting scored on this run (tuning seed)."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.folder, "seed": run.seed, "stop epoch": run.metrics["epochs_run"],
                               "best epoch": run.metrics["best_epoch"],
                               "test -ELBO": run.metrics["test"]["loss"]}
        latent = run.latent or {}
        if latent:
            chosen = latent["chosen"]
            on_main = main_setting_on(latent, main_chosen["sampler"], main_chosen["temperature"]) or {}
            row.update({
                "IW-NLL": latent["test_iw_nll"], "active units": latent["active_units"],
                "purity k=10": latent["clustering_k10"]["test"]["purity"],
                "sampler": chosen["sampler"], "T": chosen["temperature"], "meets rule": chosen["meets_rule"],
                "accuracy": chosen["accuracy"], "worst digit": chosen["min_accuracy"], "recall": chosen["recall"],
                "Fréchet": chosen["frechet"],
                "main setting: accuracy": on_main.get("accuracy", np.nan),
                "main setting: worst digit": on_main.get("min_accuracy", np.nan),
                "main setting: recall": on_main.get("recall", np.nan),
            })
        rows.append(row)
    return pd.DataFrame(rows)


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation, minimum and maximum of every numeric column of ``seed_table``."""
    numeric = table.drop(columns=["seed"]).select_dtypes("number")
    return pd.DataFrame({"mean": numeric.mean(), "sd": numeric.std(ddof=1), "min": numeric.min(),
                         "max": numeric.max(), "runs": numeric.count()})


def seed_losses(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """The runs' training losses side by side (one column per run), over the epochs every run reached."""
    last = min(int(run.history["epoch"].max()) for run in runs)
    return pd.DataFrame({run.folder: run.history.set_index("epoch")["train_loss"] for run in runs}).loc[1:last]


def log_band(runs: Sequence[RunRecord], log: pd.DataFrame, after: int = 50) -> dict[str, Any]:
    """Is the course report's log inside the run-to-run band of training losses, epoch by epoch?

    Over the epochs every run reached (``after`` and before, and after ``after`` separately): the share of epochs
    where the log lies between the lowest and the highest run, its median distance from the runs' mean in units of
    their standard deviation, and the median absolute difference between two of our runs beside the median absolute
    difference between the log and one of our runs (after ``after``, where the curves are flat enough to compare).
    """
    losses = seed_losses(runs)
    last = int(losses.index.max())
    theirs = log.set_index("epoch")["train_loss"].reindex(losses.index)
    low, high = losses.min(axis=1), losses.max(axis=1)
    mean, sd = losses.mean(axis=1), losses.std(axis=1, ddof=1)
    inside = (theirs >= low) & (theirs <= high)
    late = losses.index > after
    pairs = [(a, b) for i, a in enumerate(losses.columns) for b in losses.columns[i + 1:]]
    ours = [float((losses.loc[late, a] - losses.loc[late, b]).abs().median()) for a, b in pairs]
    theirs_vs_ours = [float((losses.loc[late, a] - theirs[late]).abs().median()) for a in losses.columns]
    return {
        "runs": len(runs), "epochs": int(last), "after": after,
        "inside_share": float(inside.mean()), "inside_share_after": float(inside[late].mean()),
        "median_z_after": float(((theirs - mean) / sd)[late].abs().median()),
        "median_signed_after": float((theirs - mean)[late].median()),
        "median_band_width_after": float((high - low)[late].median()),
        "run_vs_run_median_abs": float(np.median(ours)) if ours else float("nan"),
        "log_vs_run_median_abs": float(np.median(theirs_vs_ours)),
    }


def _new_best_epochs(history: pd.DataFrame) -> np.ndarray:
    """The epochs at which the validation loss reached a new lowest value."""
    losses = history["val_loss"].to_numpy(float)
    best = np.minimum.accumulate(losses)
    is_new = np.r_[True, losses[1:] < best[:-1]]
    return history["epoch"].to_numpy(int)[is_new]


def patience_needs(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Per run: where it stopped and peaked, when its validation loss first came within one noise standard deviation
    of its best (the plateau), and the smallest patience that would have reached the plateau and the best epoch
    (the longest stretch without a new best before each)."""
    rows = []
    for run in runs:
        history = run.history.dropna(subset=["val_loss"])
        best_epoch = int(run.metrics["best_epoch"])
        if history.empty:  # a run without validation (the course report's protocol) has no patience to measure
            continue
        noise = float((run.metrics.get("early_stopping") or {}).get("noise_sd", np.nan))
        best_loss = float(history.loc[history["epoch"] == best_epoch, "val_loss"].iloc[0])
        plateau = int(history.loc[history["val_loss"] <= best_loss + noise, "epoch"].min()) if noise == noise \
            else best_epoch
        bests = _new_best_epochs(history)
        gaps = np.diff(np.r_[0, bests])
        rows.append({"run": run.folder, "seed": run.seed, "stop epoch": int(run.metrics["epochs_run"]),
                     "best epoch": best_epoch, "noise sd": noise, "plateau epoch": plateau,
                     "patience to plateau": int(gaps[bests <= plateau].max()),
                     "patience to best": int(gaps[bests <= best_epoch].max())})
    return pd.DataFrame(rows)


def seed_results(runs: Sequence[RunRecord], main_chosen: Mapping[str, Any], log: pd.DataFrame) -> dict[str, Any]:
    """Everything the report says about the runs, in plain types for ``latent_metrics.json``: the per-run rows,
    their mean, sd and range, the course report's log against the band (with two runs or more) and patience."""
    table = seed_table(runs, main_chosen)
    summary = seed_summary(table)
    return {
        "runs": table.to_dict(orient="records"),
        "summary": {name: {key: float(value) for key, value in row.items()} for name, row in summary.iterrows()},
        "log_band": log_band(runs, log) if len(runs) >= 2 else None,
        "patience": patience_needs(runs).to_dict(orient="records"),
    }


def fixed_epoch_losses(runs: Sequence[RunRecord], step: int = 50) -> pd.DataFrame:
    """Each run's test negative ELBO at the same epochs (every ``step``, from the test loss recorded every 10 epochs
    for analysis only), beside its loss where patience stopped it and whether it was still improving then.

    Patience stopped every run while its validation loss still fell, so part of the spread between runs is where
    each stopped; at fixed epochs the runs are compared at equal training. The epochs are those every run that
    recorded test losses reached; a run that recorded none (the main run was trained before the recording existed)
    keeps its row with empty epoch columns, so it never shortens the comparison of the others."""
    recorded = {run.folder: run.history.dropna(subset=["test_loss"]).set_index("epoch")["test_loss"]
                if "test_loss" in run.history else pd.Series(dtype=float) for run in runs}
    reached = [int(losses.index.max()) for losses in recorded.values() if len(losses)]
    epochs = list(range(step, min(reached) + 1, step)) if reached else []
    rows = []
    for run in runs:
        losses = recorded[run.folder]
        row = {"run": run.folder, **{f"epoch {epoch}": float(losses.get(epoch, np.nan)) for epoch in epochs}}
        evidence = run.metrics.get("early_stopping", {})
        row.update({"stopped at epoch": int(run.metrics["epochs_run"]),
                    "test loss, selected weights": float(run.metrics["test"]["loss"]),
                    "still improving": bool(evidence.get("still_improving", False))})
        rows.append(row)
    return pd.DataFrame(rows)

"""Learning curves as evidence: the original course report's training log beside ours, the trend at the stop,
and the noise of one validation estimate. Used by notebooks 03 and 04.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import scipy.stats
import torch

from .model import VAE
from .paths import display_path, project_path
from .run import RunFolder, RunRecord
from .training import evaluate

__all__ = [
    "COURSE_LOG", "HeldOut", "LogComparison", "Trend", "compare_with_log", "early_stopping_evidence",
    "heldout_minimum", "load_protocol_run", "loss_gap", "loss_trend", "noise_proof_patience", "read_course_log",
    "stopping_evidence", "validation_noise",
]

# The course report's per-epoch training loss and KL (1,250 epochs), copied from its notebook's output.
COURSE_LOG = project_path("report/course_report_training_log.csv")
LOG_COLUMNS = ("epoch", "train_loss", "train_kl")


def read_course_log(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The course report's training log (epoch, train_loss, train_kl), from ``COURSE_LOG`` unless ``path`` is given."""
    path = project_path(path) if path is not None else COURSE_LOG
    if not path.is_file():
        raise FileNotFoundError(
            f"the course report's training log '{display_path(path)}' is missing; restore it from git "
            "(git checkout -- report/course_report_training_log.csv) or pass the path of a copy")
    log = pd.read_csv(path)
    missing = [column for column in LOG_COLUMNS if column not in log.columns]
    if missing:
        raise ValueError(f"the training log '{display_path(path)}' lacks the columns {missing}; "
                         f"it needs {list(LOG_COLUMNS)}")
    return log


class LogComparison(NamedTuple):
    """Our training loss against the course report's, over the epochs both runs reached after a burn-in."""

    epochs: int  # epochs compared (0 when none lies beyond ``after``)
    first_epoch: float  # NaN when none
    last_epoch: float
    median_abs_diff: float  # nats per image
    max_abs_diff: float
    max_abs_diff_epoch: float
    last_diff: float  # ours - theirs at the last common epoch
    ours_last: float
    theirs_last: float


def loss_gap(history: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """Our training loss beside the log's at every epoch both recorded, sorted by epoch: columns ``epoch``,
    ``ours``, ``theirs`` and ``gap`` (ours minus theirs, nats per image). The one pairing of the two curves that the
    comparison, the figure and the paper read."""
    ours = history[["epoch", "train_loss"]].dropna().rename(columns={"train_loss": "ours"})
    theirs = log[["epoch", "train_loss"]].dropna().rename(columns={"train_loss": "theirs"})
    both = ours.merge(theirs, on="epoch").sort_values("epoch", ignore_index=True)
    return both.assign(gap=both["ours"] - both["theirs"])


def compare_with_log(history: pd.DataFrame, log: pd.DataFrame, after: int = 50) -> LogComparison:
    """Our ``train_loss`` against the log's, over the epochs after ``after`` that both runs recorded.

    The first ``after`` epochs are left out: both curves fall steeply there, and a small offset in epoch would
    dominate the difference. When no common epoch lies beyond ``after`` (a CI smoke run trains 2 epochs) the
    result has ``epochs == 0`` and NaN everywhere else, instead of raising.
    """
    both = loss_gap(history, log)
    both = both[both["epoch"] > after]
    if both.empty:
        nan = math.nan
        return LogComparison(0, nan, nan, nan, nan, nan, nan, nan, nan)
    diff = both["gap"].to_numpy()
    epochs = both["epoch"].to_numpy()
    worst = int(np.abs(diff).argmax())
    last = both.iloc[-1]
    return LogComparison(
        len(both), float(epochs[0]), float(epochs[-1]), float(np.median(np.abs(diff))), float(abs(diff[worst])),
        float(epochs[worst]), float(diff[-1]), float(last["ours"]), float(last["theirs"]))


class Trend(NamedTuple):
    """A least-squares line through the last epochs of a loss curve."""

    slope: float  # change in loss per epoch (negative: still improving)
    slope_se: float  # its standard error
    first_epoch: float
    last_epoch: float
    epochs: int  # points fitted
    residual_sd: float  # epoch-to-epoch scatter around the line


def loss_trend(history: pd.DataFrame, column: str = "val_loss", last: int = 40) -> Trend:
    """Least-squares slope (``scipy.stats.linregress``) of ``column`` over its last ``last`` recorded epochs.

    Rows where ``column`` is NaN (epochs without that evaluation) are skipped. Fewer than ``last`` points are
    fitted when that is all there is; fewer than 3 leave the residual scatter undefined, so every number is NaN.
    """
    data = history[["epoch", column]].dropna().tail(last)
    if len(data) < 3:
        nan = math.nan
        return Trend(nan, nan, nan, nan, len(data), nan)
    epochs, values = data["epoch"].to_numpy(float), data[column].to_numpy(float)
    fit = scipy.stats.linregress(epochs, values)
    residuals = values - (fit.intercept + fit.slope * epochs)
    residual_sd = float(np.sqrt(np.sum(residuals ** 2) / (len(values) - 2)))  # two fitted parameters
    return Trend(float(fit.slope), float(fit.stderr), float(epochs[0]), float(epochs[-1]), len(data), residual_sd)


def validation_noise(
    model: VAE, images: torch.Tensor, seeds: Sequence[int], labels: torch.Tensor | None = None
) -> np.ndarray:
    """The negative ELBO (nats per image) of the same weights on the same images, once per reparameterisation seed.

    ``evaluate`` draws one z per image (Kingma & Welling 2014, eq. 10); a fixed seed makes epochs comparable,
    but the seed's own choice shifts the estimate. The spread of these numbers is the noise of one validation
    estimate, the yardstick for a "no improvement" epoch. ``labels``: the images' digits, for the conditional VAE.
    """
    return np.array([evaluate(model, images, seed=int(seed), labels=labels)["loss"] for seed in seeds])


class HeldOut(NamedTuple):
    """The lowest held-out loss, the last one, and the rise between them."""

    min_epoch: float
    min_value: float
    last_epoch: float
    last_value: float
    rise: float  # last_value - min_value (>= 0; large: the model overfitted after its best epoch)
    recorded: int  # how many estimates the minimum was taken over (the more, the more the minimum flatters)


def heldout_minimum(history: pd.DataFrame, column: str = "test_loss") -> HeldOut:
    """Where ``column`` was lowest and how much it rose by the last recorded epoch (NaN rows skipped; all NaN
    when nothing was recorded)."""
    data = history[["epoch", column]].dropna()
    if data.empty:
        nan = math.nan
        return HeldOut(nan, nan, nan, nan, nan, 0)
    best, last = data.loc[data[column].idxmin()], data.iloc[-1]
    return HeldOut(float(best["epoch"]), float(best[column]), float(last["epoch"]), float(last[column]),
                   float(last[column] - best[column]), len(data))


def stopping_evidence(trend: Trend, noise_sd: float, patience: int) -> dict[str, Any]:
    """Was the stop a plateau, or noise hiding a slope that still pointed down? Plain numbers for the report.

    ``expected_improvement`` is what the fitted trend predicts the loss would fall over ``patience`` more epochs
    (-slope x patience). ``stopped_on_noise`` is True when both hold: the trend was still improving (slope below
    zero by more than 2 standard errors), and that expected improvement is smaller than 2 x the epoch-to-epoch
    scatter around the line (``residual_sd``), so a patience window could plausibly pass without a new best
    although the loss was still falling. ``noise_sd`` (the spread of ``validation_noise``) is reported beside it.
    """
    expected = -trend.slope * patience
    improving = trend.slope < -2 * trend.slope_se
    return {
        "slope": float(trend.slope), "slope_se": float(trend.slope_se), "patience": int(patience),
        "expected_improvement": float(expected), "noise_sd": float(noise_sd), "residual_sd": float(trend.residual_sd),
        "still_improving": bool(improving),
        "stopped_on_noise": bool(improving and expected < 2 * trend.residual_sd),
    }


def noise_proof_patience(evidence: Mapping[str, Any]) -> float:
    """The smallest patience whose expected improvement reaches twice the epoch-to-epoch scatter at the stop.

    ``stopping_evidence`` calls a stop noise when ``-slope x patience < 2 x residual_sd``; this solves that for the
    patience, from the trend recorded in ``metrics['early_stopping']``. NaN when the loss was not falling (no
    patience is long enough to wait for an improvement that the trend does not predict).
    """
    slope, scatter = evidence["slope"], evidence["residual_sd"]
    if not (np.isfinite(slope) and np.isfinite(scatter)) or slope >= 0:
        return math.nan
    return float(math.ceil(2 * scatter / -slope))


def early_stopping_evidence(model: VAE, images: torch.Tensor, history: pd.DataFrame, patience: int,
                            noise_seeds: int = 10, trend_epochs: int = 40,
                            labels: torch.Tensor | None = None) -> dict[str, Any]:
    """Did patience stop on noise? The spread of one validation estimate of the selected weights over
    ``noise_seeds`` noise seeds, the validation trend over the last ``trend_epochs`` epochs, and the verdict of
    ``stopping_evidence``, as plain numbers for ``metrics.json``."""
    losses = validation_noise(model, images, range(noise_seeds), labels)
    trend = loss_trend(history, "val_loss", trend_epochs)
    evidence = stopping_evidence(trend, float(np.std(losses, ddof=1)), patience)
    return {**{key: (value if isinstance(value, (bool, int)) else float(value)) for key, value in evidence.items()},
            "noise_seeds": int(noise_seeds), "noise_losses": [float(v) for v in losses],
            "trend_epochs": int(trend.epochs) if np.isfinite(trend.epochs) else 0,
            "first_epoch": int(trend.first_epoch) if np.isfinite(trend.first_epoch) else None,
            "last_epoch": int(trend.last_epoch) if np.isfinite(trend.last_epoch) else None}


def load_protocol_run(run_dir: str | os.PathLike | None) -> RunRecord | None:
    """The course-protocol run as far as it has come (None when not asked for, or when it has no history yet).

    Its results count only once it has finished (``RunFolder.read_back``): a run that a session's time budget paused
    has metrics.json too (notebook 03 writes one at every stop), but those describe weights training moves on from.
    """
    if run_dir is None:
        return None
    record = RunFolder(run_dir).read_back()
    return None if record.history.empty else record

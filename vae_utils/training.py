"""Training: the loop with early stopping and per-epoch checkpoints, and test evaluation (``TrainConfig``: config.py).

Used by notebook 03. ``train_or_reuse`` follows the run folder's plan (train, continue or reuse), so no parameter is
silently ignored; everything on disk goes through ``run.RunFolder``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import pandas as pd
import torch
from tqdm import tqdm  # text bars: work in terminals, papermill and JupyterLab alike

from .config import TrainConfig  # defined with the other notebook configs; re-exported here
from .data import MNISTTensors, batched, shuffled_batches
from .model import VAE, LossTerms, build_model, eval_mode, forward_pass, model_device, vae_loss
from .run import Plan, RunFolder, Stop, TrainingState
from .runtime import environment_info, resolve_device, set_seed, to_memory_format, tune_cpu_runtime

__all__ = [
    "TrainConfig", "TrainResult", "early_stopping_step", "evaluate", "make_optimizer", "train",
    "train_or_reuse", "train_step", "training_metrics",
]


def make_optimizer(model: VAE, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam as in the course report; the fused kernel (same update rule) where the device has one."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, fused=fused)


def train_step(
    model: VAE, optimizer: torch.optim.Optimizer, batch: torch.Tensor, labels: torch.Tensor | None = None
) -> LossTerms:
    """One gradient step on the summed negative ELBO; returns the batch's loss terms (detached).

    ``labels`` are the batch's digits, used by the conditional VAE only.
    """
    logits, mu, logvar = forward_pass(model, batch, labels)
    terms = vae_loss(logits, batch, mu, logvar)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return LossTerms(*(t.detach() for t in terms))


def evaluate(
    model: VAE, images: torch.Tensor, batch_size: int = 512, seed: int = 1234, labels: torch.Tensor | None = None
) -> dict[str, float]:
    """Negative ELBO, reconstruction and KL in nats per image, with fixed reparameterization noise.

    A fixed noise seed makes the numbers comparable across epochs and reruns. The conditional VAE needs the
    images' ``labels``; its negative ELBO bounds -log p(x|y), not -log p(x).
    """
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(3, device=device)
    label_batches = batched(labels, batch_size) if labels is not None else None
    with eval_mode(model):
        for batch in batched(images, batch_size):
            batch = batch.to(device)
            batch_labels = next(label_batches) if label_batches is not None else None
            logits, mu, logvar = forward_pass(model, batch, batch_labels, generator)
            sums += torch.stack(list(vae_loss(logits, batch, mu, logvar)))
    loss, recon, kl = (sums / len(images)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def early_stopping_step(state: TrainingState, row: dict[str, float], config: TrainConfig) -> bool:
    """Update the early-stopping bookkeeping with a finished epoch's ``row``; True when the run must stop.

    ``config.stopping == "validation"``: the best epoch is the lowest validation loss (training loss
    without a validation set), and the run stops after ``patience`` epochs without a new best.
    ``"course_report"``: the course report's rule, which keeps the last weights; it counts consecutive
    epochs whose training loss is above the previous epoch's (a lower one resets the count) and stops
    when the count exceeds ``patience``. Call it before ``row`` is appended to ``state.history``.
    """
    if config.stopping == "course_report":
        previous = state.history[-1]["train_loss"] if state.history else math.inf
        state.bad_epochs = state.bad_epochs + 1 if row["train_loss"] > previous else 0
        state.best_epoch, state.best_metric = row["epoch"], row["train_loss"]
        return state.bad_epochs > config.patience
    metric = row["train_loss"] if math.isnan(row.get("val_loss", math.nan)) else row["val_loss"]
    if metric < state.best_metric:
        state.best_metric, state.best_epoch, state.bad_epochs = metric, row["epoch"], 0
        return False
    state.bad_epochs += 1
    return state.bad_epochs >= config.patience


class TrainResult(NamedTuple):
    """What ``train`` hands back: the model with its kept weights, the per-epoch history and why it stopped."""

    model: VAE
    history: pd.DataFrame
    stop_reason: str
    best_epoch: int
    wall_seconds: float
    environment: dict[str, Any]

    @classmethod
    def of(cls, model: VAE, state: TrainingState) -> TrainResult:
        """A result from a model and its bookkeeping."""
        return cls(model, state.history_frame(), state.stop_reason, state.best_epoch, state.wall_seconds,
                   state.environment)


@dataclass
class _Session:
    """What one call of ``train`` works with: the run folder, the model and its optimizer, and the bookkeeping."""

    config: TrainConfig
    run: RunFolder
    model: VAE
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    state: TrainingState
    started: float  # perf_counter at the start of this call
    earlier_seconds: float  # wall time of the run before this call (a resume continues the count)


def _setup(config: TrainConfig, run: RunFolder, resume: bool) -> _Session:
    """Seed, build the model and its optimizer on the device, and put a resumable run back in place."""
    device = resolve_device(config.device)
    set_seed(config.seed)
    if device.type == "cpu":
        tune_cpu_runtime()
    model = build_model(config.model_name, config.z_dim).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config, device)
    generator = torch.Generator().manual_seed(config.seed)
    state = TrainingState()
    if resume and run.file(run.LAST).exists():
        state = run.resume(model, optimizer, generator)
        print(f"Continuing the run in {run.shown}: {state.epoch} epochs done, best epoch {state.best_epoch}.")
    state.environment = environment_info(device)
    return _Session(config, run, model, optimizer, generator, state, time.perf_counter(), state.wall_seconds)


def _train_one_epoch(session: _Session, data: MNISTTensors, epoch: int, progress: bool) -> dict[str, float]:
    """Run one epoch; returns per-image train loss terms. Sums stay on the device to avoid syncs.

    The batch order comes from the session's generator alone, so the conditional VAE (which also takes each
    batch's labels) sees its images in the same order as the VAE with the same seed.
    """
    model, config = session.model, session.config
    images = data.images
    model.train()
    sums = torch.zeros(3, device=images.device)
    n_batches = math.ceil(len(images) / config.batch_size)
    batches = shuffled_batches(len(images), config.batch_size, session.generator)
    with tqdm(batches, total=n_batches, desc=f"epoch {epoch}", leave=False, mininterval=1.0,
              disable=not progress) as bar:
        for step, index in enumerate(bar):
            index = index.to(images.device)
            batch = to_memory_format(images[index], config.channels_last)
            labels = data.labels[index] if model.conditional else None
            terms = train_step(model, session.optimizer, batch, labels)
            sums += torch.stack(list(terms))
            if step % 50 == 0:  # reading a value syncs the GPU, so only now and then
                loss, kl = (terms.loss / len(batch)).item(), (terms.kl / len(batch)).item()
                bar.set_postfix(loss=f"{loss:.1f}", kl=f"{kl:.1f}")
    loss, recon, kl = (sums / len(images)).tolist()
    return {"train_loss": loss, "train_recon": recon, "train_kl": kl}


def _on_device(data: MNISTTensors | None, device: torch.device) -> MNISTTensors | None:
    """A labelled split moved to the training device once (None stays None)."""
    return None if data is None else MNISTTensors(data.images.to(device), data.labels.to(device))


def _held_out(model: VAE, data: MNISTTensors | None, prefix: str, config: TrainConfig, seed: int) -> dict[str, float]:
    """``prefix``_loss/_recon/_kl of a held-out split (NaN without one), for the history row."""
    values = evaluate(model, data.images, config.batch_size, seed, data.labels) if data is not None else {}
    return {f"{prefix}_{term}": values.get(term, math.nan) for term in ("loss", "recon", "kl")}


def _epoch_line(row: dict[str, float]) -> str:
    """One printed line per epoch, like the PyTorch VAE example."""
    val = "" if math.isnan(row["val_loss"]) else f" | val {row['val_loss']:.2f}"
    test = "" if math.isnan(row["test_loss"]) else f" | test {row['test_loss']:.2f}"
    return (f"epoch {row['epoch']:4d} | train {row['train_loss']:.2f} (recon {row['train_recon']:.2f}, "
            f"KL {row['train_kl']:.2f}){val}{test} | {row['epoch_seconds']:.1f} s, "
            f"{row['images_per_second']:.0f} img/s")


def _end_epoch(session: _Session, row: dict[str, float]) -> str:
    """Book a finished epoch (early stopping, epoch limit, time budget), then write it; returns the stop reason."""
    config, state = session.config, session.state
    best_before = state.best_epoch
    stop = ""
    if early_stopping_step(state, row, config):
        stop = Stop.EARLY.reason(patience=config.patience, stopping=config.stopping)
    elif row["epoch"] >= config.epochs:
        stop = Stop.EPOCH_LIMIT.reason(epochs=config.epochs)
    elif config.max_minutes is not None and (time.perf_counter() - session.started) / 60 >= config.max_minutes:
        stop = Stop.TIME_BUDGET.reason(minutes=config.max_minutes)
    state.history.append(row)
    state.epoch, state.stop_reason = row["epoch"], stop
    state.wall_seconds = session.earlier_seconds + time.perf_counter() - session.started
    new_best = state.best_epoch != best_before and config.stopping != "course_report"
    session.run.save_epoch(session.model, session.optimizer, session.generator, config, state, new_best)
    return stop


def _keep_weights(session: _Session) -> None:
    """Put the kept weights into the model: the best epoch's, or the last under the course report's rule."""
    if session.config.stopping != "course_report" and session.state.best_epoch > 0:
        session.model.load_state_dict(session.run.best_weights())


def train(
    config: TrainConfig,
    train_set: MNISTTensors,
    val_set: MNISTTensors | None,
    run_dir: str | os.PathLike,
    resume: bool = True,
    eval_seed: int = 1234,
    progress: bool = True,
    test_set: MNISTTensors | None = None,
    test_every: int = 0,
) -> TrainResult:
    """Train the VAE with early stopping, checkpointing every epoch to ``run_dir``.

    ``last.pt`` (every epoch) and ``best.pt`` (best early-stopping metric) hold everything
    needed to continue: with ``resume=True`` an interrupted run picks up where it stopped and
    ends with the same weights as an uninterrupted one. ``history.csv`` gets one row per
    epoch; with ``test_set`` and ``test_every`` > 0 it also records the test loss every
    ``test_every`` epochs, for analysis only: it never decides stopping or selection. At the
    end the model holds the kept weights. A folder that another process is training is refused.
    """
    run = RunFolder(run_dir)
    with run.training_lock():  # one process per run folder
        return _train_locked(config, train_set, val_set, run, resume, eval_seed, progress, test_set, test_every)


def _train_locked(
    config: TrainConfig, train_set: MNISTTensors, val_set: MNISTTensors | None, run: RunFolder, resume: bool,
    eval_seed: int, progress: bool, test_set: MNISTTensors | None, test_every: int,
) -> TrainResult:
    """``train``'s work, once the run folder is held: set up or resume, then one epoch at a time until a stop."""
    session = _setup(config, run, resume)
    device = model_device(session.model)
    train_set = _on_device(train_set, device)
    val_set = _on_device(val_set, device)
    test_set = _on_device(test_set, device) if test_every > 0 else None
    state = session.state
    stop = state.stop_reason if state.stop and state.stop.final else ""
    while not stop:
        epoch = state.epoch + 1
        tic = time.perf_counter()
        try:
            row = _train_one_epoch(session, train_set, epoch, progress)
        except KeyboardInterrupt:
            _keep_weights(session)
            print(f"Interrupted during epoch {epoch}. {RunFolder.LAST} holds epoch {state.epoch}; "
                  "run again to continue.")
            raise
        if not all(math.isfinite(value) for value in row.values()):
            stop = Stop.NON_FINITE.reason(epoch=epoch, loss=row["train_loss"], kept_epoch=state.epoch)
            state.stop_reason = stop
            print("Training stopped:", stop)
            break
        seconds = time.perf_counter() - tic
        row.update(epoch=epoch, epoch_seconds=seconds, images_per_second=len(train_set.images) / seconds)
        row.update(_held_out(session.model, val_set, "val", config, eval_seed))
        tested = test_set if test_set is not None and epoch % test_every == 0 else None
        row.update(_held_out(session.model, tested, "test", config, eval_seed))
        stop = _end_epoch(session, row)
        if progress:
            print(_epoch_line(row))
    _keep_weights(session)
    if state.best_epoch > 0 and Stop.of(stop) is not Stop.NON_FINITE:
        session.run.export(session.model, config, state)  # the file analysis reads, even of an unfinished run
    return TrainResult.of(session.model, state)


def train_or_reuse(
    config: TrainConfig,
    train_set: MNISTTensors | None,
    val_set: MNISTTensors | None,
    run_dir: str | os.PathLike,
    plan: Plan,
    progress: bool = True,
    test_set: MNISTTensors | None = None,
    test_every: int = 0,
) -> TrainResult:
    """Continue an unfinished run, reuse a finished one, or train from scratch, as ``RunFolder.plan`` decided.

    The report can thus be rebuilt from the committed ``vae_mnist.pt`` without hours of
    training. A reuse reads the run folder and writes nothing into it.
    """
    if plan is Plan.REUSE:
        model, state = RunFolder(run_dir).load_run(resolve_device(config.device))
        return TrainResult.of(model, state)
    return train(config, train_set, val_set, run_dir, resume=plan is Plan.CONTINUE, progress=progress,
                 test_set=test_set, test_every=test_every)


def training_metrics(
    result: TrainResult, config: TrainConfig, test: dict[str, float], n_test_images: int, eval_seed: int,
    early_stopping: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a reader needs to trust the numbers of a run, for metrics.json and the report.

    ``early_stopping`` (``curves.early_stopping_evidence``) records whether patience stopped on noise.
    """
    history = result.history
    best = history.loc[history["epoch"] == result.best_epoch].iloc[0] if result.best_epoch else None
    return {
        "config": config.to_dict(),
        "epochs_run": int(history["epoch"].max()) if len(history) else 0,
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "wall_seconds": round(result.wall_seconds, 1),
        "mean_epoch_seconds": round(float(history["epoch_seconds"].mean()), 2) if len(history) else None,
        "best_epoch_train": None if best is None else {t: float(best[f"train_{t}"]) for t in ("loss", "recon", "kl")},
        "best_epoch_val": None if best is None or pd.isna(best["val_loss"]) else {
            t: float(best[f"val_{t}"]) for t in ("loss", "recon", "kl")
        },
        "test": {**test, "images": n_test_images, "eval_seed": eval_seed},
        "environment": result.environment or environment_info(model_device(result.model)),
        "early_stopping": dict(early_stopping) if early_stopping else None,
    }

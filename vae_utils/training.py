"""Training: the configuration, the loop with validation early stopping and checkpoints, and test evaluation.

``train_or_reuse`` decides between continuing, reusing and refusing a run folder, so no parameter is silently ignored.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple

import pandas as pd
import torch
from tqdm import tqdm  # text bars: work in terminals, papermill and JupyterLab alike

from . import checks
from .checkpoint import (
    HISTORY_COLUMNS, CheckpointError, TrainingState, check_architecture, check_history_file, export_weights, history_frame,
    EARLY_STOP_PREFIX, is_final_stop, load_checkpoint, model_from_payload, restore_training_state, save_checkpoint,
    state_from_payload, update_checkpoint_fields, write_history,
)
from .data import N_TRAIN_IMAGES, batched, shuffled_batches
from .model import VAE, LossTerms, eval_mode, model_device, vae_loss
from .runtime import environment_info, resolve_device, set_seed, to_memory_format, tune_cpu_runtime
from .paths import BEST_CHECKPOINT, HISTORY_FILE, LAST_CHECKPOINT, WEIGHTS_FILE, display_path, project_path


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; defaults are the course report's. Checked on creation."""

    epochs: int = 1250
    batch_size: int = 128
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    z_dim: int = 15
    patience: int = 10
    seed: int = 0
    val_size: int = 5000
    train_limit: int | None = None  # use only the first N training images (None: all 60,000)
    device: str = "auto"
    max_minutes: float | None = None  # stop cleanly after this many minutes of this session; resume continues
    channels_last: bool = True  # memory layout only: faster CPU/GPU kernels, same function
    stopping: str = "validation"  # "validation": patience on the held-out loss; "course_report": the original's rule

    def __post_init__(self) -> None:
        rules = checks.PARAMETER_RULES["03_train"]
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in rules:
                rules[item.name](item.name, value)
        checks.check_bool("channels_last", self.channels_last)
        checks.check_choice("stopping", self.stopping, checks.STOPPING_RULES)
        n_train = self.train_limit or N_TRAIN_IMAGES
        if self.val_size >= n_train:
            raise ValueError(f"val_size must be below the {n_train:,} training images, got {self.val_size:,}")
        object.__setattr__(self, "betas", tuple(self.betas))

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> "TrainConfig":
        """The configuration from a notebook's parameters (its ``globals()``): every field found there is taken."""
        return cls(**{item.name: namespace[item.name] for item in fields(cls) if item.name in namespace})

    def to_dict(self) -> dict[str, Any]:
        """Plain-typed copy for checkpoints and JSON."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


# Fields that do not change what is computed: where it runs, how long this session may take, memory layout.
SESSION_FIELDS = ("device", "max_minutes", "channels_last")


def config_differences(saved: Mapping[str, Any], config: TrainConfig) -> list[str]:
    """'name: run folder has A, parameters ask for B' for each run-defining field that differs (epochs aside)."""
    wanted = config.to_dict()
    defaults = TrainConfig().to_dict()
    differences = []
    for name, value in wanted.items():
        if name in SESSION_FIELDS or name == "epochs":
            continue
        found = saved.get(name, defaults[name])  # fields added later take their default in older runs
        if found != value:
            differences.append(f"{name}: run folder has {found!r}, parameters ask for {value!r}")
    return differences


def make_optimizer(model: VAE, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam as in the course report; the fused kernel (same update rule) where the device has one."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, fused=fused)


def minibatches(images: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled batches of one epoch sliced from a preloaded tensor (the last batch may be smaller)."""
    for index in shuffled_batches(len(images), batch_size, generator):
        yield images[index.to(images.device)]


def train_step(model: VAE, optimizer: torch.optim.Optimizer, batch: torch.Tensor) -> LossTerms:
    """One gradient step on the summed negative ELBO; returns the batch's loss terms (detached)."""
    logits, mu, logvar = model(batch)
    terms = vae_loss(logits, batch, mu, logvar)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return LossTerms(*(t.detach() for t in terms))


def evaluate(model: VAE, images: torch.Tensor, batch_size: int = 512, seed: int = 1234) -> dict[str, float]:
    """Negative ELBO, reconstruction and KL in nats per image, with fixed reparameterization noise.

    A fixed noise seed makes the numbers comparable across epochs and reruns.
    """
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(3, device=device)
    with eval_mode(model):
        for batch in batched(images, batch_size):
            batch = batch.to(device)
            logits, mu, logvar = model(batch, generator=generator)
            sums += torch.stack(list(vae_loss(logits, batch, mu, logvar)))
    loss, recon, kl = (sums / len(images)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


class TrainResult(NamedTuple):
    """What ``train`` hands back: the model with its best weights, the per-epoch history and why it stopped."""

    model: VAE
    history: pd.DataFrame
    stop_reason: str
    best_epoch: int
    wall_seconds: float
    environment: dict[str, Any]


def _train_one_epoch(
    model: VAE, optimizer: torch.optim.Optimizer, images: torch.Tensor, config: TrainConfig,
    generator: torch.Generator, description: str, progress: bool,
) -> dict[str, float]:
    """Run one epoch; returns per-image train loss terms. Sums stay on the device to avoid syncs."""
    model.train()
    sums = torch.zeros(3, device=images.device)
    n_batches = math.ceil(len(images) / config.batch_size)
    batches = minibatches(images, config.batch_size, generator)
    with tqdm(batches, total=n_batches, desc=description, leave=False, mininterval=1.0, disable=not progress) as bar:
        for step, batch in enumerate(bar):
            terms = train_step(model, optimizer, to_memory_format(batch, config.channels_last))
            sums += torch.stack(list(terms))
            if step % 50 == 0:  # reading a value syncs the GPU, so only now and then
                per_image = (terms.loss / len(batch)).item(), (terms.kl / len(batch)).item()
                bar.set_postfix(loss=f"{per_image[0]:.1f}", kl=f"{per_image[1]:.1f}")
    loss, recon, kl = (sums / len(images)).tolist()
    return {"train_loss": loss, "train_recon": recon, "train_kl": kl}


def _early_stopping_metric(row: dict[str, float]) -> float:
    """Validation loss when there is a validation set, else the training loss."""
    value = row.get("val_loss")
    return row["train_loss"] if value is None or math.isnan(value) else value


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
    metric = _early_stopping_metric(row)
    if metric < state.best_metric:
        state.best_metric, state.best_epoch, state.bad_epochs = metric, row["epoch"], 0
        return False
    state.bad_epochs += 1
    return state.bad_epochs >= config.patience


def early_stop_reason(config: TrainConfig) -> str:
    """The stop reason recorded when ``early_stopping_step`` fires."""
    if config.stopping == "course_report":
        return f"{EARLY_STOP_PREFIX} (course report's rule): the training loss rose in {config.patience + 1} consecutive epochs"
    return f"{EARLY_STOP_PREFIX}: no improvement for {config.patience} epochs"


def _epoch_line(row: dict[str, float]) -> str:
    """One printed line per epoch, like the PyTorch VAE example."""
    val = "" if math.isnan(row["val_loss"]) else f" | val {row['val_loss']:.2f}"
    return (
        f"epoch {row['epoch']:4d} | train {row['train_loss']:.2f} "
        f"(recon {row['train_recon']:.2f}, KL {row['train_kl']:.2f}){val} | "
        f"{row['epoch_seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
    )


def _restore_best(model: VAE, run_dir: Path, state: TrainingState, config: TrainConfig) -> None:
    """Load the best epoch's weights into ``model`` (kept as is when no epoch finished, or under the course rule)."""
    best_path = run_dir / BEST_CHECKPOINT
    if config.stopping != "course_report" and state.best_epoch > 0 and best_path.exists():
        model.load_state_dict(load_checkpoint(best_path)["model"])


def train(
    config: TrainConfig,
    train_images: torch.Tensor,
    val_images: torch.Tensor | None,
    run_dir: str | os.PathLike,
    resume: bool = True,
    eval_seed: int = 1234,
    progress: bool = True,
    test_images: torch.Tensor | None = None,
    test_every: int = 0,
) -> TrainResult:
    """Train the VAE with early stopping, checkpointing every epoch to ``run_dir``.

    ``run_dir/last.pt`` (every epoch) and ``run_dir/best.pt`` (best early-stopping
    metric) hold everything needed to continue: with ``resume=True`` an interrupted
    run picks up where it stopped and ends with the same weights as an
    uninterrupted one. ``history.csv`` gets one row per epoch. At the end the model
    holds the best weights. With ``test_images`` and ``test_every`` > 0 the history also records
    the test loss every ``test_every`` epochs, for analysis only: it never decides stopping or selection.
    """
    run_dir = project_path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    set_seed(config.seed)
    if device.type == "cpu":
        tune_cpu_runtime()
    model = VAE(config.z_dim).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config, device)
    generator = torch.Generator().manual_seed(config.seed)
    state = TrainingState()

    last_path = run_dir / LAST_CHECKPOINT
    if resume and last_path.exists():
        payload = load_checkpoint(last_path)
        check_architecture(last_path, payload, config.z_dim)
        state = restore_training_state(payload, model, optimizer, generator)
        print(f"Continuing the run in {display_path(run_dir)}: {state.epoch} epochs done, best epoch {state.best_epoch}.")

    train_images = train_images.to(device)
    val_images = val_images.to(device) if val_images is not None else None
    test_images = test_images.to(device) if test_images is not None and test_every > 0 else None
    state.environment = environment_info(device)
    started = time.perf_counter()
    earlier_seconds = state.wall_seconds  # time spent before a resume counts towards the run's wall time
    stop_reason = state.stop_reason if is_final_stop(state.stop_reason) else ""
    while not stop_reason:
        if state.epoch >= config.epochs:
            stop_reason = f"reached epochs={config.epochs}"
            break
        if config.max_minutes is not None and (time.perf_counter() - started) / 60 >= config.max_minutes:
            stop_reason = f"time budget of {config.max_minutes:g} min for this session used (re-running continues)"
            break
        epoch = state.epoch + 1
        tic = time.perf_counter()
        try:
            row = _train_one_epoch(model, optimizer, train_images, config, generator, f"epoch {epoch}", progress)
        except KeyboardInterrupt:
            _restore_best(model, run_dir, state, config)
            print(f"Interrupted during epoch {epoch}. {last_path.name} holds epoch {state.epoch}; run again to continue.")
            raise
        if not all(math.isfinite(v) for v in row.values()):
            stop_reason = (
                f"non-finite loss in epoch {epoch} ({row['train_loss']}); kept the last good "
                f"checkpoint (epoch {state.epoch}); lower the learning rate or check the data"
            )
            print("Training stopped:", stop_reason)
            break
        seconds = time.perf_counter() - tic
        row.update(epoch=epoch, epoch_seconds=seconds, images_per_second=len(train_images) / seconds)
        if val_images is not None:
            val = evaluate(model, val_images, config.batch_size, seed=eval_seed)
            row.update(val_loss=val["loss"], val_recon=val["recon"], val_kl=val["kl"])
        else:
            row.update(val_loss=float("nan"), val_recon=float("nan"), val_kl=float("nan"))
        test = {"loss": math.nan, "recon": math.nan, "kl": math.nan}
        if test_images is not None and epoch % test_every == 0:
            test = evaluate(model, test_images, config.batch_size, seed=eval_seed)
        row.update(test_loss=test["loss"], test_recon=test["recon"], test_kl=test["kl"])
        best_before = state.best_epoch
        if early_stopping_step(state, row, config):
            stop_reason = early_stop_reason(config)
        state.history.append({k: row[k] for k in HISTORY_COLUMNS})
        state.epoch = epoch
        if state.best_epoch != best_before and config.stopping != "course_report":
            save_checkpoint(run_dir / BEST_CHECKPOINT, model, config.to_dict(), state)
        state.stop_reason = stop_reason
        state.wall_seconds = earlier_seconds + (time.perf_counter() - started)
        save_checkpoint(last_path, model, config.to_dict(), state, optimizer, generator)
        write_history(state.history, run_dir / HISTORY_FILE)
        if progress:
            print(_epoch_line(state.history[-1]))
    _restore_best(model, run_dir, state, config)
    wall = earlier_seconds + (time.perf_counter() - started)
    if last_path.exists() and not stop_reason.startswith("non-finite"):
        update_checkpoint_fields(last_path, stop_reason=stop_reason, wall_seconds=wall)
    return TrainResult(model, history_frame(state.history), stop_reason, state.best_epoch, wall, state.environment)


def _run_is_finished(payload: Mapping[str, Any], config: TrainConfig) -> bool:
    """A run is finished when early stopping (or a non-finite loss) ended it, or it reached the asked-for epoch limit."""
    reason = payload.get("stop_reason", "")
    return is_final_stop(reason) or reason.startswith("non-finite") or payload["epoch"] >= config.epochs


def plan_training(config: TrainConfig, run_dir: str | os.PathLike, retrain: bool = False) -> str:
    """Decide what training will do with ``run_dir`` and say it in one line: 'train', 'continue' or 'reuse'.

    Called before any data is loaded. A run folder made with other parameters is
    refused with an error that names every difference and both ways out; an
    unfinished run continues; a finished one with the same configuration is reused.
    """
    run_dir = project_path(run_dir)
    checks.check_bool("retrain", retrain)
    last, weights = run_dir / LAST_CHECKPOINT, run_dir / WEIGHTS_FILE
    source = last if last.exists() else weights if weights.exists() else None
    if retrain or source is None:
        verb = "Retraining from scratch (retrain=True)" if retrain and source else "Training from scratch"
        print(f"{verb} in {display_path(run_dir)}.")
        return "train"
    payload = load_checkpoint(source)
    differences = config_differences(payload["config"], config)
    saved_epochs = payload["config"].get("epochs")
    if payload["epoch"] > config.epochs:
        differences.append(f"epochs: run folder has run {payload['epoch']} epochs, parameters ask for at most {config.epochs}")
    if differences:
        raise ValueError(
            f"the run folder '{display_path(run_dir)}' holds a run with other parameters:\n  - "
            + "\n  - ".join(differences)
            + "\nUse another run_dir for these parameters, or pass retrain=True to train anew in this folder "
            "(its checkpoints are overwritten)."
        )
    if _run_is_finished(payload, config):
        print(
            f"Reusing the finished run in {display_path(run_dir)} (same configuration; {payload['stop_reason']} "
            f"after {payload['epoch']} epochs, best epoch {payload['best_epoch']}). Pass retrain=True to train anew."
        )
        return "reuse"
    if source == weights:
        raise CheckpointError(
            f"'{display_path(weights)}' holds an unfinished run ({payload['epoch']} of {config.epochs} epochs) "
            f"without its resumable state '{LAST_CHECKPOINT}'; restore that file to continue, or pass retrain=True"
        )
    limit = f" (epoch limit now {config.epochs}, was {saved_epochs})" if saved_epochs != config.epochs else ""
    print(f"Continuing the unfinished run in {display_path(run_dir)}: {payload['epoch']} of {config.epochs} epochs done{limit}.")
    return "continue"


def _reuse(run_dir: Path, device: torch.device) -> TrainResult:
    """The finished run's best weights and history, checked against the history.csv beside them."""
    weights, last = run_dir / WEIGHTS_FILE, run_dir / LAST_CHECKPOINT
    if not weights.exists():
        export_weights(run_dir)
    payload = load_checkpoint(weights)
    if last.exists() and load_checkpoint(last)["epoch"] != payload["epoch"]:
        export_weights(run_dir)  # the exported file is older than the run; refresh it
        payload = load_checkpoint(weights)
    history_path = run_dir / HISTORY_FILE
    if history_path.exists():
        check_history_file(history_path, payload["history"])
    else:
        write_history(payload["history"], history_path)
    state = state_from_payload(payload)
    return TrainResult(
        model_from_payload(payload, device), history_frame(state.history), state.stop_reason, state.best_epoch,
        state.wall_seconds, state.environment,
    )


def train_or_reuse(
    config: TrainConfig,
    train_images: torch.Tensor,
    val_images: torch.Tensor | None,
    run_dir: str | os.PathLike,
    retrain: bool = False,
    progress: bool = True,
    plan: str | None = None,
    test_images: torch.Tensor | None = None,
    test_every: int = 0,
) -> TrainResult:
    """Continue an unfinished run, reuse a finished one, or train from scratch, as ``plan_training`` decides.

    The report can thus be rebuilt from the committed ``vae_mnist.pt`` without hours
    of training, while ``retrain=True`` always trains anew. ``plan``: a decision
    ``plan_training`` already made and printed (notebooks make it before loading data).
    """
    run_dir = project_path(run_dir)
    action = plan or plan_training(config, run_dir, retrain)
    if action == "reuse":
        return _reuse(run_dir, resolve_device(config.device))
    result = train(
        config, train_images, val_images, run_dir, resume=action == "continue", progress=progress,
        test_images=test_images, test_every=test_every,
    )
    if result.best_epoch > 0:
        export_weights(run_dir)
    return result


def training_metrics(
    result: TrainResult, config: TrainConfig, test: dict[str, float], n_test_images: int, eval_seed: int
) -> dict[str, Any]:
    """Everything a reader needs to trust the numbers of a run, for metrics.json and the report."""
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
    }

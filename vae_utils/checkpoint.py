"""Checkpoints and the run's other records: what a run folder's files hold, and how they are written, checked and read.

Files are written atomically and read with ``weights_only=True``; metadata stays in plain types.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .model import VAE, count_parameters
from .paths import (
    BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, WEIGHTS_FILE, atomic_path, display_path, project_path, read_json,
)

CHECKPOINT_FORMAT = 1
EARLY_STOP_PREFIX = "early stopping"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or does not fit the requested model; the message says what to do."""


@dataclass
class TrainingState:
    """Bookkeeping that must survive a restart for early stopping to continue exactly."""

    epoch: int = 0
    best_epoch: int = 0
    best_metric: float = math.inf
    bad_epochs: int = 0
    stop_reason: str = ""
    wall_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)  # hardware and versions that trained it


def is_final_stop(stop_reason: str) -> bool:
    """Early stopping ends a run for good; an epoch limit or time budget can be extended on resume."""
    return stop_reason.startswith(EARLY_STOP_PREFIX)


def load_payload(path: str | os.PathLike, what: str, fmt: int, required: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """Load one of the project's ``.pt`` files safely, turning any failure into a CheckpointError that says what to do.

    ``what`` names the kind of file in the message ("checkpoint", "judge classifier");
    a file of another kind or format version, or one missing ``required`` keys, is refused.
    """
    path = Path(path)
    shown = display_path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} '{shown}' does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{what} '{shown}' is unreadable (truncated, or not a file of this project: "
            f"{type(error).__name__}). Delete it to rebuild it, or point to an intact file."
        ) from error
    missing = [key for key in required if not isinstance(payload, dict) or key not in payload]
    if not isinstance(payload, dict) or payload.get("format") != fmt or missing:
        raise CheckpointError(
            f"'{shown}' is not a {what} of this project (format {fmt}"
            + (f"; missing {', '.join(missing)}" if missing else "") + "). Delete it to rebuild it."
        )
    return payload


def architecture(model: VAE) -> dict[str, Any]:
    """A plain description of the model that a checkpoint must match."""
    return {"class": type(model).__name__, "z_dim": model.z_dim, "parameters": count_parameters(model)}


def check_architecture(path: Path, payload: dict[str, Any], z_dim: int) -> None:
    """Refuse a checkpoint of another network with a message instead of a state-dict traceback.

    Layer shapes are compared, not only the parameter count: two different networks
    can have the same total (the course report's and an earlier guess of it did).
    """
    expected_model = VAE(z_dim)
    expected = architecture(expected_model)
    found = payload.get("architecture", {})
    found_shapes = {name: tuple(value.shape) for name, value in payload["model"].items()}
    expected_shapes = {name: tuple(value.shape) for name, value in expected_model.state_dict().items()}
    if found != expected or found_shapes != expected_shapes:
        raise CheckpointError(
            f"checkpoint '{display_path(path)}' holds another network than the VAE asked for ({expected}; "
            "layer shapes differ). Use a run_dir of its own for this model, or pass retrain=True to train "
            "anew in this folder."
        )


def save_checkpoint(
    path: str | os.PathLike,
    model: VAE,
    config: dict[str, Any],
    state: TrainingState,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Write model weights and bookkeeping, plus (for resuming) optimizer and every RNG state, atomically."""
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture(model),
        "config": config,
        "model": model.state_dict(),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_metric": state.best_metric,
        "bad_epochs": state.bad_epochs,
        "stop_reason": state.stop_reason,
        "wall_seconds": state.wall_seconds,
        "history": state.history,
        "environment": state.environment,
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if generator is not None:
        payload["rng"] = {
            "torch": torch.get_rng_state(),
            "shuffle": generator.get_state(),
            "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's payload, checked to be one of this project's VAE checkpoints."""
    path = Path(path)
    payload = load_payload(path, "checkpoint", CHECKPOINT_FORMAT, ("model", "architecture", "config", "history"))
    check_architecture(path, payload, int(payload["architecture"].get("z_dim", 0)))
    return payload


def state_from_payload(payload: dict[str, Any]) -> TrainingState:
    """The bookkeeping part of a checkpoint as a TrainingState."""
    return TrainingState(
        epoch=payload["epoch"],
        best_epoch=payload["best_epoch"],
        best_metric=payload["best_metric"],
        bad_epochs=payload["bad_epochs"],
        stop_reason=payload["stop_reason"],
        wall_seconds=payload.get("wall_seconds", 0.0),
        history=list(payload["history"]),
        environment=dict(payload.get("environment", {})),
    )


def restore_training_state(
    payload: dict[str, Any], model: VAE, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> TrainingState:
    """Put a ``last.pt`` payload's model, optimizer and every RNG back in place; returns the bookkeeping."""
    if "optimizer" not in payload or "rng" not in payload:
        raise CheckpointError("this checkpoint holds weights only and cannot be resumed; pass retrain=True")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    rng = payload["rng"]
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["shuffle"])
    np_state = np.random.get_state()
    np.random.set_state((np_state[0], rng["numpy"].numpy().astype(np.uint32), *np_state[2:]))
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return state_from_payload(payload)


def update_checkpoint_fields(path: Path, **fields: Any) -> None:
    """Rewrite a few plain fields of a checkpoint in place (atomically)."""
    payload = load_checkpoint(path)
    payload.update(fields)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def model_from_payload(payload: dict[str, Any], device: torch.device | str = "cpu") -> VAE:
    """A VAE in eval mode holding a checked payload's weights."""
    model = VAE(int(payload["architecture"]["z_dim"]))
    model.load_state_dict(payload["model"])  # shapes were checked by load_checkpoint
    return model.to(device).eval()


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Load a VAE for analysis from any checkpoint of this project; returns (model in eval mode, metadata)."""
    payload = load_checkpoint(path)
    meta = {k: v for k, v in payload.items() if k not in ("model", "optimizer", "rng")}
    return model_from_payload(payload, device), meta


def resolve_checkpoint(run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> Path:
    """The model file to analyse: ``checkpoint`` if given, else the run's exported weights."""
    path = project_path(checkpoint) if checkpoint else project_path(run_dir) / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no trained model at '{display_path(path)}': run notebooks/03_train.ipynb to the end first "
            "(with the same run_dir), or pass checkpoint= the path of a trained model"
        )
    return path


def export_weights(run_dir: str | os.PathLike) -> Path:
    """Write the small file a finished run keeps: the best weights with the run's full history.

    Takes the weights from ``best.pt`` (from ``last.pt`` under the course report's
    stopping rule, which keeps the last weights) and the bookkeeping (all epochs,
    stop reason, wall time) from ``last.pt``, dropping optimizer and RNG state.
    """
    run_dir = project_path(run_dir)
    last = load_checkpoint(run_dir / LAST_CHECKPOINT)
    keeps_last = last["config"].get("stopping") == "course_report"
    best = last if keeps_last else load_checkpoint(run_dir / BEST_CHECKPOINT)
    payload = {k: v for k, v in last.items() if k not in ("optimizer", "rng", "model")}
    payload["model"] = {k: v.contiguous() for k, v in best["model"].items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        torch.save(payload, tmp)
    return run_dir / WEIGHTS_FILE


def load_module_weights(module: nn.Module, payload: dict[str, Any], path: Path, what: str) -> None:
    """Load a state dict, turning a shape or key mismatch into a CheckpointError naming the file."""
    try:
        module.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{what} '{display_path(path)}' does not fit {type(module).__name__} ({error}); delete it to rebuild it"
        ) from error


HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl",
    "epoch_seconds", "images_per_second", "test_loss", "test_recon", "test_kl",
]


def history_frame(history: list[dict[str, float]]) -> pd.DataFrame:
    """Per-epoch history as a DataFrame with a stable column order."""
    return pd.DataFrame(history, columns=HISTORY_COLUMNS)


def write_history(history: list[dict[str, float]], path: str | os.PathLike) -> None:
    """Write the whole history CSV atomically (rewritten each epoch, so it always matches last.pt)."""
    with atomic_path(path) as tmp:
        history_frame(history).to_csv(tmp, index=False)


def check_history_file(path: Path, history: list[dict[str, float]]) -> None:
    """Refuse a history.csv that is unreadable or disagrees with its checkpoint, instead of plotting wrong curves."""
    try:
        found = pd.read_csv(path)
    except Exception as error:
        raise CheckpointError(
            f"'{display_path(path)}' is unreadable ({type(error).__name__}); delete it and run "
            "notebooks/03_train.ipynb again, which rewrites it from the checkpoint"
        ) from error
    expected = history_frame(history)
    same = list(found.columns) == HISTORY_COLUMNS and len(found) == len(expected) and np.allclose(
        found[HISTORY_COLUMNS[:7]].to_numpy(float), expected[HISTORY_COLUMNS[:7]].to_numpy(float),
        rtol=1e-6, equal_nan=True,
    )
    if not same:
        raise CheckpointError(
            f"'{display_path(path)}' ({len(found)} rows) disagrees with the checkpoint beside it "
            f"({len(expected)} epochs): it belongs to another run. Delete it and run notebooks/03_train.ipynb "
            "again, which rewrites it from the checkpoint"
        )


def load_trained_run(
    run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> tuple[VAE, dict[str, Any], dict[str, Any]]:
    """The trained model, its checkpoint metadata and the run's metrics.json, checked against each other.

    Analysis notebooks start here: a metrics.json from another run (other epoch
    count, best epoch or stop reason) would put wrong facts beside right figures.
    """
    path = resolve_checkpoint(run_dir, checkpoint)
    model, meta = load_model(path, device)
    metrics_path = path.parent / METRICS_FILE
    if not metrics_path.exists():
        raise FileNotFoundError(
            f"'{display_path(metrics_path)}' is missing: the analysis reports the run's test loss and hardware "
            "from it. Run notebooks/03_train.ipynb with this run_dir first (it reuses a finished run)"
        )
    metrics = read_json(metrics_path, "run metrics file")
    found = {key: metrics.get(key) for key in ("epochs_run", "best_epoch", "stop_reason")}
    expected = {"epochs_run": meta["epoch"], "best_epoch": meta["best_epoch"], "stop_reason": meta["stop_reason"]}
    if found != expected:
        raise CheckpointError(
            f"'{display_path(metrics_path)}' describes another run ({found}) than the model beside it "
            f"({expected}); run notebooks/03_train.ipynb again to rewrite it"
        )
    return model, meta, metrics

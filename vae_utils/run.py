"""The run folder: every file a training run and its analysis keep, named, written, checked and read here alone.

Notebook 03 trains into it, notebook 04 analyses it, notebook 05 explores it; all of them ask ``RunFolder``.
Files are written atomically and read with ``weights_only=True``; metadata stays in plain types.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Protocol

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, and no guard against two trainings of one folder
    fcntl = None  # type: ignore[assignment]

import numpy as np
import pandas as pd
import torch
from torch import nn

from .model import MODELS, VAE, count_parameters
from .paths import atomic_path, display_path, project_path, read_json, write_json

__all__ = ["CheckpointError", "Plan", "RunFolder", "RunRecord", "Stop", "TrainedRun", "TrainingState"]

CHECKPOINT_FORMAT = 1
JUDGE_FORMAT = 1
SAMPLERS_FORMAT = 1
HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl",
    "epoch_seconds", "images_per_second", "test_loss", "test_recon", "test_kl",
]
_COMPARED_COLUMNS = HISTORY_COLUMNS[:7]  # timings differ between a checkpoint and a CSV only by rounding
_RESULT_RTOL = 1e-4  # a re-derived number closer than this to the stored one is the same result (CPU rounding)


class CheckpointError(RuntimeError):
    """A run-folder file is unreadable or does not fit what is asked of it; the message says what to do."""


class Stop(enum.Enum):
    """Why a run stopped. Each value is the start of the recorded reason, so a reason read back maps to its kind."""

    EARLY = "early stopping"
    EPOCH_LIMIT = "reached epochs"
    TIME_BUDGET = "time budget"
    NON_FINITE = "non-finite loss"

    @property
    def final(self) -> bool:
        """Early stopping and a non-finite loss end a run for good; a limit or a budget can be extended."""
        return self in (Stop.EARLY, Stop.NON_FINITE)

    @staticmethod
    def ended(stop: Stop | None) -> bool:
        """Whether a run that stopped so has results to analyse: every stop but the time budget's pause, whose
        weights training moves on from (None: not stopped yet). The one test behind ``RunFolder.finished`` and
        ``RunFolder.read_back``."""
        return stop not in (None, Stop.TIME_BUDGET)

    def reason(self, *, patience: int = 0, stopping: str = "validation", epochs: int = 0, minutes: float = 0.0,
               epoch: int = 0, loss: float = math.nan, kept_epoch: int = 0) -> str:
        """The reason recorded in the run folder and shown to the reader, in words."""
        if self is Stop.EARLY and stopping == "course_report":
            return f"{self.value} (course report's rule): the training loss rose in {patience + 1} consecutive epochs"
        if self is Stop.EARLY:
            return f"{self.value}: no improvement for {patience} epochs"
        if self is Stop.EPOCH_LIMIT:
            return f"{self.value}={epochs}"
        if self is Stop.TIME_BUDGET:
            return f"{self.value} of {minutes:g} min for this session used (re-running continues)"
        return (f"{self.value} in epoch {epoch} ({loss}); kept the last good checkpoint (epoch {kept_epoch}); "
                "lower the learning rate or check the data")

    @classmethod
    def of(cls, reason: str) -> Stop | None:
        """The kind of a recorded reason (None while a run has not stopped)."""
        return next((kind for kind in cls if reason.startswith(kind.value)), None)


class Plan(enum.Enum):
    """What training does with a run folder, decided once (``RunFolder.plan``) before any data is loaded."""

    TRAIN = "train"
    CONTINUE = "continue"
    REUSE = "reuse"


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

    @property
    def stop(self) -> Stop | None:
        """The kind of ``stop_reason``."""
        return Stop.of(self.stop_reason)

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch history as a DataFrame with the run folder's column order."""
        return pd.DataFrame(self.history, columns=HISTORY_COLUMNS)


class Config(Protocol):
    """What the run folder needs of a training configuration (``training.TrainConfig``)."""

    epochs: int
    z_dim: int

    def to_dict(self) -> dict[str, Any]: ...

    def differences(self, saved: Mapping[str, Any]) -> list[str]: ...


class TrainedRun(NamedTuple):
    """A finished run as the analysis reads it: the model with its best weights, its bookkeeping and its metrics."""

    model: VAE
    state: TrainingState
    metrics: dict[str, Any]


class RunRecord(NamedTuple):
    """A run folder's results read back, the one type every comparison and the paper read: its name, its
    ``metrics.json`` (None until training has finished), its ``latent_metrics.json`` (None until notebook 04 has
    analysed it) and its per-epoch history as it stands. ``TrainedRun`` is the other way in: the network itself."""

    folder: str
    metrics: dict[str, Any] | None
    latent: dict[str, Any] | None
    history: pd.DataFrame

    @property
    def seed(self) -> int | None:
        """The training seed (initialisation and batch order), once the run has finished."""
        return None if self.metrics is None else int(self.metrics["config"]["seed"])

    @property
    def analysed(self) -> bool:
        """Finished and analysed by notebook 04: its results can be set beside another run's."""
        return self.metrics is not None and self.latent is not None


def _architecture(model: VAE) -> dict[str, Any]:
    """A plain description of the model that a checkpoint must match."""
    return {"class": type(model).__name__, "z_dim": model.z_dim, "parameters": count_parameters(model)}


def _network(architecture: Mapping[str, Any]) -> VAE:
    """An untrained network of the class a checkpoint names (the VAE or its conditional twin), or the VAE."""
    classes = {cls.__name__: cls for cls in MODELS.values()}
    return classes.get(architecture.get("class"), VAE)(int(architecture.get("z_dim", 0) or 1))


def _same_result(old: Any, new: Any) -> bool:
    """Equal up to CPU rounding (relative ``_RESULT_RTOL``), so that re-deriving a result does not rewrite its file."""
    if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor):
        return old.shape == new.shape and torch.allclose(old.double(), new.double(), rtol=_RESULT_RTOL, atol=1e-9)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return old.keys() == new.keys() and all(_same_result(old[key], new[key]) for key in old)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(_same_result(a, b) for a, b in zip(old, new))
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        return math.isclose(old, new, rel_tol=_RESULT_RTOL, abs_tol=1e-9) or (old != old and new != new)
    return old == new


def _plain(data: Any) -> Any:
    """``data`` as JSON would read it back (numpy numbers as Python numbers, tuples as lists)."""
    return json.loads(json.dumps(data, default=lambda value: value.tolist()))


class RunFolder:
    """One folder holds a whole run and everything derived from it; this class is the only one that knows its files."""

    LAST = "last.pt"  # resumable state, written every epoch
    BEST = "best.pt"  # weights of the best validation epoch
    WEIGHTS = "vae_mnist.pt"  # the finished run: kept weights plus the whole history, no optimizer
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    JUDGE = "judge_cnn.pt"
    SECOND_JUDGE = "judge_mlp.pt"  # the second opinion: another family of classifier, never used for selection
    SAMPLERS = "samplers.pt"
    LATENT_METRICS = "latent_metrics.json"
    COMPARISONS = "comparisons.json"  # notebook 05's results beside the main analysis
    LABEL_BUDGET = "label_budget.json"  # notebook 06's label-budget study of the main run
    GENERATED = "generated_digits.npz"
    LIKELIHOOD = "likelihood.json"  # the importance-weighted estimate of these weights, with what produced it
    EXECUTIONS = "executions.json"  # which executed notebooks are up to date, and by what key (reuse.py)
    # What each notebook writes here: its outputs, and the inputs of the notebooks after it.
    WRITTEN_BY = {"03_train": (WEIGHTS, HISTORY, METRICS),
                  "04_latent_space": (JUDGE, SECOND_JUDGE, SAMPLERS, LATENT_METRICS, GENERATED, LIKELIHOOD),
                  "05_comparisons": (COMPARISONS,),
                  "06_label_budget": (LABEL_BUDGET,)}

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = project_path(path)

    def __repr__(self) -> str:
        return f"RunFolder('{display_path(self.path)}')"

    def file(self, name: str) -> Path:
        """The path of one of the folder's files (``RunFolder.METRICS`` and the like)."""
        return self.path / name

    @property
    def shown(self) -> str:
        """The folder as printed: project-relative."""
        return display_path(self.path)

    @contextlib.contextmanager
    def training_lock(self) -> Iterator[None]:
        """Hold the folder for one training process; a second one (two queues given the same run) is refused.

        An advisory lock on the folder itself: it writes no file, and the system releases it when the process
        ends, however it ends, so a killed run never leaves the folder locked.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDONLY)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise RuntimeError(f"run folder '{self.shown}' is being trained by another process: wait for "
                                       "it to finish (it continues the same run), or give this one another "
                                       "run_dir") from None
            yield
        finally:
            os.close(handle)  # closing the descriptor releases the lock

    # --- reading .pt files -------------------------------------------------------------------------------------

    def _load(self, name: str, what: str, fmt: int, required: tuple[str, ...]) -> dict[str, Any]:
        """Load one of the folder's ``.pt`` files safely; any failure becomes a CheckpointError that says what to do."""
        path = self.file(name)
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

    def _load_checkpoint(self, name: str) -> dict[str, Any]:
        """A VAE checkpoint's payload, its layer shapes checked against the network it claims to hold.

        Shapes are compared, not only the parameter count: two different networks can
        have the same total (the course report's and an earlier guess of it did).
        """
        payload = self._load(name, "checkpoint", CHECKPOINT_FORMAT, ("model", "architecture", "config", "history"))
        expected_model = _network(payload["architecture"])
        expected_shapes = {key: tuple(value.shape) for key, value in expected_model.state_dict().items()}
        found_shapes = {key: tuple(value.shape) for key, value in payload["model"].items()}
        if payload["architecture"] != _architecture(expected_model) or found_shapes != expected_shapes:
            raise CheckpointError(
                f"checkpoint '{display_path(self.file(name))}' holds another network than this project's VAE "
                f"({_architecture(expected_model)}; layer shapes differ). Use a run_dir of its own for this model, "
                "or pass retrain=True to train anew in this folder."
            )
        return payload

    @staticmethod
    def _state(payload: Mapping[str, Any]) -> TrainingState:
        """The bookkeeping part of a checkpoint."""
        return TrainingState(
            epoch=payload["epoch"], best_epoch=payload["best_epoch"], best_metric=payload["best_metric"],
            bad_epochs=payload["bad_epochs"], stop_reason=payload["stop_reason"],
            wall_seconds=payload.get("wall_seconds", 0.0), history=list(payload["history"]),
            environment=dict(payload.get("environment", {})),
        )

    @staticmethod
    def _model(payload: Mapping[str, Any], device: torch.device | str = "cpu") -> VAE:
        """A VAE in eval mode holding a checked payload's weights, channels-last (faster kernels, same function)."""
        model = _network(payload["architecture"])
        model.load_state_dict(payload["model"])
        return model.to(device, memory_format=torch.channels_last).eval()

    # --- the plan ----------------------------------------------------------------------------------------------

    def plan(self, config: Config, retrain: bool = False) -> Plan:
        """Decide what training does with this folder and say it in one line: train, continue or reuse.

        A folder made with other parameters is refused with an error that names every
        difference and both ways out; an unfinished run continues; a finished one with
        the same configuration is reused.
        """
        last, weights = self.file(self.LAST), self.file(self.WEIGHTS)
        source = self.LAST if last.exists() else self.WEIGHTS if weights.exists() else None
        if retrain or source is None:
            verb = "Retraining from scratch (retrain=True)" if retrain and source else "Training from scratch"
            print(f"{verb} in {self.shown}.")
            return Plan.TRAIN
        payload = self._load_checkpoint(source)
        differences = config.differences(payload["config"])
        if payload["epoch"] > config.epochs:
            differences.append(f"epochs: run folder has run {payload['epoch']} epochs, "
                               f"parameters ask for at most {config.epochs}")
        if differences:
            raise ValueError(
                f"the run folder '{self.shown}' holds a run with other parameters:\n  - " + "\n  - ".join(differences)
                + "\nUse another run_dir for these parameters, or pass retrain=True to train anew in this folder "
                "(its checkpoints are overwritten)."
            )
        state = self._state(payload)
        if (state.stop and state.stop.final) or state.epoch >= config.epochs:
            print(f"Reusing the finished run in {self.shown} (same configuration; {state.stop_reason} after "
                  f"{state.epoch} epochs, best epoch {state.best_epoch}). Pass retrain=True to train anew.")
            return Plan.REUSE
        if source == self.WEIGHTS:
            raise CheckpointError(
                f"'{display_path(weights)}' holds an unfinished run ({state.epoch} of {config.epochs} epochs) "
                f"without its resumable state '{self.LAST}'; restore that file to continue, or pass retrain=True"
            )
        saved_epochs = payload["config"].get("epochs")
        limit = f" (epoch limit now {config.epochs}, was {saved_epochs})" if saved_epochs != config.epochs else ""
        print(f"Continuing the unfinished run in {self.shown}: {state.epoch} of {config.epochs} epochs done{limit}.")
        return Plan.CONTINUE

    # --- training: resume, every epoch, the end ---------------------------------------------------------------

    def resume(self, model: VAE, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> TrainingState:
        """Put ``last.pt``'s model, optimizer and every random-number state back in place; returns the bookkeeping."""
        payload = self._load_checkpoint(self.LAST)
        if payload["architecture"]["z_dim"] != model.z_dim:
            raise CheckpointError(f"'{display_path(self.file(self.LAST))}' holds a VAE with z_dim "
                                  f"{payload['architecture']['z_dim']}, not {model.z_dim}; use another run_dir")
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
        return self._state(payload)

    def _save_pt(self, name: str, payload: Mapping[str, Any]) -> None:
        """Write one of the folder's ``.pt`` files atomically, through a file handle.

        Given a path, ``torch.save`` names the archive inside after the (temporary) file,
        so the same payload would give different bytes at every write.
        """
        with atomic_path(self.file(name)) as tmp, open(tmp, "wb") as handle:
            torch.save(dict(payload), handle)

    def _save_checkpoint(self, name: str, model: VAE, config: Config, state: TrainingState,
                         optimizer: torch.optim.Optimizer | None = None,
                         generator: torch.Generator | None = None) -> None:
        """Write weights and bookkeeping (plus, to resume, optimizer and every RNG state) atomically."""
        payload: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT, "architecture": _architecture(model), "config": config.to_dict(),
            "model": {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()},
            "epoch": state.epoch, "best_epoch": state.best_epoch, "best_metric": state.best_metric,
            "bad_epochs": state.bad_epochs, "stop_reason": state.stop_reason, "wall_seconds": state.wall_seconds,
            "history": state.history, "environment": state.environment,
        }
        if optimizer is not None:
            payload["optimizer"] = optimizer.state_dict()
        if generator is not None:
            payload["rng"] = {
                "torch": torch.get_rng_state(), "shuffle": generator.get_state(),
                "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            }
        self._save_pt(name, payload)

    def save_epoch(self, model: VAE, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                   config: Config, state: TrainingState, new_best: bool) -> None:
        """The end of an epoch on disk: ``best.pt`` when it is a new best, ``last.pt`` and ``history.csv`` always."""
        if new_best:
            self._save_checkpoint(self.BEST, model, config, state)
        self._save_checkpoint(self.LAST, model, config, state, optimizer, generator)
        with atomic_path(self.file(self.HISTORY)) as tmp:
            state.history_frame().to_csv(tmp, index=False)

    def best_weights(self) -> dict[str, torch.Tensor]:
        """The best epoch's weights, to put back into the model when training ends."""
        return self._load_checkpoint(self.BEST)["model"]

    def export(self, model: VAE, config: Config, state: TrainingState) -> None:
        """Write the small file a finished run keeps: ``model``'s weights with the whole history, no optimizer."""
        self._save_checkpoint(self.WEIGHTS, model, config, state)

    # --- the trained run, for analysis -------------------------------------------------------------------------

    def load_run(self, device: torch.device | str = "cpu") -> tuple[VAE, TrainingState]:
        """The exported weights and their bookkeeping; ``history.csv`` is checked against them (written if missing)."""
        payload = self._load_checkpoint(self.WEIGHTS)
        state = self._state(payload)
        self._check_history(state)
        return self._model(payload, device), state

    @property
    def finished(self) -> bool:
        """Whether training here has ended (early stopping, the epoch limit or a non-finite loss) and left its
        metrics: what an analysis needs. A run paused by its time budget is not finished."""
        state = self.training_state()
        return state is not None and Stop.ended(state.stop) and self.has(self.METRICS)

    def training_state(self) -> TrainingState | None:
        """The bookkeeping of the exported run (how far it got, why it stopped), or None without one."""
        return self._state(self._load_checkpoint(self.WEIGHTS)) if self.has(self.WEIGHTS) else None

    def load_model(self, device: torch.device | str = "cpu") -> VAE:
        """The trained VAE in eval mode (the explorer's and the benchmark's way in)."""
        return self._model(self._load_checkpoint(self.WEIGHTS), device)

    def read_history(self) -> pd.DataFrame | None:
        """The per-epoch ``history.csv`` as it stands (also while a run is still going), or None if there is none.

        For analysis of a run that may not have finished (the course-protocol run); a finished run's history is
        checked against its weights by ``load_trained``.
        """
        path = self.file(self.HISTORY)
        if not path.is_file():
            return None
        found = pd.read_csv(path)
        if list(found.columns) != HISTORY_COLUMNS:
            raise CheckpointError(f"'{display_path(path)}' has columns {list(found.columns)}, not a history of this "
                                  "project; run notebooks/03_train.ipynb again to rewrite it")
        return found

    def read_back(self) -> RunRecord:
        """The run's results as far as they go: metrics only once it has ended (``Stop.ended``; a run its time budget
        paused has a metrics.json too, but of weights that training moves on from), the analysis once both exist."""
        history = self.read_history()
        metrics = self.read_metrics() if self.has(self.METRICS) else None
        if metrics is not None and not Stop.ended(Stop.of(metrics.get("stop_reason", ""))):
            metrics = None  # paused by its time budget (or never stopped): training moves on from these weights
        latent = self.read_latent_metrics() if metrics is not None and self.has(self.LATENT_METRICS) else None
        return RunRecord(self.shown, metrics, latent, history if history is not None else pd.DataFrame())

    def has(self, name: str) -> bool:
        """Whether one of the folder's files (``RunFolder.METRICS`` and the like) exists."""
        return self.file(name).is_file()

    def _check_history(self, state: TrainingState) -> None:
        """Refuse a history.csv that is unreadable or disagrees with the weights file, rather than plot wrong curves."""
        path = self.file(self.HISTORY)
        expected = state.history_frame()
        if not path.exists():
            with atomic_path(path) as tmp:
                expected.to_csv(tmp, index=False)
            return
        try:
            found = pd.read_csv(path)
        except Exception as error:
            raise CheckpointError(f"'{display_path(path)}' is unreadable ({type(error).__name__}); delete it and run "
                                  "notebooks/03_train.ipynb again, which rewrites it from the checkpoint") from error
        same = list(found.columns) == HISTORY_COLUMNS and len(found) == len(expected) and np.allclose(
            found[_COMPARED_COLUMNS].to_numpy(float), expected[_COMPARED_COLUMNS].to_numpy(float),
            rtol=1e-6, equal_nan=True,
        )
        if not same:
            raise CheckpointError(
                f"'{display_path(path)}' ({len(found)} rows) disagrees with the checkpoint beside it "
                f"({len(expected)} epochs): it belongs to another run. Delete it and run notebooks/03_train.ipynb "
                "again, which rewrites it from the checkpoint"
            )

    def load_trained(self, device: torch.device | str = "cpu") -> TrainedRun:
        """The trained model, its bookkeeping and the run's metrics.json, checked against each other.

        Analysis starts here: a metrics.json from another run (other epoch count, best
        epoch or stop reason) would put wrong facts beside right figures.
        """
        if not self.file(self.WEIGHTS).exists():
            raise FileNotFoundError(
                f"no trained model at '{display_path(self.file(self.WEIGHTS))}': run notebooks/03_train.ipynb to "
                "the end first (with the same run_dir)"
            )
        model, state = self.load_run(device)
        metrics = self.read_metrics()
        found = {key: metrics.get(key) for key in ("epochs_run", "best_epoch", "stop_reason")}
        expected = {"epochs_run": state.epoch, "best_epoch": state.best_epoch, "stop_reason": state.stop_reason}
        if found != expected:
            raise CheckpointError(
                f"'{display_path(self.file(self.METRICS))}' describes another run ({found}) than the model beside "
                f"it ({expected}); run notebooks/03_train.ipynb again to rewrite it"
            )
        return TrainedRun(model, state, metrics)

    # --- executed notebooks: what produced them, for reuse -------------------------------------------------------

    def files_written_by(self, notebooks: Iterable[str]) -> list[Path]:
        """The existing files that ``notebooks`` (e.g. ['03_train']) write into this folder, in a fixed order."""
        names = [name for notebook in notebooks for name in self.WRITTEN_BY.get(notebook, ())]
        return [self.file(name) for name in names if self.has(name)]

    def _read_optional(self, name: str) -> dict[str, Any] | None:
        """A bookkeeping JSON file of the folder (execution records, the kept likelihood), or None when it is missing
        or unreadable: then it is simply made again, never an error."""
        path = self.file(name)
        try:
            return read_json(path, name) if path.is_file() else None
        except ValueError:
            return None

    def read_execution(self, notebook: str) -> dict[str, Any] | None:
        """The record of ``notebook``'s last complete execution on this folder, or None (missing or unreadable)."""
        record = (self._read_optional(self.EXECUTIONS) or {}).get(notebook)
        return record if isinstance(record, dict) else None

    def write_execution(self, notebook: str, record: Mapping[str, Any]) -> None:
        """Record a complete execution of ``notebook`` (key and outputs), keeping the other notebooks' records."""
        records = self._read_optional(self.EXECUTIONS) or {}
        records[notebook] = _plain(record)
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(dict(sorted(records.items())), self.file(self.EXECUTIONS))

    # --- results: metrics, judge, samplers, generated digits, latent metrics ------------------------------------

    def _write_result(self, name: str, data: Mapping[str, Any]) -> bool:
        """Write a JSON result unless the file already holds the same one; True when written.

        A re-derived number differs from the stored one in its last digits on another CPU;
        rewriting the file for that would leave a modified checkout after a mere reuse.
        """
        path = self.file(name)
        if path.exists():
            try:
                if _same_result(read_json(path, name), _plain(data)):
                    return False
            except ValueError:
                pass  # unreadable: replace it
        write_json(dict(data), path)
        return True

    def _read_result(self, name: str, writer: str) -> dict[str, Any]:
        """A JSON result, or an error naming the notebook that writes it."""
        path = self.file(name)
        if not path.exists():
            raise FileNotFoundError(
                f"'{display_path(path)}' is missing: run {writer} with run_dir='{self.shown}' first")
        return read_json(path, name)

    def write_metrics(self, metrics: Mapping[str, Any]) -> bool:
        """The training run's ``metrics.json`` (built by ``training.training_metrics``)."""
        return self._write_result(self.METRICS, metrics)

    def read_metrics(self) -> dict[str, Any]:
        """The training run's ``metrics.json``."""
        return self._read_result(self.METRICS, "notebooks/03_train.ipynb")

    def write_latent_metrics(self, results: Mapping[str, Any]) -> bool:
        """The analysis's ``latent_metrics.json`` (built by ``selection.latent_metrics``)."""
        return self._write_result(self.LATENT_METRICS, results)

    def read_latent_metrics(self) -> dict[str, Any]:
        """The analysis's ``latent_metrics.json``."""
        return self._read_result(self.LATENT_METRICS, "notebooks/04_latent_space.ipynb")

    def write_comparisons(self, results: Mapping[str, Any]) -> bool:
        """Keep notebook 05's results (``comparisons.comparison_results``); True when written."""
        return self._write_result(self.COMPARISONS, results)

    def read_comparisons(self) -> dict[str, Any]:
        """Notebook 05's results, or a clear error naming the notebook that writes them."""
        return self._read_result(self.COMPARISONS, "notebooks/05_comparisons.ipynb")

    def write_label_budget(self, results: Mapping[str, Any]) -> bool:
        """Keep notebook 06's results (``label_budget.label_budget_results``); True when written."""
        return self._write_result(self.LABEL_BUDGET, results)

    def read_label_budget(self) -> dict[str, Any]:
        """Notebook 06's results, or a clear error naming the notebook that writes them."""
        return self._read_result(self.LABEL_BUDGET, "notebooks/06_label_budget.ipynb")

    def read_likelihood(self) -> dict[str, Any] | None:
        """The kept importance-weighted estimate with its key (``latent.kept_importance_weighted_nll``), or None
        when there is none or it cannot be read (then it is estimated again)."""
        return self._read_optional(self.LIKELIHOOD)

    def write_likelihood(self, record: Mapping[str, Any]) -> bool:
        """Keep an importance-weighted estimate with the key of what produced it."""
        return self._write_result(self.LIKELIHOOD, record)

    def save_judge(self, judge: nn.Module, name: str = JUDGE, **facts: Any) -> None:
        """A judge's weights with plain facts (test accuracy, epochs, seed), so every notebook uses the same judge.

        ``name``: ``JUDGE`` (the CNN that scores and selects) or ``SECOND_JUDGE`` (the MLP that only re-scores).
        """
        weights = {key: value.detach().cpu() for key, value in judge.state_dict().items()}
        payload = {"format": JUDGE_FORMAT, "model": weights, **facts}
        self._save_pt(name, payload)

    def has_judge(self, name: str = JUDGE) -> bool:
        """Whether a judge (``JUDGE`` or ``SECOND_JUDGE``) was trained and saved here."""
        return self.file(name).exists()

    def load_judge(self, judge: nn.Module, name: str = JUDGE) -> dict[str, Any]:
        """Fill an untrained judge of the right class with the saved weights of ``name``; returns the saved facts."""
        payload = self._load(name, "judge classifier", JUDGE_FORMAT, ("model",))
        try:
            judge.load_state_dict(payload["model"])
        except (RuntimeError, KeyError, TypeError) as error:
            raise CheckpointError(f"judge classifier '{display_path(self.file(name))}' does not fit "
                                  f"{type(judge).__name__} ({error}); delete it to rebuild it") from error
        return {key: value for key, value in payload.items() if key not in ("format", "model")}

    def save_samplers(self, states: Mapping[str, Mapping[str, Any]], temperature: float) -> None:
        """The chosen sampler (and any others named in ``states``) as plain tensors, with the chosen temperature.

        The explorer draws digits from these without refitting k-means or the mixture.
        """
        payload = {"format": SAMPLERS_FORMAT, "temperature": float(temperature),
                   "samplers": {name: dict(state) for name, state in states.items()}}
        try:
            if _same_result(self.load_samplers(), (payload["samplers"], payload["temperature"])):
                return  # a refit that differs only in float rounding leaves the committed file alone
        except CheckpointError:
            pass  # missing or unreadable: write it
        self._save_pt(self.SAMPLERS, payload)

    def load_samplers(self) -> tuple[dict[str, dict[str, Any]], float]:
        """The saved samplers' plain states by name, and the chosen temperature."""
        payload = self._load(self.SAMPLERS, "saved sampler file", SAMPLERS_FORMAT, ("samplers", "temperature"))
        return payload["samplers"], float(payload["temperature"])

    def save_generated(self, images: torch.Tensor) -> bool:
        """Generated digits as ``images`` float32 [10, n, 28, 28] in [0, 1], for judging without the model.

        Not rewritten when it already holds the same images (True when written).
        """
        array = images.detach().cpu().float().clamp(0, 1).reshape(*images.shape[:2], 28, 28).numpy()
        path = self.file(self.GENERATED)
        if path.exists():
            try:
                if np.array_equal(self.load_generated().squeeze(2).numpy(), array):
                    return False
            except ValueError:
                pass
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:  # given a name, numpy would append '.npz' to the temporary name
                np.savez_compressed(handle, images=array)
        return True

    def load_generated(self) -> torch.Tensor:
        """The generated digits as [10, n, 1, 28, 28], refusing a file of another shape or range."""
        path = self.file(self.GENERATED)
        shown, fix = display_path(path), "delete it and run notebooks/04_latent_space.ipynb again"
        try:
            with np.load(path) as data:
                images = data["images"]
        except Exception as error:
            raise ValueError(f"'{shown}' is not a generated-digits file ({type(error).__name__}); {fix}") from error
        if images.ndim != 4 or images.shape[0] != 10 or images.shape[2:] != (28, 28):
            raise ValueError(f"'{shown}' holds images of shape {list(images.shape)}, expected [10, n, 28, 28] "
                             f"(row d = digit d); {fix}")
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise ValueError(f"'{shown}' holds values outside [0, 1]; {fix}")
        return torch.from_numpy(images).float().unsqueeze(2)

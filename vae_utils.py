"""Shared logic for the MNIST convolutional VAE course report.

The notebooks in ``notebooks/`` stay thin: they hold the narrative and call the
functions here. Sections follow the flow of data through the project:
data -> model -> loss -> training -> checkpoints -> evaluation -> latent space
-> judge classifier -> plotting.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import platform
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # text bars: work in terminals, papermill and JupyterLab alike

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent
DATA_DIR_ENV = "MNIST_DATA_DIR"
DEFAULT_DATA_DIR = "data"

# (file name, IDX magic number, item count, exact size in bytes) of the four
# published MNIST files; checking them up front turns a truncated download into
# a readable message instead of a reshape traceback deep inside torchvision.
MNIST_FILES = {
    True: (
        ("train-images-idx3-ubyte", 2051, 60_000, 47_040_016),
        ("train-labels-idx1-ubyte", 2049, 60_000, 60_008),
    ),
    False: (
        ("t10k-images-idx3-ubyte", 2051, 10_000, 7_840_016),
        ("t10k-labels-idx1-ubyte", 2049, 10_000, 10_008),
    ),
}


class MNISTDataError(RuntimeError):
    """MNIST could not be found, downloaded or read; the message says how to fix it."""


class MNISTTensors(NamedTuple):
    """A preloaded MNIST split: images as float in [0, 1], shape [N, 1, 28, 28], and labels [N]."""

    images: torch.Tensor
    labels: torch.Tensor


def project_path(path: str | os.PathLike) -> Path:
    """Resolve a relative path against the project root, so notebooks, tests and papermill agree.

    Jupyter, nbval and papermill each start kernels in a different working
    directory; anchoring relative paths at the project root makes ``figures``
    mean the same folder for all of them.
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Pick the MNIST folder: the argument, else $MNIST_DATA_DIR, else ``data/``.

    Returns the folder and whether torchvision may download into it. Only the
    default folder downloads, so that a folder the user named is never written to
    behind their back.
    """
    if data_dir not in (None, ""):
        return project_path(data_dir), False
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return project_path(env), False
    return project_path(DEFAULT_DATA_DIR), True


def _check_idx_file(path: Path, magic: int, count: int, size: int) -> None:
    """Raise MNISTDataError unless ``path`` is a complete IDX file with the expected header."""
    if not path.is_file():
        raise FileNotFoundError(path)
    actual = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(8)
    found_magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    found_count = int.from_bytes(header[4:8], "big") if len(header) >= 8 else None
    if actual != size or found_magic != magic or found_count != count:
        raise MNISTDataError(
            f"MNIST file '{path}' is truncated or corrupt: {actual:,} bytes, header "
            f"(magic={found_magic}, count={found_count}); expected {size:,} bytes, "
            f"magic={magic}, count={count:,}. Delete it and download it again, or set "
            f"{DATA_DIR_ENV} to a folder holding intact MNIST/raw/*-ubyte files."
        )


def _missing_files(root: Path, train: bool) -> list[Path]:
    """List the raw IDX files of one split that are absent under ``root/MNIST/raw``."""
    raw = root / "MNIST" / "raw"
    return [raw / name for name, *_ in MNIST_FILES[train] if not (raw / name).is_file()]


def _missing_data_message(root: Path, reason: str) -> str:
    """One message that names the folder and both ways out."""
    return (
        f"MNIST not found in '{root}' ({reason}). Either set {DATA_DIR_ENV} (or the "
        f"notebook's data_dir parameter) to a folder holding MNIST/raw/*-ubyte, or unset it "
        f"so that torchvision downloads MNIST into '{DEFAULT_DATA_DIR}/' (needs internet)."
    )


def load_mnist(
    data_dir: str | os.PathLike | None = None, train: bool = True, limit: int | None = None
) -> MNISTTensors:
    """Load one MNIST split as preloaded float tensors, checking the files first.

    Preloading the whole split once (47 MB as uint8) lets training slice batches
    from a tensor instead of converting 60,000 PIL images every epoch.
    """
    from torchvision import datasets  # imported here: torchvision is slow to import

    root, may_download = resolve_data_dir(data_dir)
    missing = _missing_files(root, train)
    if missing and may_download:
        try:
            datasets.MNIST(str(root), train=train, download=True)
        except Exception as error:  # torchvision raises URLError, OSError or RuntimeError
            raise MNISTDataError(_missing_data_message(root, f"download failed: {error}")) from error
        missing = _missing_files(root, train)
    if missing:
        names = ", ".join(p.name for p in missing)
        raise MNISTDataError(_missing_data_message(root, f"missing {names}"))
    for name, magic, count, size in MNIST_FILES[train]:
        _check_idx_file(root / "MNIST" / "raw" / name, magic, count, size)

    dataset = datasets.MNIST(str(root), train=train, download=False)
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    labels = dataset.targets.long()
    if limit is not None:
        images, labels = images[:limit].clone(), labels[:limit].clone()
    return MNISTTensors(images, labels)


def train_val_split(
    data: MNISTTensors, val_size: int, seed: int
) -> tuple[MNISTTensors, MNISTTensors | None]:
    """Hold out ``val_size`` random training images for early stopping (0: no validation set)."""
    n = len(data.images)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size={val_size} must be in [0, {n - 1}] for {n:,} training images")
    if val_size == 0:
        return data, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = order[val_size:], order[:val_size]
    return (
        MNISTTensors(data.images[train_idx], data.labels[train_idx]),
        MNISTTensors(data.images[val_idx], data.labels[val_idx]),
    )


def split_summary(train: MNISTTensors, test: MNISTTensors) -> pd.DataFrame:
    """Size, tensor shape and value range of each split, as a table for notebook 01."""
    rows = []
    for name, split in (("train", train), ("test", test)):
        rows.append({
            "split": name,
            "images": len(split.images),
            "shape": str(list(split.images.shape)),
            "min": float(split.images.min()),
            "max": float(split.images.max()),
            "mean": float(split.images.mean()),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


class VAE(nn.Module):
    """The course report's convolutional VAE: 1,234,143 parameters for z_dim=15.

    Encoder: 28 -> 14 -> 7 -> 3 -> 1 with 32/64/128/256 channels, then one Linear
    that outputs the mean and log-variance of q(z|x). Decoder: Linear to 256, then
    transposed convolutions 1 -> 4 -> 7 -> 14 -> 28. The decoder returns logits;
    ``torch.sigmoid(logits)`` gives Bernoulli pixel probabilities.
    """

    def __init__(self, z_dim: int = 15):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),  # 28 -> 14
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),  # 14 -> 7
            nn.Conv2d(64, 128, 5, 1, 0), nn.ReLU(),  # 7 -> 3
            nn.Conv2d(128, 256, 3, 1, 0), nn.ReLU(),  # 3 -> 1
            nn.Flatten(),
            nn.Linear(256, 2 * z_dim),  # mean and log-variance
        )
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(),
            nn.Unflatten(1, (256, 1, 1)),
            nn.ConvTranspose2d(256, 128, 4, 1, 0), nn.ReLU(),  # 1 -> 4
            nn.ConvTranspose2d(128, 64, 4, 1, 0), nn.ReLU(),  # 4 -> 7
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(32, 1, 4, 2, 1),  # 14 -> 28, logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean and log-variance of the Gaussian q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I), so gradients flow through mu and sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent codes to pixel logits of shape [N, 1, 28, 28]."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample z once, decode: returns (logits, mu, logvar)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def summary_text(model: nn.Module, input_size: tuple[int, ...] = (1, 28, 28)) -> str:
    """The text that ``torchsummary.summary`` prints for ``model`` (run on the CPU)."""
    from torchsummary import summary

    model_cpu = copy.deepcopy(model).cpu()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        summary(model_cpu, input_size, device="cpu")
    return buffer.getvalue()


_SUMMARY_ROW = re.compile(r"^\s*(\w+-\d+)\s+(\[.*?\])\s+([\d,]+)\s*$")


def layer_table(model: nn.Module, input_size: tuple[int, ...] = (1, 28, 28)) -> pd.DataFrame:
    """The torchsummary table as a DataFrame (layer, output shape, parameters), with a total row.

    Parsed from ``summary_text`` itself, so the report's table and the printed
    summary come from one source and cannot disagree.
    """
    text = summary_text(model, input_size)
    rows = []
    for line in text.splitlines():
        match = _SUMMARY_ROW.match(line)
        if match:
            layer, shape, params = match.groups()
            rows.append({"layer": layer, "output shape": shape, "parameters": int(params.replace(",", ""))})
    total = re.search(r"Total params: ([\d,]+)", text)
    if not rows or total is None:
        raise RuntimeError(f"could not parse the torchsummary output:\n{text}")
    table = pd.DataFrame(rows)
    total_params = int(total.group(1).replace(",", ""))
    if table["parameters"].sum() != total_params:
        raise RuntimeError("layer rows do not add up to torchsummary's total")
    return pd.concat(
        [table, pd.DataFrame([{"layer": "Total", "output shape": "", "parameters": total_params}])],
        ignore_index=True,
    )


def parameter_counts(model: VAE) -> pd.DataFrame:
    """Parameters of the encoder, the decoder and the whole model."""
    rows = [
        {"part": "encoder (x -> mu, log sigma^2)", "parameters": count_parameters(model.encoder)},
        {"part": "decoder (z -> pixel logits)", "parameters": count_parameters(model.decoder)},
        {"part": "total", "parameters": count_parameters(model)},
    ]
    return pd.DataFrame(rows)


def _short_repr(layer: nn.Module) -> str:
    """A layer's repr without keyword noise, e.g. 'Conv2d(1, 32, k=4, s=2, p=1)', to fit a report table."""
    text = repr(layer)
    for name, short in (("kernel_size", "k"), ("stride", "s"), ("padding", "p")):
        text = re.sub(rf"{name}=\((\d+), \1\)", rf"{short}=\1", text)
    text = re.sub(r"in_features=(\d+), out_features=(\d+), bias=True", r"\1, \2", text)
    return text.replace("start_dim=1, end_dim=-1", "")


@torch.no_grad()
def shape_walkthrough(model: VAE, batch: torch.Tensor) -> pd.DataFrame:
    """Follow one batch through every layer, recording each tensor's shape, as a student would on paper."""
    model.eval()
    rows = [{"stage": "input x", "module": "", "shape": list(batch.shape)}]
    h = batch
    for index, layer in enumerate(model.encoder):
        h = layer(h)
        rows.append({"stage": f"encoder[{index}]", "module": _short_repr(layer), "shape": list(h.shape)})
    mu, logvar = h.chunk(2, dim=1)
    rows.append({"stage": "mu, log sigma^2 (each)", "module": "chunk(2)", "shape": list(mu.shape)})
    h = model.reparameterize(mu, logvar, torch.Generator(device=mu.device).manual_seed(0))
    rows.append({"stage": "z", "module": "mu + sigma * eps", "shape": list(h.shape)})
    for index, layer in enumerate(model.decoder):
        h = layer(h)
        rows.append({"stage": f"decoder[{index}]", "module": _short_repr(layer), "shape": list(h.shape)})
    rows.append({"stage": "sigmoid(logits)", "module": "pixel probabilities", "shape": list(h.shape)})
    table = pd.DataFrame(rows)
    table["shape"] = table["shape"].map(lambda s: "[" + ", ".join(map(str, s)) + "]")
    return table


# ---------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------


class LossTerms(NamedTuple):
    """Batch sums of the two ELBO terms and their total (all in nats)."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per image and latent dimension, in closed form (shape of mu)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> LossTerms:
    """Negative ELBO of a batch: Bernoulli reconstruction (BCE with logits) plus KL, summed.

    Sums over pixels, latent dimensions and images as in the course report (its
    learning rate was tuned for a summed loss); divide by the batch size for nats
    per image.
    """
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = kl_divergence(mu, logvar).sum()
    return LossTerms(recon + kl, recon, kl)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything that defines a training run; defaults are the course report's."""

    epochs: int = 1250
    batch_size: int = 128
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    z_dim: int = 15
    patience: int = 10
    seed: int = 0
    val_size: int = 5000
    device: str = "auto"
    max_minutes: float | None = None
    channels_last: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain-typed copy for checkpoints and JSON."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; any other string is passed to torch."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def set_seed(seed: int) -> None:
    """Seed torch's global generators (the reparameterization noise draws from them)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Channels-last images let oneDNN/cuDNN pick faster convolution kernels; values are unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam as in the course report; the fused kernel (same update rule) where the device has one."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=tuple(config.betas), fused=fused)


def iterate_minibatches(
    images: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Yield shuffled batches sliced from a preloaded tensor (the last batch may be smaller)."""
    order = torch.randperm(len(images), generator=generator).to(images.device)
    for start in range(0, len(images), batch_size):
        yield images[order[start : start + batch_size]]


def train_step(model: VAE, optimizer: torch.optim.Optimizer, batch: torch.Tensor) -> LossTerms:
    """One gradient step on the summed negative ELBO; returns the batch's loss terms (detached)."""
    logits, mu, logvar = model(batch)
    terms = vae_loss(logits, batch, mu, logvar)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return LossTerms(*(t.detach() for t in terms))


class TrainResult(NamedTuple):
    """What ``train`` hands back: the model with its best weights, the per-epoch history and why it stopped."""

    model: VAE
    history: pd.DataFrame
    stop_reason: str
    best_epoch: int
    wall_seconds: float


HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl",
    "epoch_seconds", "images_per_second",
]


def _train_one_epoch(
    model: VAE,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    description: str,
    disable_progress: bool = False,
) -> dict[str, float]:
    """Run one epoch; returns per-image train loss terms. Sums stay on the device to avoid syncs."""
    model.train()
    sums = torch.zeros(3, device=images.device)
    n_batches = math.ceil(len(images) / config.batch_size)
    batches = iterate_minibatches(images, config.batch_size, generator)
    with tqdm(
        batches, total=n_batches, desc=description, leave=False, mininterval=1.0, disable=disable_progress
    ) as bar:
        for step, batch in enumerate(bar):
            terms = train_step(model, optimizer, _to_memory_format(batch, config.channels_last))
            sums += torch.stack(list(terms))
            if step % 50 == 0:  # reading a value syncs the GPU, so only now and then
                per_image = (terms.loss / len(batch)).item(), (terms.kl / len(batch)).item()
                bar.set_postfix(loss=f"{per_image[0]:.1f}", kl=f"{per_image[1]:.1f}")
    loss, recon, kl = (sums / len(images)).tolist()
    return {"train_loss": loss, "train_recon": recon, "train_kl": kl}


def _early_stopping_metric(row: dict[str, float]) -> float:
    """Validation loss when there is a validation set, else the training loss (the seed's choice)."""
    value = row.get("val_loss")
    return row["train_loss"] if value is None or math.isnan(value) else value


def train(
    config: TrainConfig,
    train_images: torch.Tensor,
    val_images: torch.Tensor | None,
    run_dir: str | os.PathLike,
    resume: bool = True,
    eval_seed: int = 1234,
    progress: bool = True,
) -> TrainResult:
    """Train the VAE with early stopping, checkpointing every epoch to ``run_dir``.

    ``run_dir/last.pt`` (every epoch) and ``run_dir/best.pt`` (best early-stopping
    metric) hold everything needed to continue: with ``resume=True`` an interrupted
    run picks up where it stopped and ends with the same weights as an
    uninterrupted one. ``history.csv`` gets one row per epoch. At the end the model
    holds the best weights.
    """
    run_dir = project_path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    set_seed(config.seed)
    model = VAE(config.z_dim).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(model, config, device)
    generator = torch.Generator().manual_seed(config.seed)
    state = TrainingState()

    last_path = run_dir / LAST_CHECKPOINT
    if resume and last_path.exists():
        state = load_training_checkpoint(last_path, config, model, optimizer, generator)
        print(f"Resuming from {last_path}: {state.epoch} epochs done, best epoch {state.best_epoch}.")
    elif last_path.exists():
        print(f"resume=False: starting over and overwriting the checkpoints in {run_dir}.")

    train_images = train_images.to(device)
    val_images = val_images.to(device) if val_images is not None else None
    started = time.perf_counter()
    stop_reason = state.stop_reason if is_final_stop(state.stop_reason) else ""
    while not stop_reason:
        if state.epoch >= config.epochs:
            stop_reason = f"reached epochs={config.epochs}"
            break
        if config.max_minutes is not None and (time.perf_counter() - started) / 60 >= config.max_minutes:
            stop_reason = f"time budget of {config.max_minutes} minutes used"
            break
        epoch = state.epoch + 1
        tic = time.perf_counter()
        try:
            row = _train_one_epoch(
                model, optimizer, train_images, config, generator, f"epoch {epoch}", not progress
            )
        except KeyboardInterrupt:
            _restore_best(model, run_dir, state)
            print(
                f"Interrupted during epoch {epoch}. {last_path} holds epoch {state.epoch}; "
                "run again with resume=True to continue."
            )
            raise
        if not all(math.isfinite(v) for v in row.values()):
            stop_reason = (
                f"non-finite loss in epoch {epoch} ({row['train_loss']}); kept the last good "
                f"checkpoint (epoch {state.epoch}); lower the learning rate or check the data"
            )
            print("Training stopped:", stop_reason)
            break
        seconds = time.perf_counter() - tic
        row["epoch"] = epoch
        row["epoch_seconds"] = seconds
        row["images_per_second"] = len(train_images) / seconds
        if val_images is not None:
            val = evaluate(model, val_images, config.batch_size, seed=eval_seed)
            row.update(val_loss=val["loss"], val_recon=val["recon"], val_kl=val["kl"])
        else:
            row.update(val_loss=float("nan"), val_recon=float("nan"), val_kl=float("nan"))
        state.history.append({k: row[k] for k in HISTORY_COLUMNS})
        state.epoch = epoch
        metric = _early_stopping_metric(row)
        if metric < state.best_metric:
            state.best_metric, state.best_epoch, state.bad_epochs = metric, epoch, 0
            save_checkpoint(run_dir / BEST_CHECKPOINT, model, config, state)
        else:
            state.bad_epochs += 1
            if state.bad_epochs >= config.patience:
                stop_reason = f"{EARLY_STOP_PREFIX}: no improvement for {config.patience} epochs"
        state.stop_reason = stop_reason
        save_checkpoint(last_path, model, config, state, optimizer, generator)
        write_history(state.history, run_dir / HISTORY_FILE)
        if progress:
            print(_epoch_line(state.history[-1]))
    state.stop_reason = stop_reason
    _restore_best(model, run_dir, state)
    wall = state.wall_seconds + (time.perf_counter() - started)
    state.wall_seconds = wall
    if last_path.exists() and not stop_reason.startswith("non-finite"):
        _update_checkpoint_fields(last_path, stop_reason=stop_reason, wall_seconds=wall)
    return TrainResult(model, history_frame(state.history), stop_reason, state.best_epoch, wall)


def _epoch_line(row: dict[str, float]) -> str:
    """One printed line per epoch, like the PyTorch VAE example."""
    val = "" if math.isnan(row["val_loss"]) else f" | val {row['val_loss']:.2f}"
    return (
        f"epoch {row['epoch']:4d} | train {row['train_loss']:.2f} "
        f"(recon {row['train_recon']:.2f}, KL {row['train_kl']:.2f}){val} | "
        f"{row['epoch_seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
    )


def _restore_best(model: VAE, run_dir: Path, state: "TrainingState") -> None:
    """Load the best epoch's weights into ``model`` (kept as is when no epoch finished)."""
    best_path = run_dir / BEST_CHECKPOINT
    if state.best_epoch > 0 and best_path.exists():
        model.load_state_dict(_torch_load(best_path)["model"])


def history_frame(history: list[dict[str, float]]) -> pd.DataFrame:
    """Per-epoch history as a DataFrame with a stable column order."""
    return pd.DataFrame(history, columns=HISTORY_COLUMNS)


def write_history(history: list[dict[str, float]], path: str | os.PathLike) -> None:
    """Write the whole history CSV atomically (rewritten each epoch, so it always matches last.pt)."""
    with atomic_path(path) as tmp:
        history_frame(history).to_csv(tmp, index=False)


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CHECKPOINT_FORMAT = 1
EARLY_STOP_PREFIX = "early stopping"


def is_final_stop(stop_reason: str) -> bool:
    """Early stopping ends a run for good; an epoch limit or time budget can be extended on resume."""
    return stop_reason.startswith(EARLY_STOP_PREFIX)


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place with ``os.replace``.

    An interrupted write leaves the previous file intact and no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _architecture(model: VAE) -> dict[str, Any]:
    """A plain description of the model that a checkpoint must match."""
    return {"class": type(model).__name__, "z_dim": model.z_dim, "parameters": count_parameters(model)}


def save_checkpoint(
    path: str | os.PathLike,
    model: VAE,
    config: TrainConfig,
    state: TrainingState,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Write model weights plus (optionally) optimizer and RNG states atomically."""
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "architecture": _architecture(model),
        "config": config.to_dict(),
        "model": model.state_dict(),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_metric": state.best_metric,
        "bad_epochs": state.bad_epochs,
        "stop_reason": state.stop_reason,
        "wall_seconds": state.wall_seconds,
        "history": state.history,
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


def _torch_load(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``), turning any failure into a CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint '{path}' is unreadable (truncated or not a checkpoint of this project: "
            f"{type(error).__name__}). Delete it to start over, or point to an intact file."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "model" not in payload:
        raise CheckpointError(f"'{path}' is not a checkpoint of this project (format {CHECKPOINT_FORMAT})")
    return payload


def _check_architecture(path: Path, payload: dict[str, Any], z_dim: int) -> None:
    """Refuse a checkpoint made for another architecture with a message instead of a state-dict traceback."""
    expected = _architecture(VAE(z_dim))
    found = payload.get("architecture", {})
    if found != expected:
        raise CheckpointError(
            f"checkpoint '{path}' holds {found}, but the configuration asks for {expected}. "
            "Use a run_dir of its own for this configuration, set z_dim to the checkpoint's, "
            "or pass resume=False to start over."
        )


def load_training_checkpoint(
    path: str | os.PathLike,
    config: TrainConfig,
    model: VAE,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> TrainingState:
    """Restore model, optimizer and every RNG from ``last.pt``; returns the bookkeeping state."""
    path = Path(path)
    payload = _torch_load(path)
    _check_architecture(path, payload, config.z_dim)
    if "optimizer" not in payload or "rng" not in payload:
        raise CheckpointError(f"'{path}' holds weights only and cannot be resumed; pass resume=False")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    rng = payload["rng"]
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["shuffle"])
    np_state = np.random.get_state()
    np.random.set_state((np_state[0], rng["numpy"].numpy().astype(np.uint32), *np_state[2:]))
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return TrainingState(
        epoch=payload["epoch"],
        best_epoch=payload["best_epoch"],
        best_metric=payload["best_metric"],
        bad_epochs=payload["bad_epochs"],
        stop_reason=payload["stop_reason"],
        wall_seconds=payload.get("wall_seconds", 0.0),
        history=list(payload["history"]),
    )


def _update_checkpoint_fields(path: Path, **fields: Any) -> None:
    """Rewrite a few plain fields of a checkpoint in place (atomically)."""
    payload = _torch_load(path)
    payload.update(fields)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: str | os.PathLike, device: str = "auto") -> tuple[VAE, dict[str, Any]]:
    """Load a VAE for analysis from any checkpoint of this project; returns (model in eval mode, metadata)."""
    path = Path(path)
    payload = _torch_load(path)
    z_dim = int(payload.get("architecture", {}).get("z_dim", payload.get("config", {}).get("z_dim", 15)))
    _check_architecture(path, payload, z_dim)
    model = VAE(z_dim)
    model.load_state_dict(payload["model"])
    model = model.to(resolve_device(device)).eval()
    meta = {k: v for k, v in payload.items() if k not in ("model", "optimizer", "rng")}
    return model, meta


def export_weights(checkpoint: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Copy a checkpoint without optimizer and RNG state: the small file the report commits."""
    payload = _torch_load(checkpoint)
    payload = {k: v for k, v in payload.items() if k not in ("optimizer", "rng")}
    payload["model"] = {k: v.contiguous() for k, v in payload["model"].items()}
    with atomic_path(destination) as tmp:
        torch.save(payload, tmp)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: VAE, images: torch.Tensor, batch_size: int = 512, seed: int = 1234) -> dict[str, float]:
    """Negative ELBO, reconstruction and KL in nats per image, with fixed reparameterization noise.

    A fixed noise seed makes the numbers comparable across epochs and reruns.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(3, device=device)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        logits, mu, logvar = model(batch, generator=generator)
        sums += torch.stack(list(vae_loss(logits, batch, mu, logvar)))
    model.train(was_training)
    loss, recon, kl = (sums / len(images)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def environment_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Hardware and library versions, for metrics.json and the report's training table."""
    import sklearn
    import torchvision

    device = torch.device(device)
    hardware = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    )
    return {
        "device": str(device),
        "hardware": hardware,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def write_json(data: dict[str, Any], path: str | os.PathLike) -> None:
    """Write JSON atomically with stable formatting."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------

DIGITS = list(range(10))


def figures_dir(path: str | os.PathLike | None, smoke_test: bool) -> Path:
    """Where a notebook writes its PNGs: ``figures/``, or ``build/smoke/figures`` for smoke runs.

    Smoke runs (CI) must never overwrite the committed figures of the real run.
    """
    default = "build/smoke/figures" if smoke_test else "figures"
    folder = project_path(path or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def format_table(df: pd.DataFrame, float_digits: int = 2) -> pd.DataFrame:
    """Numbers as report text: integers with thousands separators, floats rounded."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]):
            continue
        if pd.api.types.is_integer_dtype(out[column]):
            out[column] = out[column].map(lambda v: f"{v:,}")
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:,.{float_digits}f}")
    return out.astype(str)


def show_table(df: pd.DataFrame, caption: str, float_digits: int = 2) -> None:
    """Display a table as HTML in JupyterLab and as a LaTeX (booktabs) table in the PDF report."""
    from IPython.display import display

    text = format_table(df, float_digits)
    tabular = text.to_latex(index=False, escape=True)
    latex = (
        "\\begin{center}\n\\textbf{" + _latex_escape(caption) + "}\\\\[4pt]\n"
        + tabular + "\\end{center}\n"
    )
    html = f"<p><b>{caption}</b></p>" + text.to_html(index=False)
    display({"text/html": html, "text/latex": latex, "text/plain": f"{caption}\n{text.to_string(index=False)}"}, raw=True)


def _latex_escape(text: str) -> str:
    """Escape the LaTeX special characters that can occur in captions."""
    for char in "&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def save_figure(fig: "plt.Figure", path: str | os.PathLike) -> Path:
    """Save a figure atomically (PNG, 150 dpi) so an interrupted run never leaves a broken image."""
    path = project_path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    return path


def _image_array(images: torch.Tensor) -> np.ndarray:
    """[..., 1, 28, 28] tensor -> [..., 28, 28] numpy array on the CPU for imshow."""
    return images.detach().float().cpu().squeeze(-3).numpy()


def plot_class_balance(labels: torch.Tensor, title: str) -> "plt.Figure":
    """Bar chart of images per digit: shows whether any class needs reweighting (MNIST: no)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    counts = pd.Series(labels.numpy()).value_counts().reindex(DIGITS, fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sns.barplot(x=counts.index, y=counts.values, ax=ax, color="tab:blue")
    ax.set(title=title, xlabel="digit", ylabel="images")
    for i, value in enumerate(counts.values):
        ax.text(i, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
    return fig


def plot_examples_per_digit(data: MNISTTensors, per_digit: int, seed: int, title: str) -> "plt.Figure":
    """A grid with one row per digit of randomly chosen training images."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in DIGITS:
        idx = torch.nonzero(data.labels == digit).flatten()
        rows.append(data.images[idx[torch.randperm(len(idx), generator=generator)[:per_digit]]])
    return plot_image_grid(torch.stack(rows), title, [f"digit {d}" for d in DIGITS])


def plot_mean_images(data: MNISTTensors, title: str) -> "plt.Figure":
    """The average image of each digit: the 'prototype' a blurry decoder tends towards."""
    means = torch.stack([data.images[data.labels == d].mean(0) for d in DIGITS]).unsqueeze(1)
    return plot_image_grid(means.transpose(0, 1), title, None, column_labels=[str(d) for d in DIGITS])


def plot_intensity_histogram(images: torch.Tensor, title: str) -> "plt.Figure":
    """Histogram of pixel values: MNIST is mostly 0 and 1, which is why a Bernoulli decoder fits."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(images.flatten().numpy(), bins=50, color="tab:blue", log=True)
    ax.set(title=title, xlabel="pixel intensity (0 = black, 1 = white)", ylabel="pixels (log scale)")
    return fig


def plot_image_grid(
    images: torch.Tensor,
    title: str,
    row_labels: list[str] | None = None,
    column_labels: list[str] | None = None,
    cell_inches: float = 0.8,
) -> "plt.Figure":
    """Show a [rows, columns, 1, 28, 28] tensor as a labelled grid of grey images."""
    import matplotlib.pyplot as plt

    array = _image_array(images)
    n_rows, n_cols = array.shape[:2]
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(cell_inches * n_cols + 0.8, cell_inches * n_rows + 0.6), squeeze=False
    )
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(array[r, c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=9)
            if r == 0 and column_labels:
                ax.set_title(column_labels[c], fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_loss_curves(history: pd.DataFrame, title: str = "Training curves") -> "plt.Figure":
    """Total, reconstruction and KL terms per epoch for train and validation (nats per image)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, term, name in zip(axes, ("loss", "recon", "kl"), ("negative ELBO", "reconstruction", "KL")):
        ax.plot(history["epoch"], history[f"train_{term}"], label="train")
        if history[f"val_{term}"].notna().any():
            ax.plot(history["epoch"], history[f"val_{term}"], label="validation")
        ax.set(title=name, xlabel="epoch", ylabel="nats per image")
        ax.grid(alpha=0.3)
        ax.legend()
    if history["train_loss"].iloc[0] > 3 * history["train_loss"].iloc[-1]:
        axes[0].set_ylim(top=history["train_loss"].iloc[min(1, len(history) - 1)] * 1.05)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_reconstructions(model: VAE, images: torch.Tensor, title: str) -> "plt.Figure":
    """Test digits (top row) above their reconstructions sigmoid(decode(mu)) (bottom row)."""
    model.eval()
    device = next(model.parameters()).device
    mu, _ = model.encode(images.to(device))
    recon = torch.sigmoid(model.decode(mu)).cpu()
    return plot_image_grid(torch.stack([images.cpu(), recon]), title, ["original", "reconstruction"])

"""Shared logic for the MNIST convolutional VAE course report.

The notebooks in ``notebooks/`` stay thin: they hold the narrative and call the
functions here. Sections follow the flow of data through the project:
data -> model -> loss -> training -> checkpoints -> evaluation -> latent space
-> judge classifier -> plotting.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
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
from collections.abc import Sequence
from typing import Any, Iterator, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
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


def display_path(path: str | os.PathLike) -> str:
    """A path for printing: relative to the project when inside it, else only its last two parts.

    Notebook outputs are committed, so they must not name folders of the machine that ran them.
    """
    path = Path(path).resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(Path("...", *path.parts[-2:]))


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


def _single_window(layer: nn.Module, x: torch.Tensor) -> tuple[int, int] | None:
    """Padding (rows, cols) when a (transposed) convolution sees its whole input in one window, else None.

    Then every output element is a dot product with the same weights, so the layer is
    exactly one matrix product over the kernel taps that land on the input.
    """
    h, w = x.shape[-2:]
    kh, kw = layer.kernel_size
    ph, pw = layer.padding
    one_window = (h + 2 * ph - kh) // layer.stride[0] + 1 == 1 and (w + 2 * pw - kw) // layer.stride[1] + 1 == 1
    plain = layer.groups == 1 and layer.dilation == (1, 1) and getattr(layer, "output_padding", (0, 0)) == (0, 0)
    fits = ph + h <= kh and pw + w <= kw
    return (ph, pw) if one_window and plain and fits else None


# Why these two classes exist: on the CPU, oneDNN's convolution is several times
# slower than a matrix product for the degenerate shapes 3x3 -> 1x1 (Conv2d-7) and
# 1x1 -> 3x3 (ConvTranspose2d-14). They compute exactly the same function with the
# same parameters, keep the stock class names so torchsummary prints the course
# report's rows, and tests/test_model.py checks outputs and gradients against nn's.


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes a single-window convolution (3x3 -> 1x1) as one ``F.linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Matrix product over the kernel taps that land on the input, else the ordinary convolution."""
        if self.padding_mode != "zeros" or x.dim() != 4 or (pad := _single_window(self, x)) is None:
            return super().forward(x)
        (ph, pw), (h, w) = pad, x.shape[-2:]
        weight = self.weight[:, :, ph : ph + h, pw : pw + w].reshape(self.out_channels, -1)
        out = F.linear(x.reshape(len(x), -1), weight, self.bias)
        return out.view(len(x), self.out_channels, 1, 1)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that computes a 1x1 input (1x1 -> kxk) as one matrix product."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """Matrix product for a 1x1 input without padding, else the ordinary transposed convolution."""
        if output_size is not None or x.dim() != 4 or x.shape[-2:] != (1, 1) or _single_window(self, x) != (0, 0):
            return super().forward(x, output_size)
        out = x.reshape(len(x), -1) @ self.weight.reshape(self.in_channels, -1)
        out = out.view(len(x), self.out_channels, *self.kernel_size)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class VAE(nn.Module):
    """The course report's convolutional VAE: 1,234,143 parameters for z_dim=15.

    Layer for layer the course report's torchsummary table. Encoder: four 4x4
    stride-2 convolutions 28 -> 14 -> 7 -> 3 -> 1 with 32/64/128/256 channels, then
    one Linear giving the mean and log-variance of q(z|x). Decoder: Linear to 256,
    Unflatten, ReLU, then transposed convolutions 1 -> 3 -> 7 -> 14 -> 28 (kernels
    3, 5, 4, 4). The decoder returns logits; ``torch.sigmoid(logits)`` gives
    Bernoulli pixel probabilities.
    """

    def __init__(self, z_dim: int = 15):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(inplace=True),  # 28 -> 14
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(inplace=True),  # 14 -> 7
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(inplace=True),  # 7 -> 3
            Conv2d(128, 256, 4, 2, 1), nn.ReLU(inplace=True),  # 3 -> 1, a matrix product
            nn.Flatten(),
            nn.Linear(256, 2 * z_dim),  # mean and log-variance
        )
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256),
            nn.Unflatten(1, (256, 1, 1)), nn.ReLU(inplace=True),
            ConvTranspose2d(256, 128, 3), nn.ReLU(inplace=True),  # 1 -> 3, a matrix product
            nn.ConvTranspose2d(128, 64, 5, 2, 1), nn.ReLU(inplace=True),  # 3 -> 7
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),  # 7 -> 14
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


def _model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on (inputs must follow them there)."""
    return next(model.parameters()).device


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


_GLIBC_M_TRIM_THRESHOLD, _GLIBC_M_MMAP_THRESHOLD = -1, -3


def tune_cpu_runtime() -> None:
    """Process-wide CPU settings that make training about 1.3x faster without changing its numbers.

    * Flush denormal floats to zero: tiny gradients otherwise take a slow path on
      x86 (only values below about 1e-38 change).
    * Keep freed memory in glibc's heap: by default the multi-megabyte activation
      buffers go back to the OS after every step and are page-faulted and zeroed
      again on the next one.
    """
    torch.set_flush_denormal(True)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl): nothing more to tune
        return
    libc.mallopt(_GLIBC_M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(_GLIBC_M_TRIM_THRESHOLD, 1 << 30)


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
    environment: dict[str, Any]


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
    if device.type == "cpu":
        tune_cpu_runtime()
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
    state.environment = environment_info(device)
    started = time.perf_counter()
    earlier_seconds = state.wall_seconds  # time spent before a resume counts towards the run's wall time
    stop_reason = state.stop_reason if is_final_stop(state.stop_reason) else ""
    while not stop_reason:
        if state.epoch >= config.epochs:
            stop_reason = f"reached epochs={config.epochs}"
            break
        if config.max_minutes is not None and (time.perf_counter() - started) / 60 >= config.max_minutes:
            stop_reason = f"time budget of {config.max_minutes:g} min for this session used (resume continues)"
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
        state.wall_seconds = earlier_seconds + (time.perf_counter() - started)
        save_checkpoint(last_path, model, config, state, optimizer, generator)
        write_history(state.history, run_dir / HISTORY_FILE)
        if progress:
            print(_epoch_line(state.history[-1]))
    state.stop_reason = stop_reason
    _restore_best(model, run_dir, state)
    wall = earlier_seconds + (time.perf_counter() - started)
    state.wall_seconds = wall
    if last_path.exists() and not stop_reason.startswith("non-finite"):
        _update_checkpoint_fields(last_path, stop_reason=stop_reason, wall_seconds=wall)
    return TrainResult(model, history_frame(state.history), stop_reason, state.best_epoch, wall, state.environment)


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
    environment: dict[str, Any] = field(default_factory=dict)  # hardware and versions that trained it


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
        environment=dict(payload.get("environment", {})),
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


WEIGHTS_FILE = "vae_mnist.pt"


def resolve_checkpoint(run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> Path:
    """The model file to analyse: ``checkpoint`` if given, else the run's exported weights, else its best.pt."""
    if checkpoint:
        path = project_path(checkpoint)
        candidates = [path]
    else:
        run_dir = project_path(run_dir)
        candidates = [run_dir / WEIGHTS_FILE, run_dir / BEST_CHECKPOINT]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(
        f"no trained model at {' or '.join(str(p) for p in candidates)}: run notebooks/03_train.ipynb "
        "first (with the same run_dir), or pass checkpoint= the path of a trained model"
    )


def export_weights(run_dir: str | os.PathLike, destination: str | os.PathLike | None = None) -> Path:
    """Write the small file the report commits: the best weights with the run's full history.

    Takes the weights from ``best.pt`` and the bookkeeping (all epochs, stop
    reason, wall time) from ``last.pt``, dropping optimizer and RNG state.
    """
    run_dir = project_path(run_dir)
    destination = project_path(destination) if destination else run_dir / WEIGHTS_FILE
    last = _torch_load(run_dir / LAST_CHECKPOINT)
    best = _torch_load(run_dir / BEST_CHECKPOINT)
    payload = {k: v for k, v in last.items() if k not in ("optimizer", "rng", "model")}
    payload["model"] = {k: v.contiguous() for k, v in best["model"].items()}
    with atomic_path(destination) as tmp:
        torch.save(payload, tmp)
    return destination


def train_or_reuse(
    config: TrainConfig,
    train_images: torch.Tensor,
    val_images: torch.Tensor | None,
    run_dir: str | os.PathLike,
    resume: bool = True,
    retrain: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Continue an interrupted run, else reuse the exported weights, else train from scratch.

    This lets the report be rebuilt from the committed ``vae_mnist.pt`` without
    hours of training, while ``retrain=True`` always trains anew.
    """
    run_dir = project_path(run_dir)
    weights = run_dir / WEIGHTS_FILE
    has_checkpoint = (run_dir / LAST_CHECKPOINT).exists()
    if not retrain and not (resume and has_checkpoint) and weights.exists():
        model, meta = load_model(weights, config.device)
        _check_architecture(weights, meta, config.z_dim)
        print(f"Reusing the trained weights in {weights.name} (pass retrain=True to train anew).")
        write_history(meta["history"], run_dir / HISTORY_FILE)  # the history beside the weights it produced
        return TrainResult(
            model, history_frame(meta["history"]), meta["stop_reason"], meta["best_epoch"], meta["wall_seconds"],
            meta.get("environment") or {},
        )
    result = train(config, train_images, val_images, run_dir, resume=resume and not retrain, progress=progress)
    if result.best_epoch > 0:
        export_weights(run_dir)
    return result


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
    device = _model_device(model)
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
        # str(): torch's version is a TorchVersion, which weights_only loading refuses
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": str(np.__version__),
        "scikit-learn": str(sklearn.__version__),
    }


def training_metrics(
    result: TrainResult, config: TrainConfig, test: dict[str, float], test_images: int, eval_seed: int
) -> dict[str, Any]:
    """Everything a reader needs to trust the numbers of a run, for metrics.json and the report."""
    history = result.history
    best = history.loc[history["epoch"] == result.best_epoch].iloc[0] if result.best_epoch else None
    device = _model_device(result.model)
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
        "test": {**test, "images": test_images, "eval_seed": eval_seed},
        "environment": result.environment or environment_info(device),
    }


def training_details_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Hyperparameters and outcome of a run as a two-column table for the report."""
    config = metrics["config"]
    env = metrics["environment"]
    hours = metrics["wall_seconds"] / 3600
    rows = [
        ("batch size", config["batch_size"]),
        ("optimizer", f"Adam, lr {config['lr']:g}, betas ({config['betas'][0]:g}, {config['betas'][1]:g})"),
        ("latent dimensions", config["z_dim"]),
        ("epoch limit / patience", f"{config['epochs']} / {config['patience']}"),
        ("validation images (early stopping)", config["val_size"] or "none (training loss, as the seed)"),
        ("seed", config["seed"]),
        ("epochs run (best epoch)", f"{metrics['epochs_run']} ({metrics['best_epoch']})"),
        ("stop reason", metrics["stop_reason"]),
        ("wall time", f"{metrics['wall_seconds'] / 60:.1f} min ({hours:.2f} h)"),
        ("time per epoch", f"{metrics['mean_epoch_seconds']} s"),
        ("hardware", f"{env['hardware']} ({env['device']})"),
        ("libraries", f"torch {env['torch']}, torchvision {env['torchvision']}, Python {env['python']}"),
    ]
    return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["setting", "value"])


def loss_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Train / validation (at the best epoch) and test loss terms in nats per image."""
    rows = []
    for split, key in (("train (best epoch)", "best_epoch_train"), ("validation (best epoch)", "best_epoch_val")):
        if metrics.get(key):
            rows.append({"split": split, **metrics[key]})
    rows.append({"split": f"test ({metrics['test']['images']:,} images)", **{
        t: metrics["test"][t] for t in ("loss", "recon", "kl")
    }})
    table = pd.DataFrame(rows)
    return table.rename(columns={"loss": "negative ELBO", "recon": "reconstruction", "kl": "KL"})


def write_json(data: dict[str, Any], path: str | os.PathLike) -> None:
    """Write JSON atomically with stable formatting."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------
# Latent space
# ---------------------------------------------------------------------------

N_DIGITS = 10
LOG_2PI = math.log(2 * math.pi)


@torch.no_grad()
def _encode(model: VAE, images: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and log-variance of q(z|x) for many images, in batches, returned on the CPU."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        mu, logvar = model.encode(images[start : start + batch_size].to(device))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    model.train(was_training)
    return torch.cat(mus), torch.cat(logvars)


def encode_means(model: VAE, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Posterior means E_q[z|x], shape [N, z], on the CPU: the deterministic code of each image that clustering uses."""
    return _encode(model, images, batch_size)[0]


@torch.no_grad()
def _decode_probabilities(model: VAE, z: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Pixel probabilities sigmoid(decoder(z)), shape [N, 1, 28, 28], on the CPU."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    out = [
        torch.sigmoid(model.decode(z[start : start + batch_size].to(device))).float().cpu()
        for start in range(0, len(z), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)


def fit_kmeans(latents: np.ndarray, n_clusters: int, seed: int) -> KMeans:
    """k-means on latent means: unsupervised groups of codes that the labels then name (10 restarts avoid poor local optima)."""
    return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(np.asarray(latents, dtype=np.float64))


def project_pca(
    latents: np.ndarray, centres: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Project latents (and cluster centres, with the same map) onto the first two principal axes for plotting.

    Returns (latents_2d, centres_2d or None, explained variance ratio of the two axes).
    PCA rather than t-SNE: it is linear, so distances between centres stay meaningful.
    """
    pca = PCA(n_components=2).fit(np.asarray(latents, dtype=np.float64))
    centres_2d = None if centres is None else pca.transform(np.asarray(centres, dtype=np.float64))
    return pca.transform(latents), centres_2d, pca.explained_variance_ratio_


def label_clusters(cluster_ids: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Name each cluster by the digit most of its members are, so clusters become a digit classifier.

    A cluster without members gets -1; ties go to the smaller digit.
    """
    cluster_ids, labels = np.asarray(cluster_ids), np.asarray(labels)
    cluster_to_digit = np.full(n_clusters, -1, dtype=np.int64)
    for cluster in range(n_clusters):
        members = labels[cluster_ids == cluster]
        if len(members):
            cluster_to_digit[cluster] = int(np.bincount(members, minlength=N_DIGITS).argmax())
    return cluster_to_digit


def hungarian_accuracy(cluster_ids: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy under the best one-to-one cluster-to-digit matching: the standard unsupervised clustering accuracy.

    Unlike majority voting it cannot name two clusters after the same digit, so it
    penalises a digit split over several clusters. The matching is found on the
    images passed in.
    """
    counts = contingency_matrix(np.asarray(labels), np.asarray(cluster_ids))  # rows digits, columns clusters
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def clustering_metrics(
    cluster_ids: np.ndarray, cluster_to_digit: np.ndarray, labels: np.ndarray, n_clusters: int
) -> dict[str, float]:
    """How well clusters match digits, from several angles, since each single score has a blind spot.

    ``cluster_to_digit`` should come from the training set (``label_clusters``) so
    that test accuracy is an honest held-out number. 'accuracy_hungarian' is NaN
    unless there are exactly 10 clusters (a one-to-one matching needs as many
    clusters as digits). Purity uses each cluster's majority on the images passed
    in, so on the training set it equals 'accuracy_majority'.
    """
    cluster_ids, labels = np.asarray(cluster_ids), np.asarray(labels)
    predicted = np.asarray(cluster_to_digit)[cluster_ids]
    counts = contingency_matrix(labels, cluster_ids)
    return {
        "accuracy_majority": float(np.mean(predicted == labels)),
        "accuracy_hungarian": hungarian_accuracy(cluster_ids, labels) if n_clusters == N_DIGITS else float("nan"),
        "purity": float(counts.max(axis=0).sum() / counts.sum()),
        "nmi": float(normalized_mutual_info_score(labels, cluster_ids)),
        "ari": float(adjusted_rand_score(labels, cluster_ids)),
    }


class ClusterFit(NamedTuple):
    """k-means on training latents plus the digit that names each cluster."""

    kmeans: KMeans
    cluster_to_digit: np.ndarray

    @property
    def k(self) -> int:
        """Number of clusters."""
        return len(self.cluster_to_digit)


def fit_clusters(latents: np.ndarray, labels: np.ndarray, k: int, seed: int) -> ClusterFit:
    """Cluster training latents and name each cluster by majority vote of its training labels."""
    kmeans = fit_kmeans(latents, k, seed)
    return ClusterFit(kmeans, label_clusters(kmeans.labels_, np.asarray(labels), k))


def evaluate_clusters(fit: ClusterFit, latents: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Clustering metrics of ``fit`` on any split (cluster names always come from the training set)."""
    ids = fit.kmeans.predict(np.asarray(latents, dtype=np.float64))
    return clustering_metrics(ids, fit.cluster_to_digit, np.asarray(labels), fit.k)


def cluster_sweep(
    train_latents: np.ndarray,
    train_labels: np.ndarray,
    test_latents: np.ndarray,
    test_labels: np.ndarray,
    k_values: Sequence[int],
    seed: int,
) -> pd.DataFrame:
    """Clustering metrics for several k on train and test: shows what over-clustering buys."""
    rows = []
    for k in tqdm(list(k_values), desc="k-means sweep", leave=False):
        fit = fit_clusters(train_latents, train_labels, k, seed)
        digits_named = len(set(fit.cluster_to_digit.tolist()) - {-1})
        for split, latents, labels in (("train", train_latents, train_labels), ("test", test_latents, test_labels)):
            rows.append({"k": k, "split": split, "digits named": digits_named, **evaluate_clusters(fit, latents, labels)})
    return pd.DataFrame(rows)


METRIC_NAMES = {
    "accuracy_hungarian": "accuracy (Hungarian)",
    "accuracy_majority": "accuracy (majority)",
    "purity": "purity",
    "nmi": "NMI",
    "ari": "ARI",
}


def metrics_frame(metrics_by_split: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Clustering metrics of several splits as one table, a row per split."""
    rows = [{"split": split, **{METRIC_NAMES[k]: v for k, v in m.items()}} for split, m in metrics_by_split.items()]
    return pd.DataFrame(rows)


def project_tsne(latents: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE of latent codes: neighbourhoods are kept, distances between groups are not."""
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(
        np.asarray(latents, dtype=np.float64)
    )


def digit_centres(fit: ClusterFit, digits: Sequence[int]) -> list[torch.Tensor]:
    """Centre of the largest cluster named after each digit (for interpolations)."""
    sizes = np.bincount(fit.kmeans.labels_, minlength=fit.k)
    centres = []
    for digit in digits:
        clusters = np.flatnonzero(fit.cluster_to_digit == digit)
        if len(clusters) == 0:
            raise ValueError(f"no cluster is named after digit {digit}; use more clusters")
        best = clusters[sizes[clusters].argmax()]
        centres.append(torch.from_numpy(fit.kmeans.cluster_centers_[best]).float())
    return centres


@dataclass
class DigitSampler:
    """Per-digit Gaussian mixture in latent space: one full-covariance Gaussian per cluster named after the digit.

    Why not the prior: the VAE's prior N(0, I) says nothing about which digit a code
    is, and the aggregate posterior of one digit's images is far from N(0, I). The
    latent means of a cluster's training images form a compact, correlated cloud;
    a Gaussian with that cloud's mean and full covariance keeps samples on the
    part of latent space the decoder was trained on. A digit written in several
    styles often spans several clusters; weighting each cluster by its size draws
    the styles in the proportions the training data has.
    """

    means: torch.Tensor  # [K, z]
    covariances: torch.Tensor  # [K, z, z], ridge included
    weights: torch.Tensor  # [K], cluster size / number of training images
    cluster_to_digit: np.ndarray  # [K], -1 for a cluster without members
    cholesky: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Factorise once in float64: covariances of near-collapsed latent dimensions are close to singular.
        self.cholesky = torch.linalg.cholesky(self.covariances.double()).float()

    def missing_digits(self) -> list[int]:
        """Digits that no cluster is named after, so that they cannot be sampled."""
        present = set(int(d) for d in self.cluster_to_digit[self.weights.numpy() > 0])
        return [d for d in range(N_DIGITS) if d not in present]

    def sample(self, digit: int, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """Draw ``n`` latent codes [n, z] of one digit (CPU generator, so results do not depend on the device).

        ``temperature`` scales each cluster's standard deviation: below 1 trades
        variety for samples closer to the cluster's centre.
        """
        components = np.flatnonzero((self.cluster_to_digit == digit) & (self.weights.numpy() > 0))
        if len(components) == 0:
            raise ValueError(
                f"no cluster is named after digit {digit} (clusters name digits "
                f"{sorted(set(self.cluster_to_digit.tolist()) - {-1})}); fit k-means with more "
                "clusters so that every digit wins the majority of at least one cluster"
            )
        components = torch.from_numpy(components)
        choice = components[torch.multinomial(self.weights[components], n, replacement=True, generator=generator)]
        eps = torch.randn(n, self.means.shape[1], generator=generator)
        return self.means[choice] + temperature * (self.cholesky[choice] @ eps.unsqueeze(-1)).squeeze(-1)


def fit_digit_sampler(
    latents: np.ndarray | torch.Tensor,
    cluster_ids: np.ndarray,
    cluster_to_digit: np.ndarray,
    ridge: float = 1e-4,
) -> DigitSampler:
    """Fit one Gaussian per cluster to the training latent means of its members (see ``DigitSampler`` for why)."""
    latents = np.asarray(latents, dtype=np.float64)
    cluster_ids = np.asarray(cluster_ids)
    cluster_to_digit = np.asarray(cluster_to_digit, dtype=np.int64)
    n_clusters, z_dim = len(cluster_to_digit), latents.shape[1]
    means = np.zeros((n_clusters, z_dim))
    covariances = np.tile(ridge * np.eye(z_dim), (n_clusters, 1, 1))  # the ridge keeps Cholesky defined
    sizes = np.zeros(n_clusters)
    for cluster in range(n_clusters):
        members = latents[cluster_ids == cluster]
        sizes[cluster] = len(members)
        if len(members) >= 1:
            means[cluster] = members.mean(axis=0)
        if len(members) >= 2:  # one member has no spread; the ridge alone stands in for it
            covariances[cluster] += np.cov(members, rowvar=False)
    return DigitSampler(
        means=torch.from_numpy(means).float(),
        covariances=torch.from_numpy(covariances).float(),
        weights=torch.from_numpy(sizes / sizes.sum()).float(),
        cluster_to_digit=cluster_to_digit,
    )


def generate_digits(
    model: VAE, sampler: DigitSampler, n_per_digit: int, seed: int, temperature: float = 1.0
) -> torch.Tensor:
    """Decode ``n_per_digit`` cluster samples of every digit: [10, n, 1, 28, 28] pixel probabilities, fixed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.cat([sampler.sample(digit, n_per_digit, generator, temperature) for digit in range(N_DIGITS)])
    return _decode_probabilities(model, z).reshape(N_DIGITS, n_per_digit, 1, 28, 28)


def sample_prior(model: VAE, n: int, seed: int) -> torch.Tensor:
    """Decode z ~ N(0, I), the seed report's way of generating, as the baseline: [n, 1, 28, 28] pixel probabilities."""
    z = torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(seed))
    return _decode_probabilities(model, z)


def save_generated(images: torch.Tensor, path: str | os.PathLike) -> None:
    """Save generated digits as ``images`` float32 [10, n, 28, 28] in [0, 1] for later judging without the model."""
    array = images.detach().cpu().float().clamp(0, 1).reshape(*images.shape[:2], 28, 28).numpy()
    with atomic_path(path) as tmp:
        # Through a file handle: given a name, numpy would append '.npz' to the temporary name.
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, images=array)


def kl_per_dimension(model: VAE, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Mean KL(q(z_u|x) || N(0, 1)) per latent dimension [z] in nats: near-zero dimensions carry no information."""
    mu, logvar = _encode(model, images, batch_size)
    return kl_divergence(mu, logvar).double().mean(dim=0).numpy()


def active_units(
    model: VAE, images: torch.Tensor, threshold: float = 0.01, batch_size: int = 1024
) -> tuple[int, np.ndarray]:
    """Count dimensions whose posterior mean varies across images (Burda et al. 2016: Cov_x(E_q[z_u]) > 0.01).

    Returns (number of active units, variance of the mean per dimension [z]). A
    dimension whose mean is the same for every image is ignored by the decoder.
    """
    variance = encode_means(model, images, batch_size).double().var(dim=0, unbiased=False).numpy()
    return int((variance > threshold).sum()), variance


@torch.no_grad()
def importance_weighted_nll(
    model: VAE,
    images: torch.Tensor,
    k: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> float:
    """Estimate -log p(x) in nats per image with ``k`` importance samples from q(z|x) (Burda et al. 2016).

    The negative ELBO only bounds -log p(x) from above; this estimate is tighter
    (never above the ELBO in expectation, converging to -log p(x) as k grows), so
    the gap shows how much the ELBO understates the model. The Bernoulli
    likelihood is applied to grey-level pixels as in training, so the number is
    comparable with ``evaluate``'s negative ELBO, not with binarised-MNIST papers.
    Memory grows with batch_size * k decoded images.
    """
    was_training = model.training
    model.eval()
    device = _model_device(model)
    generator = torch.Generator().manual_seed(seed)  # CPU noise: the same draws on every device
    total = 0.0
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=f"IW-NLL (k={k})", leave=False, disable=not progress):
        x = images[start : start + batch_size].to(device)
        mu, logvar = model.encode(x)
        eps = torch.randn((k, *mu.shape), generator=generator).to(device=device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # [k, B, z]
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
        log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        logits = model.decode(z.reshape(-1, z.shape[-1])).reshape(k, *x.shape)
        log_lik = -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).flatten(2).sum(-1)
        log_w = (log_lik + log_prior - log_q).double()  # [k, B]
        log_px = torch.logsumexp(log_w, dim=0) - math.log(k)
        total -= log_px.sum().item()
    model.train(was_training)
    return total / len(images)


def latent_interpolation(model: VAE, z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Decode evenly spaced points on the line between two codes: [steps, 1, 28, 28]; smooth morphs show a continuous latent space."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    z = (1 - t) * z_start.detach().cpu().float().reshape(1, -1) + t * z_end.detach().cpu().float().reshape(1, -1)
    return _decode_probabilities(model, z)


def latent_traversal(model: VAE, base_z: torch.Tensor, dims: Sequence[int], values: torch.Tensor) -> torch.Tensor:
    """Decode ``base_z`` with one coordinate at a time set to each of ``values``: [len(dims), len(values), 1, 28, 28].

    Shows what each latent dimension controls. ``values`` are absolute coordinates,
    not offsets from ``base_z`` (the prior's scale, e.g. -3..3, makes them comparable).
    """
    values = torch.as_tensor(values, dtype=torch.float32).flatten()
    z = base_z.detach().cpu().float().reshape(1, 1, -1).repeat(len(dims), len(values), 1)
    for row, dim in enumerate(dims):
        z[row, :, dim] = values
    return _decode_probabilities(model, z.reshape(-1, z.shape[-1])).reshape(len(dims), len(values), 1, 28, 28)


# ---------------------------------------------------------------------------
# Judge classifier
# ---------------------------------------------------------------------------

CLASSIFIER_FORMAT = 1


class DigitClassifier(nn.Module):
    """An independent CNN (about 99.2% on MNIST test) that judges whether a generated image shows the intended digit.

    Trained on real MNIST only, it never sees the VAE, so its verdict on generated
    digits is not biased towards the VAE's own latent clusters.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),  # 28 -> 26
            nn.Conv2d(32, 32, 3), nn.ReLU(),  # 26 -> 24
            nn.MaxPool2d(2),  # 24 -> 12
            nn.Conv2d(32, 64, 3), nn.ReLU(),  # 12 -> 10
            nn.Conv2d(64, 64, 3), nn.ReLU(),  # 10 -> 8
            nn.MaxPool2d(2),  # 8 -> 4
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, N_DIGITS),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10] for images [N, 1, 28, 28] in [0, 1]."""
        return self.net(x)


def train_classifier(
    train: MNISTTensors,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    device: str = "auto",
    progress: bool = True,
    lr: float = 1e-3,
) -> DigitClassifier:
    """Train the judge with Adam on preloaded tensors; weights, shuffling and dropout are all fixed by ``seed``."""
    device = resolve_device(device)
    # Initialisation and dropout draw from torch's global generator; forking it
    # fixes them by ``seed`` without disturbing the caller's random state.
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = DigitClassifier().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        images, labels = train.images.to(device), train.labels.to(device)
        n_batches = math.ceil(len(images) / batch_size)
        model.train()
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(images), generator=generator).to(device)
            bar = tqdm(
                range(n_batches), desc=f"classifier epoch {epoch}/{epochs}", leave=False,
                mininterval=1.0, disable=not progress,
            )
            for step in bar:
                idx = order[step * batch_size : (step + 1) * batch_size]
                loss = F.cross_entropy(model(images[idx]), labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step % 50 == 0:  # reading the loss syncs a GPU, so only now and then
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


@torch.no_grad()
def classify(model: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Predicted digit [N] for images [N, 1, 28, 28] in [0, 1]."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    predictions = [
        model(images[start : start + batch_size].to(device)).argmax(dim=1).cpu()
        for start in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(predictions).numpy()


def classifier_accuracy(model: nn.Module, data: MNISTTensors) -> float:
    """Fraction of ``data`` the classifier gets right."""
    return float(np.mean(classify(model, data.images) == data.labels.numpy()))


def load_or_train_classifier(
    path: str | os.PathLike,
    train_data: MNISTTensors,
    test_data: MNISTTensors,
    epochs: int = 3,
    seed: int = 0,
    min_accuracy: float | None = 0.99,
    device: str = "auto",
    progress: bool = True,
) -> tuple[DigitClassifier, float]:
    """Return the judge and its test accuracy, training and saving it once so every notebook uses the same judge.

    An existing file at ``path`` is loaded (its test accuracy is measured again on
    ``test_data``). A judge below ``min_accuracy`` raises RuntimeError, because a
    weak judge would blame its own mistakes on the VAE; ``min_accuracy=None``
    skips the check for smoke tests on tiny subsets.
    """
    path = Path(path)
    model: DigitClassifier
    if path.exists():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != CLASSIFIER_FORMAT:
            raise RuntimeError(f"'{path}' is not a judge classifier file (format {CLASSIFIER_FORMAT}); delete it to retrain")
        model = DigitClassifier()
        model.load_state_dict(payload["model"])
        model = model.to(resolve_device(device)).eval()
        accuracy = classifier_accuracy(model, test_data)
        source = f"loaded from '{path}' (trained {payload.get('epochs')} epochs, seed {payload.get('seed')})"
        saved = True
    else:
        model = train_classifier(train_data, epochs, seed, device=device, progress=progress)
        accuracy = classifier_accuracy(model, test_data)
        source = f"trained for {epochs} epochs with seed {seed}"
        saved = False
    if min_accuracy is not None and accuracy < min_accuracy:
        fix = f"delete '{path}' and " if saved else ""
        raise RuntimeError(
            f"the judge classifier ({source}) reaches {accuracy:.2%} test accuracy, below the required "
            f"{min_accuracy:.2%}; {fix}train it longer (e.g. epochs={epochs + 2})."
        )
    if not saved:
        payload = {
            "format": CLASSIFIER_FORMAT,
            "model": {name: value.cpu() for name, value in model.state_dict().items()},
            "test_accuracy": accuracy,
            "epochs": epochs,
            "seed": seed,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    return model, accuracy


def judge_generated(classifier: nn.Module, images: torch.Tensor) -> pd.DataFrame:
    """Per intended digit (row d of ``images`` [10, n, 1, 28, 28]), how often the judge sees digit d, and the commonest mistake.

    Columns: digit, samples, correct, accuracy (fraction), most_common_wrong
    (-1 when there is no mistake) and most_common_wrong_count.
    """
    n_rows, n = images.shape[:2]
    predicted = classify(classifier, images.reshape(-1, 1, 28, 28)).reshape(n_rows, n)
    rows = []
    for digit in range(n_rows):
        wrong = predicted[digit][predicted[digit] != digit]
        wrong_counts = np.bincount(wrong, minlength=N_DIGITS)
        correct = int(n - len(wrong))
        rows.append({
            "digit": digit,
            "samples": n,
            "correct": correct,
            "accuracy": correct / n,
            "most_common_wrong": int(wrong_counts.argmax()) if len(wrong) else -1,
            "most_common_wrong_count": int(wrong_counts.max()) if len(wrong) else 0,
        })
    return pd.DataFrame(rows)


def judged_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of ``judge_generated``: the mean hides a bad digit, so the minimum and worst digit come with it."""
    worst = df.loc[df["accuracy"].idxmin()]
    return {
        "mean_accuracy": float(df["accuracy"].mean()),
        "min_accuracy": float(worst["accuracy"]),
        "worst_digit": int(worst["digit"]),
    }


def judged_comparison(judged: pd.DataFrame, judged_prior: pd.DataFrame) -> pd.DataFrame:
    """Per-digit judged accuracy of cluster sampling beside the seed's prior sampling, with a mean row."""
    table = pd.DataFrame({
        "digit": judged["digit"].astype(str),
        "cluster sampling": judged["accuracy"],
        "commonest mistake": [
            "-" if w < 0 else f"{w} ({c})" for w, c in zip(judged["most_common_wrong"], judged["most_common_wrong_count"])
        ],
        "prior N(0, I), row titled d": judged_prior["accuracy"],
    })
    mean = {"digit": "mean", "cluster sampling": judged["accuracy"].mean(), "commonest mistake": "",
            "prior N(0, I), row titled d": judged_prior["accuracy"].mean()}
    return pd.concat([table, pd.DataFrame([mean])], ignore_index=True)


def likelihood_table(elbo: dict[str, float], iw_nll: float, k: int, n_images: int) -> pd.DataFrame:
    """Negative ELBO and importance-weighted -log p(x) side by side, with the sample counts stated."""
    return pd.DataFrame([
        {"estimate": "negative ELBO (1 sample per image)", "nats per image": elbo["loss"], "test images": n_images},
        {"estimate": f"importance-weighted -log p(x), K = {k}", "nats per image": iw_nll, "test images": n_images},
        {"estimate": "gap (ELBO - IW)", "nats per image": elbo["loss"] - iw_nll, "test images": n_images},
    ])


def latent_results(
    metrics10: dict[str, dict[str, float]],
    sweep: pd.DataFrame,
    n_clusters: int,
    judged: pd.DataFrame,
    judged_prior: pd.DataFrame,
    judge_accuracy: float,
    temperature: float,
    judged_t1: dict[str, Any],
    elbo: dict[str, float],
    iw_nll: float,
    iw_samples: int,
    iw_images: int,
    n_active: int,
    model_info: dict[str, Any],
) -> dict[str, Any]:
    """All headline numbers of the latent-space notebook in plain types, for latent_metrics.json and the report."""
    return {
        "model": {k: model_info.get(k) for k in ("epoch", "best_epoch", "stop_reason", "wall_seconds")},
        "clustering_k10": metrics10,
        "k_sweep": sweep.to_dict(orient="records"),
        "sampler_clusters": n_clusters,
        "sampler_temperature": temperature,
        "judged_temperature_1": judged_t1,
        "judge_test_accuracy": judge_accuracy,
        "judged": {
            "samples_per_digit": int(judged["samples"].iloc[0]),
            "per_digit": judged["accuracy"].round(4).tolist(),
            **judged_summary(judged),
        },
        "judged_prior": {"per_digit": judged_prior["accuracy"].round(4).tolist(), **judged_summary(judged_prior)},
        "test_negative_elbo": elbo["loss"],
        "test_iw_nll": iw_nll,
        "iw_samples": iw_samples,
        "likelihood_images": iw_images,
        "active_units": n_active,
    }


def course_report_comparison(results: dict[str, Any]) -> pd.DataFrame:
    """The seed report's claims next to what this project measured."""
    judged, prior = results["judged"], results["judged_prior"]
    model = results["model"]
    rows = [
        ("architecture", "conv VAE, z = 15, 1,234,143 parameters", "same model, 1,234,143 parameters (checked by tests)"),
        ("training", "up to 1250 epochs, patience 10, ~2.7 GPU hours",
         f"{model['epoch']} epochs (best {model['best_epoch']}), {model['stop_reason']}, "
         f"{(model['wall_seconds'] or 0) / 3600:.2f} h"),
        ("loss", "training loss 'around 90'",
         f"test negative ELBO {results['test_negative_elbo']:.1f}, IW -log p(x) {results['test_iw_nll']:.1f} nats"),
        ("5 images per digit", "random prior samples titled by row",
         f"cluster sampling (k = {results['sampler_clusters']}, temperature {results['sampler_temperature']:g}); "
         f"judged {judged['mean_accuracy']:.1%} correct (worst digit {judged['worst_digit']}: "
         f"{judged['min_accuracy']:.1%}), {judged['samples_per_digit']} samples per digit"),
        ("prior samples, rows titled 0-9", "presented as per-digit samples",
         f"judged {prior['mean_accuracy']:.1%} 'correct': chance level"),
        ("test set", "not evaluated", "held out; validation split used for early stopping"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "course report", "this project"])


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


def show_table(
    df: pd.DataFrame, caption: str, float_digits: int = 2, column_format: str | None = None
) -> None:
    """Display a table as HTML in JupyterLab and as a LaTeX (booktabs) table in the PDF report.

    ``column_format`` is LaTeX's column spec, e.g. ``"lp{0.6\\linewidth}"`` to wrap long text.
    """
    from IPython.display import display

    text = format_table(df, float_digits)
    tabular = text.to_latex(index=False, escape=True, column_format=column_format)
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


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Save a figure atomically (PNG, 150 dpi) so an interrupted run never leaves a broken image."""
    path = project_path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    return path


def plot_class_balance(labels: torch.Tensor, title: str) -> Figure:
    """Bar chart of images per digit: shows whether any class needs reweighting (MNIST: no)."""

    counts = pd.Series(labels.numpy()).value_counts().reindex(DIGITS, fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sns.barplot(x=counts.index, y=counts.values, ax=ax, color="tab:blue")
    ax.set(title=title, xlabel="digit", ylabel="images")
    for i, value in enumerate(counts.values):
        ax.text(i, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
    return fig


def plot_examples_per_digit(data: MNISTTensors, per_digit: int, seed: int, title: str) -> Figure:
    """A grid with one row per digit of randomly chosen training images."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in DIGITS:
        idx = torch.nonzero(data.labels == digit).flatten()
        rows.append(data.images[idx[torch.randperm(len(idx), generator=generator)[:per_digit]]])
    return plot_image_grid(torch.stack(rows), title, [f"digit {d}" for d in DIGITS])


def plot_mean_images(data: MNISTTensors, title: str) -> Figure:
    """The average image of each digit: the 'prototype' a blurry decoder tends towards."""
    means = torch.stack([data.images[data.labels == d].mean(0) for d in DIGITS]).unsqueeze(1)
    return plot_image_grid(means.transpose(0, 1), title, None, column_labels=[str(d) for d in DIGITS])


def plot_intensity_histogram(images: torch.Tensor, title: str) -> Figure:
    """Histogram of pixel values: MNIST is mostly 0 and 1, which is why a Bernoulli decoder fits."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(images.flatten().numpy(), bins=50, color="tab:blue", log=True)
    ax.set(title=title, xlabel="pixel intensity (0 = black, 1 = white)", ylabel="pixels (log scale)")
    return fig


def plot_image_grid(
    images: torch.Tensor,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> Figure:
    """Show a [rows, columns, 1, 28, 28] tensor as one labelled mosaic of grey images."""
    rows, cols = images.shape[:2]
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1.4, 0.6 * rows + 0.8))
    _show_mosaic(ax, images, row_labels, column_labels)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_title(title)
    return fig


def plot_loss_curves(history: pd.DataFrame, title: str = "Training curves") -> Figure:
    """Total, reconstruction and KL terms per epoch for train and validation (nats per image)."""
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
def plot_reconstructions(model: VAE, images: torch.Tensor, title: str) -> Figure:
    """Test digits (top row) above their reconstructions sigmoid(decode(mu)) (bottom row)."""
    model.eval()
    device = _model_device(model)
    mu, _ = model.encode(images.to(device))
    recon = torch.sigmoid(model.decode(mu)).cpu()
    return plot_image_grid(torch.stack([images.cpu(), recon]), title, ["original", "reconstruction"])


FIGURE_DPI = 150
TARGET_ACCURACY = 0.95


def _mosaic(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Tile images [R, C, 1, H, W] into one array with white (1.0) gaps, so a single imshow draws a whole grid fast."""
    images = images.detach().cpu().float()
    rows, cols, _, height, width = images.shape
    canvas = np.ones((rows * (height + pad) - pad, cols * (width + pad) - pad), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + pad), c * (width + pad)
            canvas[top : top + height, left : left + width] = images[r, c, 0].numpy()
    return canvas


def _show_mosaic(
    ax: plt.Axes,
    images: torch.Tensor,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    pad: int = 2,
) -> None:
    """Draw a tiled grid with ticks at the centre of each row and column instead of pixel coordinates."""
    rows, cols, _, height, width = images.shape
    # MNIST's own look (white strokes on black); the white gaps then separate the black tiles.
    ax.imshow(_mosaic(images, pad), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (height + pad) + height / 2 - 0.5 for r in range(rows)])
    ax.set_yticklabels(row_labels if row_labels is not None else [])
    ax.set_xticks([c * (width + pad) + width / 2 - 0.5 for c in range(cols)] if col_labels is not None else [])
    if col_labels is not None:
        ax.set_xticklabels(col_labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_digit_grid(images: torch.Tensor, title: str, row_labels: Sequence[str] | None = None) -> Figure:
    """One row of generated samples per digit [R, n, 1, 28, 28]: the report's main picture of per-digit generation."""
    labels = row_labels if row_labels is not None else [f"digit {d}" for d in range(images.shape[0])]
    return plot_image_grid(images, title, labels, xlabel="sample")


def plot_confusion(
    assigned: np.ndarray,
    labels: np.ndarray,
    title: str,
    xlabel: str = "assigned digit",
    ylabel: str = "true digit",
) -> Figure:
    """Heatmap of counts, true digit by assigned digit (or cluster id): shows which digits the clusters merge."""
    assigned, labels = np.asarray(assigned), np.asarray(labels)
    table = pd.crosstab(pd.Series(labels, name=ylabel), pd.Series(assigned, name=xlabel))
    columns = sorted(set(table.columns) | set(range(N_DIGITS)))
    table = table.reindex(index=range(N_DIGITS), columns=columns, fill_value=0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(columns) + 1.5), 5.5))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar_kws={"label": "images"}, ax=ax, annot_kws={"size": 7})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(title)
    return fig


def plot_judged_accuracy(
    df_vae: pd.DataFrame,
    df_prior: pd.DataFrame | None = None,
    title: str = "Judge classifier accuracy on generated digits",
    names: tuple[str, str] = ("cluster sampling", "prior N(0, I) (seed report)"),
) -> Figure:
    """Per-digit judge accuracy of cluster sampling beside prior sampling, against the 95% target and 10% chance."""
    frames = [df_vae.assign(method=names[0])]
    if df_prior is not None:
        frames.append(df_prior.assign(method=names[1]))
    data = pd.concat(frames, ignore_index=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.barplot(data=data, x="digit", y="accuracy", hue="method", ax=ax, palette=["tab:blue", "tab:gray"][: len(frames)])
    ax.axhline(TARGET_ACCURACY, color="tab:green", linestyle="--", linewidth=1, label=f"target {TARGET_ACCURACY:.0%}")
    ax.axhline(1 / N_DIGITS, color="tab:red", linestyle=":", linewidth=1, label="chance 10%")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("intended digit")
    ax.set_ylabel("judged correct")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def plot_latent_projection(
    latents_2d: np.ndarray,
    labels: np.ndarray,
    centres_2d: np.ndarray | None,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    """Scatter of 2-D projected latent means coloured by true digit, cluster centres as black crosses."""
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7, 6))
    palette = sns.color_palette("tab10", N_DIGITS)
    for digit in range(N_DIGITS):
        points = latents_2d[labels == digit]
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.4, color=palette[digit], label=str(digit), rasterized=True)
    if centres_2d is not None:
        ax.scatter(
            centres_2d[:, 0], centres_2d[:, 1], marker="X", s=90, color="black",
            edgecolors="white", linewidths=0.8, label="cluster centre",
        )
    legend = ax.legend(title="digit", fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for handle in legend.legend_handles[:N_DIGITS]:  # legend dots readable although the points are tiny and faint
        handle.set_sizes([30])
        handle.set_alpha(1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def plot_traversal(images: torch.Tensor, dims: Sequence[int], values: torch.Tensor, title: str) -> Figure:
    """Grid of ``latent_traversal`` output [len(dims), len(values), 1, 28, 28]: one row per latent dimension."""
    values = torch.as_tensor(values).flatten().tolist()
    rows, cols = images.shape[:2]
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1.2, 0.6 * rows + 0.9))
    _show_mosaic(ax, images, [f"z[{d}]" for d in dims], [f"{v:g}" for v in values])
    ax.set_xlabel("value of the latent coordinate")
    ax.set_ylabel("latent dimension")
    ax.set_title(title)
    return fig


def plot_kl_per_dimension(kl: np.ndarray, threshold: float, title: str) -> Figure:
    """Bar per latent dimension of its mean KL, dimensions under ``threshold`` greyed as inactive."""
    kl = np.asarray(kl)
    colors = ["tab:blue" if value > threshold else "tab:gray" for value in kl]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.4 * len(kl) + 1.5), 3.5))
    ax.bar(np.arange(len(kl)), kl, color=colors)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g} nats")
    ax.set_xticks(np.arange(len(kl)))
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("mean KL (nats per image)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_k_sweep(df: pd.DataFrame, title: str = "Clustering quality against the number of clusters k") -> Figure:
    """Majority accuracy, purity, NMI and ARI against k, train and test: more clusters buy accuracy until they overfit."""
    metrics = [m for m in ("accuracy_majority", "purity", "nmi", "ari") if m in df.columns]
    long = df.melt(id_vars=["k", "split"], value_vars=metrics, var_name="metric", value_name="score")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="k", y="score", hue="metric", style="split", markers=True, dashes=True, ax=ax)
    ax.set_xticks(sorted(df["k"].unique()))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig

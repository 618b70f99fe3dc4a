"""The judge: a CNN trained on real MNIST only, and the metrics that measure generated digits with it.

Correctness (judged accuracy) and diversity (precision, recall, density, coverage, Fréchet distance) per digit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import joblib
import numpy as np
import pandas as pd
import scipy.stats
import torch
import torch.nn.functional as F
from prdc.prdc import compute_pairwise_distance, get_kth_value
from torch import nn
from tqdm import tqdm

from .data import N_DIGITS, MNISTTensors, batched, shuffled_batches, to_images
from .keys import content_key, file_digest, state_digest, tensor_digest
from .model import eval_mode, model_device
from .paths import atomic_path, project_path
from .run import RunFolder
from .runtime import resolve_device

__all__ = [
    "DigitClassifier", "RealFeatures", "class_agnostic_frechet", "classify", "digit_statistics", "fit_classifier",
    "frechet_distance", "generation_quality", "judge_generated", "judge_pass", "kept_judge_features",
    "load_or_train_judge", "prdc",
    "real_features", "train_judge", "wilson_interval",
]

PRDC_NEAREST_K = 5  # k of Naeem et al. (2020)
# The judge's features of large image sets, kept per judge and images (machine-local, never committed: 28 MB each).
FEATURE_CACHE = "build/cache/judge_features"


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927), via ``scipy.stats.binomtest``.

    Every judged accuracy is a proportion of ``n`` judged images, so it carries binomial noise; unlike the
    normal approximation, Wilson's interval stays inside [0, 1] and keeps its width near 0% and 100%, where
    the judged accuracies live. ``n == 0`` gives (NaN, NaN): nothing was judged.
    """
    if n == 0:
        return float("nan"), float("nan")
    interval = scipy.stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence,
                                                                           method="wilson")
    return float(interval.low), float(interval.high)


class DigitClassifier(nn.Module):
    """An independent CNN (about 99% on MNIST test) that judges whether a generated image shows the intended digit.

    Trained on real MNIST only, it never sees the VAE, so its verdict on generated
    digits is not biased towards the VAE's own latent clusters. Its 128-d
    penultimate layer is the feature space of the diversity metrics.
    """

    num_features = 128  # width of the penultimate layer: the feature space of the diversity metrics

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),  # 28 -> 26
            nn.Conv2d(32, 32, 3), nn.ReLU(),  # 26 -> 24
            nn.MaxPool2d(2),  # 24 -> 12
            nn.Conv2d(32, 64, 3), nn.ReLU(),  # 12 -> 10
            nn.Conv2d(64, 64, 3), nn.ReLU(),  # 10 -> 8
            nn.MaxPool2d(2),  # 8 -> 4
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(64 * 4 * 4, self.num_features), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(self.num_features, N_DIGITS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features [N, 128] for images [N, 1, 28, 28] in [0, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.body(x))


def fit_classifier(
    model: nn.Module, train_set: MNISTTensors, epochs: int, generator: torch.Generator, batch_size: int = 128,
    lr: float = 1e-3, augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: bool = True, name: str = "judge",
) -> nn.Module:
    """Train a digit classifier with Adam on cross-entropy over shuffled batches: the loop both judges share.

    ``generator`` fixes the batch order (and ``augment``'s draws, made after each batch's indices); the caller
    seeds initialisation and dropout. Returns the model in eval mode.
    """
    device = model_device(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    images, labels = train_set.images.to(device), train_set.labels.to(device)
    model.train()
    for epoch in range(1, epochs + 1):
        batches = shuffled_batches(len(images), batch_size, generator)
        total = -(-len(images) // batch_size)
        with tqdm(batches, total=total, desc=f"{name} epoch {epoch}/{epochs}", leave=False,
                  mininterval=1.0, disable=not progress) as bar:
            for step, index in enumerate(bar):
                index = index.to(device)
                batch = images[index] if augment is None else augment(images[index], generator)
                loss = F.cross_entropy(model(batch), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step % 50 == 0:  # reading the loss syncs a GPU, so only now and then
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def train_judge(
    train_set: MNISTTensors, epochs: int, seed: int, batch_size: int = 128, device: str = "auto",
    progress: bool = True, lr: float = 1e-3,
) -> DigitClassifier:
    """Train the judge with Adam on preloaded tensors; weights, shuffling and dropout are all fixed by ``seed``."""
    device = resolve_device(device)
    # Initialisation and dropout draw from torch's global generator; forking it
    # fixes them by ``seed`` without disturbing the caller's random state.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = DigitClassifier().to(device)
        return fit_classifier(model, train_set, epochs, torch.Generator().manual_seed(seed), batch_size, lr,
                              progress=progress)


def judge_pass(judge: DigitClassifier, images: torch.Tensor, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Features float32 [N, 128] and predicted digits [N] of any tensor of whole images, in one pass of the judge.

    The metrics need the features and the verdicts of the same images; one pass serves both. The judge is the
    analysis' most frequent network: small batches in channels-last (the layout ``load_or_train_judge`` gives its
    weights) keep its activations in cache, which on a CPU judges about twice as fast as batches of 512
    (``benchmarks/analysis_parts.py``).
    """
    device = model_device(judge)
    features, predicted = [], []
    with eval_mode(judge):
        for batch in batched(to_images(images), batch_size):
            hidden = judge.features(batch.to(device).contiguous(memory_format=torch.channels_last))
            features.append(hidden.float().cpu())
            predicted.append(judge.head(hidden).argmax(dim=1).cpu())
    return torch.cat(features).numpy(), torch.cat(predicted).numpy()


def _features_key(judge: nn.Module, images: torch.Tensor) -> str:
    """The key of ``judge_pass``'s features: the judge's weights, the images and this module's code."""
    return content_key(kind="judge_features", judge=state_digest(judge.state_dict()),
                       images=tensor_digest(images.float()), code=file_digest(__file__))


def kept_judge_features(judge: DigitClassifier, images: torch.Tensor,
                        cache_dir: str | Path = FEATURE_CACHE) -> np.ndarray:
    """``judge_pass(judge, images)`` features, kept on disk by a digest of the judge's weights and the images.

    The data-copying test needs the judge's features of all 55,000 training images for every run it analyses
    (about 11 s on two CPU cores each time), and they depend only on the judge and the images, which every run of
    a protocol shares. A missing or unreadable file is computed again.
    """
    path = project_path(cache_dir) / f"{_features_key(judge, images)}.npy"
    try:
        kept = np.load(path)
        if kept.shape == (len(images), DigitClassifier.num_features):
            return kept
    except (OSError, ValueError):
        pass
    features = judge_pass(judge, images)[0]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, features)
    return features


def classify(judge: DigitClassifier, images: torch.Tensor) -> np.ndarray:
    """Predicted digit [N] for any tensor of whole images ([N, 1, 28, 28], [10, n, 1, 28, 28], ...)."""
    return judge_pass(judge, images)[1]


def load_or_train_judge(
    run: RunFolder, train_set: MNISTTensors, test_set: MNISTTensors, epochs: int = 3, seed: int = 0,
    min_accuracy: float | None = 0.99, device: str = "auto", progress: bool = True,
) -> tuple[DigitClassifier, RealFeatures]:
    """Return the judge and the real reference it measures against (``test_set`` in its features, with its
    accuracy there), training and saving the judge once so every notebook uses the same judge.

    A judge saved in the run folder is loaded (its test accuracy is measured again on
    ``test_set``). A judge below ``min_accuracy`` raises RuntimeError, because a
    weak judge would blame its own mistakes on the VAE; ``min_accuracy=None``
    skips the check for smoke tests on tiny subsets.
    """
    saved = run.has_judge()
    if saved:
        judge = DigitClassifier()
        facts = run.load_judge(judge)
        judge = judge.to(resolve_device(device)).eval()
        source = f"loaded from '{run.shown}' (trained {facts.get('epochs')} epochs, seed {facts.get('seed')})"
    else:
        judge = train_judge(train_set, epochs, seed, device=device, progress=progress)
        source = f"trained for {epochs} epochs with seed {seed}"
    judge = judge.to(memory_format=torch.channels_last)  # faster kernels, same function
    reference = real_features(judge, test_set)
    accuracy = reference.accuracy
    if min_accuracy is not None and accuracy < min_accuracy:
        fix = f"delete '{run.JUDGE}' in '{run.shown}' and " if saved else ""
        raise RuntimeError(
            f"the judge ({source}) reaches {accuracy:.2%} test accuracy, below the required "
            f"{min_accuracy:.2%}; {fix}train it longer (e.g. judge_epochs={epochs + 2})."
        )
    if not saved:
        run.save_judge(judge, test_accuracy=accuracy, epochs=epochs, seed=seed)
    return judge, reference


def judge_generated(judge: DigitClassifier, images: torch.Tensor) -> pd.DataFrame:
    """Per intended digit (row d of ``images`` [10, n, 1, 28, 28]): how often the judge sees d; the commonest error."""
    n_rows, n = images.shape[:2]
    predicted = classify(judge, images).reshape(n_rows, n)
    rows = []
    for digit in range(n_rows):
        wrong = predicted[digit][predicted[digit] != digit]
        wrong_counts = np.bincount(wrong, minlength=N_DIGITS)
        rows.append({
            "digit": digit, "samples": n, "correct": int(n - len(wrong)), "accuracy": (n - len(wrong)) / n,
            "most_common_wrong": int(wrong_counts.argmax()) if len(wrong) else -1,
            "most_common_wrong_count": int(wrong_counts.max()) if len(wrong) else 0,
        })
    return pd.DataFrame(rows)


class DigitStatistics(NamedTuple):
    """One digit's real reference in the judge's features, computed once for every comparison."""

    features: np.ndarray  # [n, 128]
    radii: np.ndarray  # [n], distance of each real image to its k-th nearest real neighbour (PRDC)
    mean: np.ndarray  # [128]
    covariance: np.ndarray  # [128, 128]


def _pairwise(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """``prdc``'s Euclidean distances, on joblib's sequential backend.

    prdc asks sklearn for 8 distance threads; the sequential backend computes the same distances in
    one call (its BLAS still uses every core), without sklearn's thread-pool warnings.
    """
    with joblib.parallel_config(backend="sequential"):
        return compute_pairwise_distance(x, y)


def digit_statistics(features: np.ndarray, nearest_k: int = PRDC_NEAREST_K) -> DigitStatistics:
    """The real side of PRDC and of the Fréchet distance for one digit's real features."""
    features = np.asarray(features, dtype=np.float32)
    radii = get_kth_value(_pairwise(features), k=nearest_k + 1, axis=-1)  # +1: each image is its own nearest
    return DigitStatistics(features, radii, features.mean(axis=0, dtype=np.float64),
                           np.cov(features, rowvar=False, dtype=np.float64))


def prdc(real: DigitStatistics, fake_features: np.ndarray, nearest_k: int = PRDC_NEAREST_K) -> dict[str, float]:
    """Precision, recall, density and coverage of generated against real features (Naeem et al. 2020).

    Precision and density: how much of the generated set lies on the real manifold; recall and
    coverage: how much of the real manifold the generated set reaches. The formulas of ``prdc``'s
    ``compute_prdc``, with the real radii computed once per digit instead of once per call.
    """
    fake_radii = get_kth_value(_pairwise(fake_features), k=nearest_k + 1, axis=-1)
    real_fake = _pairwise(real.features, fake_features)  # [n_real, n_fake]
    inside_real = real_fake < real.radii[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((real_fake < fake_radii[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / nearest_k),
        "coverage": float((real_fake.min(axis=1) < real.radii).mean()),
    }


def _psd_square_root(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix, from its eigendecomposition (negative rounding clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(real: DigitStatistics, fake_features: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017).

    ||m_r - m_f||^2 + Tr(C_r + C_f - 2 (C_r C_f)^(1/2)), in the judge's features, so it is not FID. The trace of
    the root is the sum of the square roots of the eigenvalues of C_r^(1/2) C_f C_r^(1/2), a symmetric matrix
    with the same eigenvalues as C_r C_f: two symmetric eigendecompositions, defined also when a covariance is
    singular (a feature that never fires), and five times faster than a general matrix square root.
    """
    fake_features = np.asarray(fake_features, dtype=np.float64)
    mean, covariance = fake_features.mean(axis=0), np.cov(fake_features, rowvar=False)
    real_root = _psd_square_root(real.covariance)
    cross = np.linalg.eigvalsh(real_root @ covariance @ real_root)
    trace_root = np.sum(np.sqrt(np.clip(cross, 0.0, None)))
    value = np.sum((real.mean - mean) ** 2) + np.trace(real.covariance) + np.trace(covariance) - 2 * trace_root
    return max(float(value), 0.0)


def class_agnostic_frechet(judge: nn.Module, generated: torch.Tensor, reference: RealFeatures) -> float:
    """The Fréchet distance of all generated images, whatever digit each was asked to be, to all real test digits.

    The per-digit distance compares row d with real d's, so a sampler that ignores the digit (the course report's)
    is far from every digit by construction; pooled, its samples can still look like MNIST as a whole.
    """
    features = reference.features.astype(np.float64)
    pooled = DigitStatistics(reference.features, np.empty(0), features.mean(axis=0), np.cov(features, rowvar=False))
    return frechet_distance(pooled, judge_pass(judge, generated)[0])


class RealFeatures(NamedTuple):
    """The reference set (real test digits) in the judge's feature space, with each digit's statistics."""

    features: np.ndarray  # [N, 128]
    labels: np.ndarray  # [N]
    accuracy: float  # the judge's accuracy on these images, from the same pass
    digits: list[DigitStatistics]  # per digit 0-9

    @property
    def n_images(self) -> int:
        """How many real images the judge's accuracy was measured on: the ``n`` of its binomial interval."""
        return len(self.labels)

    def accuracy_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson interval of the judge's accuracy on these images (a judge at 99% on 10,000 images: about ±0.2%)."""
        return wilson_interval(round(self.accuracy * self.n_images), self.n_images, confidence)


def real_features(judge: DigitClassifier, real: MNISTTensors) -> RealFeatures:
    """Judge features of the real reference images with their labels, the judge's accuracy on them, and each
    digit's statistics: one pass of the judge over the test split serves all of them."""
    features, predicted = judge_pass(judge, real.images)
    labels = real.labels.numpy()
    digits = [digit_statistics(features[labels == digit]) for digit in range(N_DIGITS)]
    return RealFeatures(features, labels, float(np.mean(predicted == labels)), digits)


def _accuracy_row(correct: int, n: int) -> dict[str, float]:
    """A judged accuracy with its Wilson interval and the number of images it counts."""
    low, high = wilson_interval(correct, n)
    return {"accuracy": correct / n, "accuracy_low": low, "accuracy_high": high, "samples": n}


def generation_quality(judge: DigitClassifier, generated: torch.Tensor, reference: RealFeatures) -> pd.DataFrame:
    """Per digit: judged accuracy (with its 95% Wilson interval and the ``samples`` judged), PRDC and Fréchet
    distance of row d of ``generated`` against the real images of d.

    ``generated`` is [10, n, 1, 28, 28] with row d meant to show digit d. One row per digit plus a
    mean row. The mean row averages the other metrics, but its accuracy interval comes from the pooled
    counts of all ten digits (``samples`` = 10 n there): averaging ten intervals' bounds would overstate
    the uncertainty of the mean by about sqrt(10).
    """
    fake, predicted = judge_pass(judge, generated)
    n_rows, n = generated.shape[:2]
    fake, predicted = fake.reshape(n_rows, n, -1), predicted.reshape(n_rows, n)
    correct = [int(np.sum(predicted[digit] == digit)) for digit in range(N_DIGITS)]
    rows = []
    for digit in range(N_DIGITS):
        rows.append({
            "digit": str(digit),
            **_accuracy_row(correct[digit], n),
            **prdc(reference.digits[digit], fake[digit]),
            "frechet": frechet_distance(reference.digits[digit], fake[digit]),
        })
    table = pd.DataFrame(rows)
    mean = {"digit": "mean", **table.drop(columns="digit").mean().to_dict(),
            **_accuracy_row(sum(correct), N_DIGITS * n)}
    return pd.concat([table, pd.DataFrame([mean])], ignore_index=True)

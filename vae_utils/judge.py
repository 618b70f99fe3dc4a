"""The judge: a CNN trained on real MNIST only, and the metrics that measure generated digits with it.

Correctness (judged accuracy) and diversity (precision, recall, density, coverage, Fréchet distance) per digit.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import joblib
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import load_module_weights, load_payload
from .data import N_DIGITS, MNISTTensors, batched, shuffled_batches, to_images
from .model import VAE, eval_mode, model_device
from .paths import atomic_path, display_path
from .sampling import DigitSampler, PriorSampler, generate_digits
from .runtime import resolve_device

JUDGE_FORMAT = 1
PRDC_NEAREST_K = 5  # k of Naeem et al. (2020)


class DigitClassifier(nn.Module):
    """An independent CNN (about 99% on MNIST test) that judges whether a generated image shows the intended digit.

    Trained on real MNIST only, it never sees the VAE, so its verdict on generated
    digits is not biased towards the VAE's own latent clusters. Its 128-d
    penultimate layer is the feature space of the diversity metrics.
    """

    num_features = 128  # read by torchmetrics' Fréchet distance

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


class _Features(nn.Identity):
    """Features computed beforehand, passed through: torchmetrics' Fréchet distance then only does the statistics."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def train_classifier(
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
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        images, labels = train_set.images.to(device), train_set.labels.to(device)
        model.train()
        for epoch in range(1, epochs + 1):
            batches = shuffled_batches(len(images), batch_size, generator)
            total = -(-len(images) // batch_size)
            with tqdm(batches, total=total, desc=f"judge epoch {epoch}/{epochs}", leave=False,
                      mininterval=1.0, disable=not progress) as bar:
                for step, index in enumerate(bar):
                    index = index.to(device)
                    loss = F.cross_entropy(model(images[index]), labels[index])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    if step % 50 == 0:  # reading the loss syncs a GPU, so only now and then
                        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def classify(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Predicted digit [N] for any tensor of whole images ([N, 1, 28, 28], [10, n, 1, 28, 28], ...)."""
    device = model_device(model)
    with eval_mode(model):
        predicted = [model(batch.to(device)).argmax(dim=1).cpu() for batch in batched(to_images(images), batch_size)]
    return torch.cat(predicted).numpy()


def judge_features(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """The judge's penultimate-layer features, float32 [N, 128], for any tensor of whole images."""
    device = model_device(model)
    with eval_mode(model):
        out = [model.features(batch.to(device)).cpu() for batch in batched(to_images(images), batch_size)]
    return torch.cat(out).numpy().astype(np.float32)


def classifier_accuracy(model: DigitClassifier, data: MNISTTensors) -> float:
    """Fraction of ``data`` the classifier gets right."""
    return float(np.mean(classify(model, data.images) == data.labels.numpy()))


def _save_judge(model: DigitClassifier, path: Path, accuracy: float, epochs: int, seed: int) -> None:
    """Write the judge atomically so every notebook run uses the same one."""
    payload = {
        "format": JUDGE_FORMAT,
        "model": {name: value.cpu() for name, value in model.state_dict().items()},
        "test_accuracy": accuracy, "epochs": epochs, "seed": seed,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_or_train_classifier(
    path: str | os.PathLike, train_set: MNISTTensors, test_set: MNISTTensors, epochs: int = 3, seed: int = 0,
    min_accuracy: float | None = 0.99, device: str = "auto", progress: bool = True,
) -> tuple[DigitClassifier, float]:
    """Return the judge and its test accuracy, training and saving it once so every notebook uses the same judge.

    An existing file at ``path`` is loaded (its test accuracy is measured again on
    ``test_set``). A judge below ``min_accuracy`` raises RuntimeError, because a
    weak judge would blame its own mistakes on the VAE; ``min_accuracy=None``
    skips the check for smoke tests on tiny subsets.
    """
    path = Path(path)
    if path.exists():
        payload = load_payload(path, "judge classifier", JUDGE_FORMAT)
        model = DigitClassifier()
        load_module_weights(model, payload, path, "judge classifier")
        model = model.to(resolve_device(device)).eval()
        source = f"loaded from '{display_path(path)}' (trained {payload.get('epochs')} epochs, seed {payload.get('seed')})"
    else:
        model = train_classifier(train_set, epochs, seed, device=device, progress=progress)
        source = f"trained for {epochs} epochs with seed {seed}"
    accuracy = classifier_accuracy(model, test_set)
    if min_accuracy is not None and accuracy < min_accuracy:
        fix = f"delete '{display_path(path)}' and " if path.exists() else ""
        raise RuntimeError(
            f"the judge classifier ({source}) reaches {accuracy:.2%} test accuracy, below the required "
            f"{min_accuracy:.2%}; {fix}train it longer (e.g. classifier_epochs={epochs + 2})."
        )
    if not path.exists():
        _save_judge(model, path, accuracy, epochs, seed)
    return model, accuracy


def judge_generated(classifier: DigitClassifier, images: torch.Tensor) -> pd.DataFrame:
    """Per intended digit (row d of ``images`` [10, n, 1, 28, 28]), how often the judge sees digit d, and the commonest mistake."""
    n_rows, n = images.shape[:2]
    predicted = classify(classifier, images).reshape(n_rows, n)
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


def judged_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of ``judge_generated``: the mean hides a bad digit, so the minimum and worst digit come with it."""
    worst = df.loc[df["accuracy"].idxmin()]
    return {"mean_accuracy": float(df["accuracy"].mean()), "min_accuracy": float(worst["accuracy"]),
            "worst_digit": int(worst["digit"])}


def prdc(real_features: np.ndarray, fake_features: np.ndarray, nearest_k: int = PRDC_NEAREST_K) -> dict[str, float]:
    """Precision, recall, density and coverage of generated against real features (Naeem et al. 2020, ``prdc``).

    Precision and density: how much of the generated set lies on the real manifold;
    recall and coverage: how much of the real manifold the generated set reaches.
    """
    from prdc import compute_prdc

    # prdc asks sklearn for 8 distance threads; the sequential backend computes the same distances in one call
    # (its BLAS still uses every core), without sklearn's thread-pool warnings or oversubscribing small machines.
    with contextlib.redirect_stdout(io.StringIO()), joblib.parallel_config(backend="sequential"):
        values = compute_prdc(real_features=real_features, fake_features=fake_features, nearest_k=nearest_k)
    return {name: float(value) for name, value in values.items()}


def frechet_distance(real_features: np.ndarray, fake_features: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between two feature sets (torchmetrics' FID statistics, in the judge's features).

    When a covariance is singular (a feature that never fires), ``eps`` is added to
    both diagonals so the matrix square root stays defined; identical sets still give 0.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance, _compute_fid

    metric = FrechetInceptionDistance(feature=_Features(real_features.shape[1]))
    metric.update(torch.from_numpy(real_features).double(), real=True)
    metric.update(torch.from_numpy(fake_features).double(), real=False)
    stats = []
    for kind in ("real", "fake"):
        n = getattr(metric, f"{kind}_features_num_samples")
        mean = getattr(metric, f"{kind}_features_sum") / n
        cov = (getattr(metric, f"{kind}_features_cov_sum") - n * torch.outer(mean, mean)) / (n - 1)
        stats.append((mean, cov))
    (mean_real, cov_real), (mean_fake, cov_fake) = stats
    if min(torch.linalg.eigvalsh(cov_real).min(), torch.linalg.eigvalsh(cov_fake).min()) <= eps:
        identity = eps * torch.eye(len(cov_real), dtype=cov_real.dtype)
        cov_real, cov_fake = cov_real + identity, cov_fake + identity
    return max(float(_compute_fid(mean_real, cov_real, mean_fake, cov_fake)), 0.0)


class RealFeatures(NamedTuple):
    """The reference set in the judge's feature space, computed once for every comparison."""

    features: np.ndarray  # [N, 128]
    labels: np.ndarray  # [N]


def real_features(judge: DigitClassifier, real: MNISTTensors) -> RealFeatures:
    """Judge features of the real reference images (the test split), with their labels."""
    return RealFeatures(judge_features(judge, real.images), real.labels.numpy())


def generation_quality(
    judge: DigitClassifier, generated: torch.Tensor, reference: RealFeatures, nearest_k: int = PRDC_NEAREST_K,
) -> pd.DataFrame:
    """Per digit: judged accuracy, PRDC and Fréchet distance of row d of ``generated`` against the real images of d.

    ``generated`` is [10, n, 1, 28, 28] with row d meant to show digit d. One row
    per digit plus a mean row.
    """
    fake = judge_features(judge, generated)
    with eval_mode(judge):  # the head on the features: one pass of the judge gives verdicts and features
        predicted = judge.head(torch.from_numpy(fake).to(model_device(judge))).argmax(dim=1).cpu().numpy()
    n_rows, n = generated.shape[:2]
    fake, predicted = fake.reshape(n_rows, n, -1), predicted.reshape(n_rows, n)
    rows = []
    for digit in range(N_DIGITS):
        own = reference.features[reference.labels == digit]
        rows.append({
            "digit": str(digit),
            "accuracy": float(np.mean(predicted[digit] == digit)),
            **prdc(own, fake[digit], nearest_k),
            "frechet": frechet_distance(own, fake[digit]),
        })
    table = pd.DataFrame(rows)
    mean = {"digit": "mean", **table.drop(columns="digit").mean().to_dict()}
    return pd.concat([table, pd.DataFrame([mean])], ignore_index=True)


def real_digits(data: MNISTTensors, n_per_digit: int, seed: int) -> torch.Tensor:
    """``n_per_digit`` random real images of every digit as [10, n, 1, 28, 28]: the floor generated digits are held to."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in range(N_DIGITS):
        own = torch.nonzero(data.labels == digit).flatten()
        rows.append(data.images[own[torch.randperm(len(own), generator=generator)[:n_per_digit]]])
    n = min(len(r) for r in rows)
    return torch.stack([r[:n] for r in rows])


def summarise_quality(quality: pd.DataFrame) -> dict[str, Any]:
    """The mean row of ``generation_quality`` plus the worst digit's accuracy, as plain numbers."""
    per_digit = quality[quality["digit"] != "mean"]
    worst = per_digit.loc[per_digit["accuracy"].idxmin()]
    mean = quality[quality["digit"] == "mean"].iloc[0]
    return {
        **{name: float(mean[name]) for name in ("accuracy", "precision", "recall", "density", "coverage", "frechet")},
        "min_accuracy": float(worst["accuracy"]), "worst_digit": int(worst["digit"]),
    }


def compare_samplers(
    model: VAE, judge: DigitClassifier, samplers: list[DigitSampler | PriorSampler], temperatures: list[float],
    n_per_digit: int, seed: int, reference: RealFeatures,
) -> pd.DataFrame:
    """Every sampler at every temperature, scored on one sampling seed: one row of mean metrics each."""
    rows = []
    for sampler in tqdm(samplers, desc="samplers", leave=False):
        missing = sampler.missing_digits()
        for temperature in temperatures:
            row = {"sampler": sampler.name, "temperature": float(temperature), "missing digits": "",
                   "tied to digits": isinstance(sampler, DigitSampler)}
            if missing:  # it cannot be asked for these digits at all: no numbers, and never chosen
                rows.append({**row, "missing digits": ", ".join(map(str, missing))})
                continue
            generated = generate_digits(model, sampler, n_per_digit, seed, temperature)
            rows.append({**row, **summarise_quality(generation_quality(judge, generated, reference))})
    return pd.DataFrame(rows)


def choose_operating_point(comparison: pd.DataFrame, min_digit_accuracy: float, min_mean_accuracy: float) -> pd.Series:
    """The rule, applied to a comparison on the tuning seed: the highest mean recall among the settings where
    every digit is judged at least ``min_digit_accuracy`` correct and the mean at least ``min_mean_accuracy``.

    When no setting qualifies (an undertrained model, a smoke run) the closest one, the highest worst-digit
    accuracy, is returned with ``meets_rule`` False and a warning, so the notebook still finishes and says so
    instead of presenting it as a success."""
    # Only samplers that tie digits to latent regions compete (the prior's row titles are decoration);
    # NaN rows (samplers missing a digit) fail both comparisons.
    tied = comparison[comparison["tied to digits"] & comparison["min_accuracy"].notna()]
    if tied.empty:
        raise ValueError("no sampler tied to digits could draw every digit; lower min_purity or add clusters")
    eligible = tied[(tied["min_accuracy"] >= min_digit_accuracy) & (tied["accuracy"] >= min_mean_accuracy)]
    if eligible.empty:
        closest = tied.loc[tied["min_accuracy"].idxmax()]
        warnings.warn(
            f"no sampler and temperature reaches {min_digit_accuracy:.1%} on every digit and {min_mean_accuracy:.1%} "
            f"on average; showing the closest setting, {closest['sampler']} at temperature "
            f"{closest['temperature']:g} (worst digit {closest['min_accuracy']:.1%}). Train longer, add lower "
            "temperatures or more clusters.", stacklevel=2)
        return pd.concat([closest, pd.Series({"meets_rule": False})])
    return pd.concat([eligible.loc[eligible["recall"].idxmax()], pd.Series({"meets_rule": True})])

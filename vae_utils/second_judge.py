"""The second judge: a classifier of another family (an MLP trained on shifted, rotated and scaled digits) that
re-scores generated digits but never takes part in choosing a sampler. Used by notebook 04.

The first judge (``judge.py``, a CNN) both selects the sampler and scores it; a sampler could look good only to
the classifier that chose it. A second opinion with other inductive biases (no convolution, no pooling, another
augmentation) tests that.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data import IMAGE_SHAPE, N_DIGITS, MNISTTensors
from .judge import classify, fit_classifier, wilson_interval
from .run import RunFolder
from .runtime import resolve_device

__all__ = ["MLPJudge", "SecondJudge", "judge_agreement", "load_or_train_second_judge", "random_affine",
           "second_opinion", "train_second_judge"]

# The augmentation: each training image is rotated, shifted and scaled by its own random amount, every epoch.
MAX_ROTATION_DEGREES = 12.0
MAX_SHIFT_PIXELS = 2.0
SCALE_RANGE = (0.9, 1.1)


class MLPJudge(nn.Module):
    """784 -> 512 -> 256 -> 10, ReLU, dropout 0.2: a multilayer perceptron with 535,818 parameters.

    ``features`` and ``head`` mirror the CNN judge's interface, so ``judge.classify`` serves both.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
        )
        self.head = nn.Linear(256, N_DIGITS)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer [N, 256] (contiguous input: the first layer flattens the image)."""
        return self.body(x.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.features(x))


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image rotated by up to ±12°, shifted by up to ±2 pixels and scaled by 0.9-1.1, all drawn per image.

    One batched ``affine_grid``/``grid_sample`` instead of a transform per image: the same augmentation as
    torchvision's ``RandomAffine`` at a fraction of the cost.
    """
    n = len(images)
    draw = torch.rand(4, n, generator=generator).to(images.device)
    angle = (2 * draw[0] - 1) * math.radians(MAX_ROTATION_DEGREES)
    scale = SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * draw[1]
    shift = (2 * draw[2:] - 1) * MAX_SHIFT_PIXELS * 2 / IMAGE_SHAPE[-1]  # pixels in grid units ([-1, 1] spans 28)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def train_second_judge(
    train_set: MNISTTensors, epochs: int, seed: int, batch_size: int = 128, device: str = "auto",
    progress: bool = True, lr: float = 1e-3,
) -> MLPJudge:
    """Train the MLP with Adam on augmented training images; weights, order, dropout and augmentation fixed by seed."""
    device = resolve_device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = MLPJudge().to(device)
        return fit_classifier(model, train_set, epochs, torch.Generator().manual_seed(seed), batch_size, lr,
                              augment=random_affine, progress=progress, name="second judge")


class SecondJudge(NamedTuple):
    """The trained MLP with what the report says of it: its test accuracy and interval, epochs and seed."""

    model: MLPJudge
    test_accuracy: float
    test_images: int
    epochs: int
    seed: int

    def accuracy_interval(self) -> tuple[float, float]:
        """Wilson interval of the test accuracy."""
        return wilson_interval(round(self.test_accuracy * self.test_images), self.test_images)


def load_or_train_second_judge(
    run: RunFolder, train_set: MNISTTensors, test_set: MNISTTensors, epochs: int = 15, seed: int = 0,
    device: str = "auto", progress: bool = True,
) -> SecondJudge:
    """The second judge saved in ``run`` (its test accuracy measured again), or a new one trained and saved there."""
    model = MLPJudge()
    if run.has_judge(RunFolder.SECOND_JUDGE):
        facts = run.load_judge(model, RunFolder.SECOND_JUDGE)
        epochs, seed = int(facts.get("epochs", epochs)), int(facts.get("seed", seed))
        model = model.to(resolve_device(device)).eval()
    else:
        model = train_second_judge(train_set, epochs, seed, device=device, progress=progress)
    accuracy = float(np.mean(classify(model, test_set.images) == test_set.labels.numpy()))
    if not run.has_judge(RunFolder.SECOND_JUDGE):
        run.save_judge(model, RunFolder.SECOND_JUDGE, test_accuracy=accuracy, epochs=epochs, seed=seed)
    return SecondJudge(model, accuracy, len(test_set.labels), epochs, seed)


def second_opinion(judge: nn.Module, generated: torch.Tensor) -> dict[str, Any]:
    """The second judge's accuracy on generated digits [10, n, 1, 28, 28]: the mean and the worst digit's."""
    n_rows, n = generated.shape[:2]
    predicted = classify(judge, generated).reshape(n_rows, n)
    per_digit = (predicted == np.arange(n_rows)[:, None]).mean(axis=1)
    return {"judge2_accuracy": float(per_digit.mean()), "judge2_min_accuracy": float(per_digit.min()),
            "judge2_worst_digit": int(per_digit.argmin())}


def judge_agreement(first: nn.Module, second: nn.Module, generated: torch.Tensor) -> pd.DataFrame:
    """Per asked-for digit: each judge's accuracy with its interval, how often the two give the same verdict, and
    the images that only one of them accepts. One row per digit and a pooled mean row."""
    n_rows, n = generated.shape[:2]
    one = classify(first, generated).reshape(n_rows, n)
    two = classify(second, generated).reshape(n_rows, n)
    asked = np.arange(n_rows)[:, None]
    rows = []
    for digit in range(n_rows):
        rows.append(_agreement_row(str(digit), one[digit], two[digit], asked[digit]))
    rows.append(_agreement_row("mean", one.ravel(), two.ravel(), np.broadcast_to(asked, one.shape).ravel()))
    return pd.DataFrame(rows)


def _agreement_row(digit: str, one: np.ndarray, two: np.ndarray, asked: np.ndarray) -> dict[str, Any]:
    """One row of ``judge_agreement`` from the two judges' verdicts on the same images."""
    right_one, right_two = one == asked, two == asked
    low_one, high_one = wilson_interval(int(right_one.sum()), len(one))
    low_two, high_two = wilson_interval(int(right_two.sum()), len(two))
    return {"digit": digit, "samples": len(one),
            "judge1": float(right_one.mean()), "judge1_low": low_one, "judge1_high": high_one,
            "judge2": float(right_two.mean()), "judge2_low": low_two, "judge2_high": high_two,
            "same_verdict": float((one == two).mean()),
            "only_judge1": int((right_one & ~right_two).sum()), "only_judge2": int((right_two & ~right_one).sum())}


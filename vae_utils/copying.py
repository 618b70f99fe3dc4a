"""The data-copying test of Meehan, Chaudhuri & Dasgupta (2020): are generated digits closer to the training images
than new digits are? Used by notebook 04.

Each generated digit and each held-out reference digit gets the distance to its nearest training image. The training
set is cut into cells by k-means; in each cell a Mann-Whitney test compares the two sets of distances (Z < 0: the
generated ones are closer), and C_T is the average Z over the cells weighted by the reference's share of each cell.
C_T near 0 means no more copying than new data shows; the authors read C_T well below 0 (here: below -3) as copying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import scipy.stats
import torch
from sklearn.cluster import KMeans
from tqdm import tqdm

from . import checks
from .data import N_DIGITS

__all__ = ["COPYING_THRESHOLD", "ClosestPairs", "CopyingCase", "CopyingSpace", "Neighbours", "copying_positive_control",
           "data_copying", "flat_pixels"]

COPYING_THRESHOLD = -3.0  # C_T below this: generated digits sit closer to the training images than new data does
MIN_PER_CELL = 20  # a cell enters C_T only with at least this many generated and reference points
CELL_FIT_POINTS = 10_000  # training points the k-means cells are fitted on


def flat_pixels(images: torch.Tensor) -> torch.Tensor:
    """Any tensor of whole images as [N, 784] float32 rows: the pixel space of the test."""
    return images.reshape(-1, 28 * 28).float()


class Neighbours(NamedTuple):
    """Each point's distance to its nearest training point, that point's index, and the point's cell."""

    distances: np.ndarray
    index: np.ndarray
    cells: np.ndarray


@dataclass
class CopyingSpace:
    """The training points of one space (pixels or the judge's features) with their k-means cells."""

    train: torch.Tensor  # [M, D] float32
    kmeans: KMeans

    @classmethod
    def fit(cls, train: torch.Tensor | np.ndarray, n_cells: int = 50, seed: int = 0,
            fit_points: int = CELL_FIT_POINTS) -> CopyingSpace:
        """Cut the training points' space into ``n_cells`` k-means cells, fitted on ``fit_points`` of them drawn at
        random (one k-means++ start: cells only need to be local, not optimal). On the main run, cells fitted on
        10,000 points moved every C_T by at most 0.2 from cells fitted on all 55,000, in a quarter of the time.
        Every training point still counts as a neighbour."""
        train = torch.as_tensor(train, dtype=torch.float32)
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(train), size=min(fit_points, len(train)), replace=False)
        kmeans = KMeans(n_clusters=n_cells, n_init=1, random_state=seed).fit(train[np.sort(sample)].numpy())
        return cls(train, kmeans)

    def neighbours(self, points: torch.Tensor | np.ndarray, batch_size: int = 256) -> Neighbours:
        """Nearest training point of every point, in batches: argmin over t of |t|^2 - 2 q.t is one fused matrix
        product per batch, and |q|^2 is added to the minimum only (it does not change which t is nearest)."""
        points = torch.as_tensor(points, dtype=torch.float32)
        train_sq = self.train.pow(2).sum(1)
        distances, index = [], []
        for start in range(0, len(points), batch_size):
            batch = points[start:start + batch_size]
            best, where = torch.addmm(train_sq, batch, self.train.T, alpha=-2).min(dim=1)
            distances.append((best + batch.pow(2).sum(1)).clamp_min(0).sqrt())
            index.append(where)
        cells = self.kmeans.predict(points.numpy())
        return Neighbours(torch.cat(distances).numpy(), torch.cat(index).numpy(), cells)

    def statistic(self, reference: Neighbours, generated: Neighbours, min_per_cell: int = MIN_PER_CELL
                  ) -> dict[str, Any]:
        """C_T of ``generated`` against ``reference`` with the cells that hold enough of both, and the medians.

        Per cell, Z = (U - m n / 2) / sqrt(m n (m + n + 1) / 12) with U the Mann-Whitney count of (generated,
        reference) pairs where the generated distance is the larger; the weights are the reference's shares.
        """
        z_scores, weights, used = [], [], []
        for cell in range(self.kmeans.n_clusters):
            ours = generated.distances[generated.cells == cell]
            theirs = reference.distances[reference.cells == cell]
            m, n = len(ours), len(theirs)
            if m < min_per_cell or n < min_per_cell:
                continue
            u = scipy.stats.mannwhitneyu(ours, theirs, alternative="two-sided").statistic
            z_scores.append((u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12))
            weights.append(n / len(reference.distances))
            used.append(cell)
        covered = float(np.isin(generated.cells, used).mean())
        value = float(np.average(z_scores, weights=weights)) if z_scores else float("nan")
        return {"c_t": value, "copying": bool(value < COPYING_THRESHOLD), "cells_used": len(z_scores),
                "cells": int(self.kmeans.n_clusters), "generated_share_in_cells_used": covered,
                "generated_median_distance": float(np.median(generated.distances)),
                "reference_median_distance": float(np.median(reference.distances))}


class CopyingCase(NamedTuple):
    """One generated set and the held-out references it is tested against (each [10, n, 1, 28, 28] or [N, 1, 28, 28]).

    Real test digits are the plain reference; reconstructions of the same test digits share the decoder's smoothing,
    so that a smooth image's closeness to everything is not read as copying.
    """

    name: str
    generated: torch.Tensor
    references: dict[str, torch.Tensor]


class ClosestPairs(NamedTuple):
    """The generated digits nearest to a training image in pixels, their training neighbours and the distances."""

    generated: torch.Tensor  # [n, 1, 28, 28]
    neighbours: torch.Tensor  # [n, 1, 28, 28]
    distances: np.ndarray  # [n]


def _closest_order(distances: np.ndarray, generated: torch.Tensor, n_closest: int) -> np.ndarray:
    """Which generated images to show as closest pairs: the closest of each digit when ``generated`` comes by digit
    ([10, n, 1, 28, 28]), so that the thin, simple ones (which lie closest to everything) do not fill every place;
    else the ``n_closest`` closest overall."""
    if generated.dim() == 5:
        per_digit = distances.reshape(generated.shape[0], generated.shape[1])
        return np.arange(generated.shape[0]) * generated.shape[1] + per_digit.argmin(axis=1)
    return np.argsort(distances)[:n_closest]


def data_copying(train_images: torch.Tensor, features: Callable[[torch.Tensor], np.ndarray],
                 cases: Sequence[CopyingCase], n_cells: int = 50, seed: int = 0, n_closest: int = 10,
                 train_features: np.ndarray | None = None) -> tuple[pd.DataFrame, dict[str, ClosestPairs]]:
    """C_T of every case against every reference, in pixels and in the judge's features (``features`` maps images
    to [N, D]), with the training images the model was fitted on; and each case's closest pairs in pixels (the
    closest of each digit).

    The cells of each space are fitted once on the training images and serve every case. ``train_features``:
    ``features(train_images)`` when already at hand (``kept_judge_features``), so it is not computed again.
    """
    spaces: dict[str, Callable[[torch.Tensor], Any]] = {"pixels": flat_pixels, "judge features": features}
    rows, closest = [], {}
    for space_name, embed in tqdm(spaces.items(), desc="data-copying spaces", leave=False):
        kept = train_features is not None and space_name == "judge features"
        space = CopyingSpace.fit(train_features if kept else embed(train_images), n_cells, seed)
        references: dict[int, Neighbours] = {}  # one neighbour search per distinct reference tensor
        for case in cases:
            found = space.neighbours(embed(case.generated))
            for reference_name, reference in case.references.items():
                if id(reference) not in references:
                    references[id(reference)] = space.neighbours(embed(reference))
                rows.append({"generated": case.name, "space": space_name, "reference": reference_name,
                             **space.statistic(references[id(reference)], found)})
            if space_name == "pixels":
                order = _closest_order(found.distances, case.generated, n_closest)
                flat = case.generated.reshape(-1, 1, 28, 28)
                closest[case.name] = ClosestPairs(flat[order], train_images[found.index[order]],
                                                  found.distances[order])
    return pd.DataFrame(rows), closest


def copying_positive_control(train_images: torch.Tensor, train_labels: torch.Tensor | np.ndarray, n_per_digit: int,
                             seed: int, noise_sd: float = 0.05) -> torch.Tensor:
    """A generator that copies by construction, [10, n_per_digit, 1, 28, 28]: row d holds ``n_per_digit`` training
    images of digit d (drawn without replacement) plus Gaussian pixel noise of sd ``noise_sd``, clamped to [0, 1].

    The data-copying test's positive control: a C_T well below ``COPYING_THRESHOLD`` for it, against the same cells
    and references as the samples, shows that the statistic can see copying, so a C_T near 0 for the samples means
    something. The noise keeps the copies from being exact, as a model that memorised its training images would.
    """
    checks.check_int("n_per_digit", n_per_digit, low=1)
    checks.check_int("seed", seed)
    checks.check_number("noise_sd", noise_sd, low=0)
    labels = torch.as_tensor(train_labels).reshape(-1)
    images = train_images.reshape(-1, 1, 28, 28).float()
    if len(labels) != len(images):
        raise ValueError(f"train_labels must give one digit per training image: {len(labels)} labels for "
                         f"{len(images)} images")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in range(N_DIGITS):
        members = torch.nonzero(labels == digit).flatten()
        if len(members) < n_per_digit:
            raise ValueError(f"digit {digit} has {len(members)} training images, fewer than n_per_digit = "
                             f"{n_per_digit}; lower n_per_digit to at most {len(members)} or pass more images")
        rows.append(images[members[torch.randperm(len(members), generator=generator)[:n_per_digit]]])
    copies = torch.stack(rows)
    return (copies + noise_sd * torch.randn(copies.shape, generator=generator)).clamp(0, 1)

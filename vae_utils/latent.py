"""The latent space: encode images, cluster the codes and name clusters after digits, and measure what the codes hold.

Also the importance-weighted likelihood, interpolations and traversals that look inside the model.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from tqdm import tqdm

from . import checks
from .data import IMAGE_SHAPE, N_DIGITS, batched
from .keys import content_key, file_digest, tensor_digest
from .model import VAE, condition, eval_mode, kl_divergence, model_device
from .run import RunFolder

__all__ = [
    "METRIC_NAMES", "active_units", "cluster_sweep", "clustering_metrics", "decode_probabilities", "digit_means",
    "encode_gaussian", "encode_means", "evaluate_clusters", "fit_cluster_family", "fit_clusters",
    "hungarian_accuracy", "importance_weighted_nll", "kept_importance_weighted_nll", "kl_per_dimension",
    "label_clusters", "latent_interpolation", "latent_traversal", "project_pca", "project_tsne",
]

LOG_2PI = math.log(2 * math.pi)

# The clustering metrics as readers see them (``evaluate_clusters`` keys -> names in tables and figure legends).
METRIC_NAMES = {
    "accuracy_hungarian": "accuracy (Hungarian)", "accuracy_majority": "accuracy (majority)", "purity": "purity",
    "nmi": "NMI", "ari": "ARI",
}


def _label_batches(labels: torch.Tensor | None, batch_size: int) -> Iterator[torch.Tensor | None]:
    """The labels cut like the images they go with (``batched``), or None for every batch without labels."""
    return iter(batched(labels, batch_size)) if labels is not None else itertools.repeat(None)


def encode_gaussian(
    model: VAE, images: torch.Tensor, batch_size: int = 1024, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and log-variance of q(z|x) (q(z|x, y) for the conditional VAE) for many images, on the CPU."""
    device = model_device(model)
    mus, logvars = [], []
    label_batches = _label_batches(labels, batch_size)
    with eval_mode(model):
        for batch in batched(images, batch_size):
            extra = condition(model, next(label_batches))
            mu, logvar = model.encode(batch.to(device).contiguous(memory_format=torch.channels_last), *extra)
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
    return torch.cat(mus), torch.cat(logvars)


def encode_means(model: VAE, images: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Posterior means E_q[z|x] as float64 [N, z]: the deterministic code of each image that clustering uses."""
    return encode_gaussian(model, images, batch_size)[0].double().numpy()


def decode_probabilities(
    model: VAE, z: torch.Tensor | np.ndarray, batch_size: int = 1024, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Pixel probabilities sigmoid(decoder(z)), [N, 1, 28, 28], on the CPU; the conditional VAE is given ``labels``."""
    device = model_device(model)
    z = torch.as_tensor(z, dtype=torch.float32)
    label_batches = _label_batches(labels, batch_size)
    with eval_mode(model):
        out = [torch.sigmoid(model.decode(batch.to(device), *condition(model, next(label_batches)))).float().cpu()
               for batch in batched(z, batch_size)]
    return torch.cat(out) if out else torch.empty(0, *IMAGE_SHAPE)


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
    penalises a digit split over several clusters.
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
    unless there are exactly 10 clusters. Purity uses each cluster's majority on the
    images passed in, so on the training set it equals 'accuracy_majority'.
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

    def predict_digit(self, latents: np.ndarray) -> np.ndarray:
        """The digit named by the cluster each code falls in (-1 for an unnamed cluster)."""
        return self.cluster_to_digit[self.kmeans.predict(np.asarray(latents, dtype=np.float64))]


def fit_clusters(latents: np.ndarray, labels: np.ndarray, k: int, seed: int) -> ClusterFit:
    """k-means on training latents, each cluster named by majority vote.

    One k-means++ start (scikit-learn's default): ten starts cost ten times as long and lowered the
    inertia by less than 0.1% at k = 100 and 200 on this model's codes.
    """
    checks.check_int("k", k, low=1, high=len(latents))
    kmeans = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit(np.asarray(latents, dtype=np.float64))
    return ClusterFit(kmeans, label_clusters(kmeans.labels_, np.asarray(labels), k))


def evaluate_clusters(fit: ClusterFit, latents: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Clustering metrics of ``fit`` on any split (cluster names always come from the training set)."""
    ids = fit.kmeans.predict(np.asarray(latents, dtype=np.float64))
    return clustering_metrics(ids, fit.cluster_to_digit, np.asarray(labels), fit.k)


def fit_cluster_family(
    latents: np.ndarray, labels: np.ndarray, k_values: Sequence[int], seed: int
) -> dict[int, ClusterFit]:
    """k-means for each k in ``k_values``, once: the sweep, the k = 10 analysis and the samplers share the fits."""
    return {k: fit_clusters(latents, labels, k, seed) for k in tqdm(sorted(set(k_values)), desc="k-means", leave=False)}


def cluster_sweep(
    fits: Mapping[int, ClusterFit], train_latents: np.ndarray, train_labels: np.ndarray, test_latents: np.ndarray,
    test_labels: np.ndarray,
) -> pd.DataFrame:
    """Clustering metrics for several k on train and test: shows what over-clustering buys."""
    rows = []
    for k, fit in sorted(fits.items()):
        digits_named = len(set(fit.cluster_to_digit.tolist()) - {-1})
        for split, latents, labels in (("train", train_latents, train_labels), ("test", test_latents, test_labels)):
            metrics = evaluate_clusters(fit, latents, labels)
            rows.append({"k": k, "split": split, "digits named": digits_named, **metrics})
    return pd.DataFrame(rows)


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


def project_tsne(latents: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE of latent codes: neighbourhoods are kept, distances between groups are not."""
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(
        np.asarray(latents, dtype=np.float64)
    )


def digit_means(latents: np.ndarray, labels: np.ndarray, digits: Sequence[int]) -> list[torch.Tensor]:
    """Mean training code of each digit in ``digits`` (end points for interpolations)."""
    latents, labels = np.asarray(latents), np.asarray(labels)
    return [torch.from_numpy(latents[labels == digit].mean(axis=0)).float() for digit in digits]


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> np.ndarray:
    """Mean KL(q(z_u|x) || N(0, 1)) per latent dimension [z] in nats, from ``encode_gaussian``'s output:
    near-zero dimensions carry no information."""
    return kl_divergence(mu, logvar).double().mean(dim=0).numpy()


def active_units(means: np.ndarray, threshold: float = 0.01) -> tuple[int, np.ndarray]:
    """Count dimensions whose posterior mean varies across images (Burda et al. 2016: Cov_x(E_q[z_u]) > 0.01).

    ``means``: ``encode_means``'s codes [N, z]. Returns (number of active units, variance of the
    mean per dimension [z]). A dimension whose mean is the same for every image is ignored by the decoder.
    """
    variance = np.asarray(means).var(axis=0)
    return int((variance > threshold).sum()), variance


# Decoder rows per call in the importance-weighted estimate: K draws of a whole batch at once (6,400 rows) fall out
# of the CPU's cache and decode about 20% slower than the same draws in pieces of about 640 rows.
_IW_DECODE_ROWS = 640


def _bernoulli_log_likelihood(model: VAE, x: torch.Tensor, z: torch.Tensor,
                              labels: torch.Tensor | None) -> torch.Tensor:
    """log p(x|z), summed over pixels, of images ``x`` [B, 1, 28, 28] under codes ``z`` [draws, B, z]: [draws, B]."""
    extra = condition(model, None if labels is None else labels.repeat(len(z)))  # draw-major: [draws * B, z]
    logits = model.decode(z.reshape(-1, z.shape[-1]), *extra).reshape(len(z), *x.shape)
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.flatten(2).sum(-1)


def importance_weighted_nll(
    model: VAE, images: torch.Tensor, k: int = 100, batch_size: int = 64, seed: int = 0, progress: bool = True,
    labels: torch.Tensor | None = None,
) -> float:
    """Estimate -log p(x) in nats per image with ``k`` importance samples from q(z|x) (Burda et al. 2016).

    For the conditional VAE (given ``labels``) the same estimate is of -log p(x|y): a likelihood of the image
    given its digit, which is not comparable with the unconditional model's -log p(x).

    The negative ELBO only bounds -log p(x) from above; this estimate is tighter
    (never above the ELBO in expectation, converging to -log p(x) as k grows), so
    the gap shows how much the ELBO understates the model. The Bernoulli
    likelihood is applied to grey-level pixels as in training, so the number is
    comparable with ``evaluate``'s negative ELBO, not with binarised-MNIST papers.
    """
    checks.check_int("k", k, low=1)
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)  # CPU noise: the same draws on every device
    total = 0.0
    n_batches = math.ceil(len(images) / batch_size)
    label_batches = _label_batches(labels, batch_size)
    with eval_mode(model):
        for x in tqdm(batched(images, batch_size), total=n_batches, desc=f"IW-NLL (k={k})", leave=False,
                      disable=not progress):
            x = x.to(device)
            y = next(label_batches)
            mu, logvar = model.encode(x, *condition(model, y))
            eps = torch.randn((k, *mu.shape), generator=generator).to(device=device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps  # [k, B, z]
            log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
            log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            y = None if y is None else y.to(device)
            draws = max(1, _IW_DECODE_ROWS // len(x))
            log_lik = torch.cat([_bernoulli_log_likelihood(model, x, z_part, y) for z_part in z.split(draws)])
            log_w = (log_lik + log_prior - log_q).double()  # [k, B]
            total -= (torch.logsumexp(log_w, dim=0) - math.log(k)).sum().item()
    return total / len(images)


def _likelihood_key(run: RunFolder, images: torch.Tensor, k: int, seed: int) -> str:
    """The key of an importance-weighted estimate: the run's weights file, the images, K, the noise seed, and the
    code of the estimator and the network."""
    code = {path.name: file_digest(path) for path in (Path(__file__), Path(__file__).with_name("model.py"))}
    return content_key(kind="likelihood", weights=file_digest(run.file(RunFolder.WEIGHTS)),
                       images=tensor_digest(images), k=k, seed=seed, code=code)


def kept_importance_weighted_nll(run: RunFolder, model: VAE, images: torch.Tensor, k: int = 100, seed: int = 0,
                                 progress: bool = True) -> tuple[float, bool]:
    """``importance_weighted_nll`` of the run's exported weights (``model``) on ``images``, kept in the run folder.

    The estimate costs K decoder passes per image (about 100 s for the 10,000 test digits on two CPU cores) and
    depends only on the weights, the images, K, the seed and this code, so an analysis run again for any other
    reason reads it back. Returns (estimate, True when it was read back rather than computed).
    """
    key = _likelihood_key(run, images, k, seed)
    kept = run.read_likelihood()
    if kept is not None and kept.get("key") == key:
        return float(kept["test_iw_nll"]), True
    estimate = importance_weighted_nll(model, images, k=k, seed=seed, progress=progress)
    run.write_likelihood({"key": key, "test_iw_nll": estimate, "iw_samples": k, "images": len(images),
                          "seed": seed})
    return estimate, False


def latent_interpolation(model: VAE, z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Decode evenly spaced points between two codes: [steps, 1, 28, 28] (a morph along the straight line)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    z = (1 - t) * z_start.detach().cpu().float().reshape(1, -1) + t * z_end.detach().cpu().float().reshape(1, -1)
    return decode_probabilities(model, z)


def latent_traversal(model: VAE, base_z: torch.Tensor, dims: Sequence[int], values: torch.Tensor) -> torch.Tensor:
    """Decode ``base_z`` with one coordinate at a time set to each of ``values``: [len(dims), len(values), 1, 28, 28].

    Shows what each latent dimension controls. ``values`` are absolute coordinates,
    not offsets from ``base_z`` (the prior's scale, e.g. -3..3, makes them comparable).
    """
    values = torch.as_tensor(values, dtype=torch.float32).flatten()
    z = torch.as_tensor(base_z, dtype=torch.float32).reshape(1, 1, -1).repeat(len(dims), len(values), 1)
    for row, dim in enumerate(dims):
        z[row, :, dim] = values
    return decode_probabilities(model, z.reshape(-1, z.shape[-1])).reshape(len(dims), len(values), *IMAGE_SHAPE)

"""Wall times of the parts that dominate a cold analysis (notebook 04) on this machine, each beside the alternative
it was chosen over, so that the choice can be checked again on other hardware.

    python benchmarks/analysis_parts.py [--run-dir models]

Prints: the judge on 5,000 digits in batches of 64 and of 512 (channels-last); the decoder with its one-channel
last layer as a matrix product and a fold, and as the stock transposed convolution; the importance-weighted estimate
per test image (K = 100) with its draws decoded in pieces of about 640 rows and all at once; the 100-component
mixture fit; the judge's features of the 55,000 training images computed and read back; the data-copying test's
k-means cells fitted on 10,000 or on all training images, and its nearest-neighbour search in pixels. Uses the run
folder's saved judge and weights (run notebooks 03 and 04 first).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import vae_utils as vu  # noqa: E402
from vae_utils import latent  # noqa: E402
from vae_utils.copying import CopyingSpace, flat_pixels  # noqa: E402


def seconds(work: Callable[[], object], repeats: int = 2) -> float:
    """One warm-up call, then the mean wall time of ``repeats`` calls."""
    work()
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - started) / repeats


def judge_batches(judge: vu.judge.DigitClassifier, images: torch.Tensor) -> None:
    """The judge on the same digits in the batch size it uses and in the one it used before."""
    for batch_size in (64, 512):
        taken = seconds(lambda: vu.judge_pass(judge, images, batch_size=batch_size))
        print(f"judge, {len(images):,} digits in batches of {batch_size}: {taken:.2f} s")


def stock_layers(model: vu.VAE) -> vu.VAE:
    """A copy of ``model`` whose project layers are nn's stock ones again (same weights, same function)."""
    stock = copy.deepcopy(model)
    for layer in [*stock.encoder, *stock.decoder]:
        if type(layer) in (vu.model.Conv2d, vu.model.ConvTranspose2d):
            layer.__class__ = type(layer).__bases__[0]
    return stock


def decoder_layers(model: vu.VAE) -> None:
    """The decoder on 6,400 codes in pieces of 640, with the project's layers and with nn's stock layers."""
    codes = torch.randn(6400, model.z_dim, generator=torch.Generator().manual_seed(0))
    networks = {"project layers (one-channel layer folded)": model, "stock nn layers": stock_layers(model)}
    for name, network in networks.items():
        taken = seconds(lambda: vu.latent.decode_probabilities(network, codes, batch_size=640))
        print(f"decoder, 6,400 codes, {name}: {taken:.2f} s")


def importance_weighted(model: vu.VAE, images: torch.Tensor) -> None:
    """Seconds per test image of the K = 100 estimate (the whole test set takes 10,000 times this), with the draws
    decoded in pieces of about 640 rows and all 6,400 rows of a batch at once."""
    chosen = latent._IW_DECODE_ROWS
    for rows in (chosen, 100 * 64):
        latent._IW_DECODE_ROWS = rows
        try:
            taken = seconds(lambda: vu.latent.importance_weighted_nll(model, images, k=100, progress=False), repeats=1)
        finally:
            latent._IW_DECODE_ROWS = chosen
        print(f"importance-weighted -log p(x), K = 100, decoded {rows:,} rows at a time: "
              f"{1000 * taken / len(images):.1f} ms per image ({10_000 * taken / len(images):.0f} s for the 10,000 "
              "test digits)")


def mixture_fit(model: vu.VAE, train: torch.Tensor) -> None:
    """The ex-post mixture's fit (100 components, full covariances) on the training codes, as notebook 04 fits it."""
    codes = vu.encode_means(model, train)
    taken = seconds(lambda: vu.fit_mixture(codes, 100, 0), repeats=1)
    print(f"mixture, 100 components fitted to {len(codes):,} codes: {taken:.1f} s")


def judge_features(judge: vu.judge.DigitClassifier, train: torch.Tensor) -> None:
    """The judge's features of the training images, computed and read back from a fresh cache."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        vu.kept_judge_features(judge, train, cache_dir=cache)
        computed = time.perf_counter() - started
        kept = seconds(lambda: vu.kept_judge_features(judge, train, cache_dir=cache), repeats=1)
    print(f"judge features of {len(train):,} training images: computed {computed:.1f} s, read back {kept:.1f} s")


def copying_parts(train: torch.Tensor, queries: torch.Tensor) -> None:
    """The copying test's k-means cells on a sample and on every training image, and one neighbour search."""
    pixels = flat_pixels(train)
    for points in (10_000, len(pixels)):
        taken = seconds(lambda: CopyingSpace.fit(pixels, 50, 0, fit_points=points), repeats=1)
        print(f"copying test, 50 k-means cells fitted on {points:,} training images: {taken:.1f} s")
    space = CopyingSpace.fit(pixels, 50, 0)
    taken = seconds(lambda: space.neighbours(flat_pixels(queries)), repeats=1)
    print(f"copying test, nearest of {len(pixels):,} training images for {len(queries):,} digits (pixels): "
          f"{taken:.1f} s")


def main() -> None:
    """Load the run's judge and VAE and the MNIST splits, then print each part's time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="models", help="the run folder whose judge and VAE are timed")
    args = parser.parse_args()
    run = vu.RunFolder(args.run_dir)
    judge = vu.judge.DigitClassifier()
    run.load_judge(judge)
    judge = judge.to(memory_format=torch.channels_last).eval()
    model = run.load_model()
    train, test = vu.load_mnist(train=True), vu.load_mnist(train=False)
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.get_num_threads()} threads")
    judge_batches(judge, test.images[:5000])
    decoder_layers(model)
    importance_weighted(model, test.images[:256])
    mixture_fit(model, train.images[:55_000])
    judge_features(judge, train.images[:55_000])
    copying_parts(train.images[:55_000], test.images[:5000])


if __name__ == "__main__":
    main()

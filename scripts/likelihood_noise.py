"""How much the test-set likelihood estimates of a run folder move with their noise seed alone.

The report compares runs by their test negative ELBO (one reparameterisation sample per image) and their
importance-weighted -log p(x) (K samples per image). Both are Monte Carlo estimates; this prints each one under
several noise seeds, same weights and same images, and their standard deviation, so that a difference between two
runs can be set against it.

    MNIST_DATA_DIR=../shared/data python scripts/likelihood_noise.py models runs/course_protocol
    python scripts/likelihood_noise.py models --images 1000 --elbo-seeds 3 --iw-seeds 2   # a quicker look
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import torch

import vae_utils as vu


def seed_spread(values: list[float]) -> str:
    """'93.150 93.129 ... sd 0.0475': the estimates and their sample standard deviation."""
    listed = " ".join(f"{value:.3f}" for value in values)
    return f"{listed}  sd {np.std(values, ddof=1):.4f}" if len(values) > 1 else listed


def measure(run_dir: str, images: torch.Tensor, elbo_seeds: int, iw_seeds: int, k: int) -> None:
    """Print one run folder's negative ELBO and IW-NLL under ``elbo_seeds`` and ``iw_seeds`` noise seeds."""
    model = vu.RunFolder(run_dir).load_model()
    elbo = [vu.evaluate(model, images, seed=seed)["loss"] for seed in range(elbo_seeds)]
    iw = [vu.latent.importance_weighted_nll(model, images, k=k, seed=seed, progress=False) for seed in range(iw_seeds)]
    print(f"{run_dir}: {len(images):,} test images", flush=True)
    print(f"  negative ELBO, {elbo_seeds} noise seeds: {seed_spread(elbo)}", flush=True)
    print(f"  IW -log p(x), K = {k}, {iw_seeds} noise seeds: {seed_spread(iw)}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line (``argv``, default sys.argv) and print each run folder's estimates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run folders holding vae_mnist.pt (e.g. models)")
    parser.add_argument("--images", type=int, default=None, help="first N test images (default: all 10,000)")
    parser.add_argument("--elbo-seeds", type=int, default=5)
    parser.add_argument("--iw-seeds", type=int, default=3)
    parser.add_argument("-k", type=int, default=100, help="importance samples per image")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: $MNIST_DATA_DIR)")
    args = parser.parse_args(argv)
    for name, value in (("--elbo-seeds", args.elbo_seeds), ("--iw-seeds", args.iw_seeds), ("-k", args.k)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    images = vu.load_mnist(args.data_dir, train=False, limit=args.images).images
    for run_dir in args.run_dirs:
        measure(run_dir, images, args.elbo_seeds, args.iw_seeds, args.k)


if __name__ == "__main__":
    main()

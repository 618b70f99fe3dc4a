#!/usr/bin/env python
"""Load each run folder through the project's own loading path and print its test negative ELBO, computed anew on the
10,000 test images beside the value its metrics.json stores.

    MNIST_DATA_DIR=../shared/data .venv/bin/python scripts/run_table.py models runs/seed1 runs/seed2 runs/cvae

A run still training is named as such; a computed value that differs from the stored one by more than 0.01 nats is
flagged, since the two should agree to the CPU's rounding (the same weights, images and noise seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import vae_utils as vu  # noqa: E402


def describe(folder: str, test_set: vu.MNISTTensors) -> str:
    """One line for one run folder: model, seed, epochs, stored and recomputed test negative ELBO."""
    run = vu.RunFolder(folder)
    if not run.finished:
        state = run.training_state()
        done = "nothing exported yet" if state is None else f"{state.epoch} epochs exported"
        return f"{run.shown:22s} training not finished ({done})"
    trained = run.load_trained()
    config, stored = trained.metrics["config"], trained.metrics["test"]
    computed = vu.evaluate(trained.model, test_set.images, seed=stored["eval_seed"], labels=test_set.labels)
    flag = "" if abs(computed["loss"] - stored["loss"]) <= 0.01 else "  <- differs from metrics.json"
    given = " given the label" if trained.model.conditional else ""
    return (f"{run.shown:22s} {config.get('model_name', 'vae'):4s} seed {config['seed']}  "
            f"{trained.state.epoch:5d} epochs (best {trained.state.best_epoch:4d})  test negative ELBO{given}: "
            f"{computed['loss']:.2f} (stored {stored['loss']:.2f}){flag}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per run folder."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args(argv)
    test_set = vu.load_mnist(train=False)
    for folder in args.run_dirs:
        print(describe(folder, test_set), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

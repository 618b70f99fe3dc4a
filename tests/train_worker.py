"""Run a small training job in its own process, so a test can SIGKILL it mid-way.

Usage: python tests/train_worker.py RUN_DIR EPOCHS
"""

import sys

import torch

import vae_utils as vu


def main(run_dir: str, epochs: int) -> None:
    """Train on 512 test-split digits with a 128-image validation set, resuming if possible."""
    torch.set_num_threads(1)  # same thread count in every process: bitwise-comparable results
    data = vu.load_mnist(train=False, limit=640)
    train_set, val_set = vu.train_val_split(data, 128, seed=0)
    config = vu.TrainConfig(epochs=epochs, val_size=128, seed=0, patience=100)
    vu.train(config, train_set, val_set, run_dir, resume=True, progress=False)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

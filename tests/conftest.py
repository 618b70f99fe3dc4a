"""Shared fixtures: small real MNIST subsets so tests are quick but exercise the real data path, and the session's
smoke run of the notebooks."""

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import vae_utils as vu

SESSION_STARTED = time.time()  # an executed notebook older than this session is not this code's


@pytest.fixture(scope="session")
def mnist_test_split() -> vu.MNISTTensors:
    """The 10,000 test images, read from $MNIST_DATA_DIR (or data/ with download)."""
    return vu.load_mnist(train=False)


@pytest.fixture(scope="session")
def small_train_images(mnist_test_split) -> vu.MNISTTensors:
    """640 real digits: enough for training-loop behaviour, small enough for seconds per run."""
    return vu.MNISTTensors(mnist_test_split.images[:640].clone(), mnist_test_split.labels[:640].clone())


@pytest.fixture
def digit_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Ten well-separated Gaussian blobs in 15-d, one per digit (60 points each): clustering must recover them."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=20.0, size=(10, 15))
    labels = np.repeat(np.arange(10), 60)
    return centres[labels] + rng.normal(scale=0.5, size=(len(labels), 15)), labels


class SmokePipeline(NamedTuple):
    """The session's smoke run of the notebooks: executed notebooks, the main and conditional run folders, figures."""

    executed: dict[str, Path]  # notebook name -> executed notebook
    run_dir: Path
    cvae_dir: Path
    figures_dir: Path


PIPELINE_NOTEBOOKS = [
    "01_data_exploration", "02_model_summary", "03_train", "04_latent_space", "05_comparisons", "06_label_budget",
]


@pytest.fixture(scope="session")
def smoke_pipeline(pytestconfig) -> SmokePipeline:
    """The notebooks as the session's nbval run executed them (``pytest --nbval`` runs notebooks/ first and the root
    conftest keeps each executed notebook); a notebook that nbval did not run this session (a test file run alone)
    is executed here once, the same way, so that no test executes a notebook of its own."""
    import papermill

    smoke = pytestconfig.smoke  # the root conftest's folders and its smoke conditional VAE
    executed = {}
    for name in PIPELINE_NOTEBOOKS:
        path = smoke.executed_dir / f"{name}.ipynb"
        if not path.is_file() or path.stat().st_mtime < SESSION_STARTED:
            if name == "05_comparisons" and not pytestconfig.smoke_cvae_trained:
                pytestconfig.smoke_cvae_trained = True
                smoke.train_cvae()
            smoke.executed_dir.mkdir(parents=True, exist_ok=True)
            notebooks = vu.paths.PROJECT_ROOT / "notebooks"
            papermill.execute_notebook(str(notebooks / f"{name}.ipynb"), str(path), cwd=str(notebooks),
                                       progress_bar=False)
        executed[name] = path
    return SmokePipeline(executed, smoke.folder / "run", smoke.cvae_run, smoke.folder / "figures")

"""pytest configuration for the whole project: notebooks/ (nbval) first, then tests/.

The smoke pipeline runs once per session: nbval executes every notebook in notebooks/ in its smoke configuration
(``smoke_test = "CI" in os.environ``: a few epochs on small subsets, written to ``build/smoke/``), and this file keeps
what each cell printed, so that each notebook is executed once and the tests in tests/ read its outputs (the executed
notebooks in ``build/smoke/executed/``, the run folders in ``build/smoke/``) instead of executing it again.

The suite runs on two pytest-xdist workers (``-n 2`` in pyproject.toml): the notebooks and the tests that read their
outputs (tests/test_smoke_pipeline.py) form one unit of work, run in collection order on one worker, while the other
worker takes the remaining test modules. Each worker computes with one thread, so that the two never compete for the
same cores. (xdist's own ``xdist_group`` mark cannot be used: it renames node ids, which pytest 9 no longer allows.)
"""

import os
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent
SMOKE_DIR = ROOT / "build" / "smoke"
EXECUTED_DIR = SMOKE_DIR / "executed"  # the smoke pipeline's executed notebooks (tests/conftest.py reads them)
CVAE_RUN = SMOKE_DIR / "cvae"  # notebook 05's smoke conditional VAE, trained once before notebook 05 runs
COMPARISONS = "05_comparisons.ipynb"
SMOKE_GROUP = ("notebooks/", "tests/test_smoke_pipeline.py")  # node ids of the notebooks and of the tests that read
# what they left: one unit of work for xdist, kept in collection order (notebooks/ first, see pyproject.toml)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # torch, numpy, scikit-learn

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One of several workers: one thread each, its kernels and subprocesses included. Set on import, before
    # tests/conftest.py loads torch and scikit-learn, whose OpenMP runtimes read these once: two workers spinning two
    # threads each on two cores made a 4 s test take 30 s.
    for _name in THREAD_VARIABLES:
        os.environ.setdefault(_name, "1")


def pytest_configure(config):
    """Notebooks under test always take their smoke configuration, on a laptop as in CI (nbval's kernels inherit
    this environment): without it a local ``pytest --nbval`` would run the full analysis for a quarter of an hour
    and rewrite ``models/`` and ``figures/``; the full configuration is ``make report``'s job.

    The notebooks are committed without outputs, so nbval's strict mode would fail every cell; the torchsummary
    cell of notebook 02 carries ``# NBVAL_CHECK_OUTPUT`` and is still compared exactly.
    """
    os.environ.setdefault("CI", "true")
    if getattr(config.option, "nbval", False):
        config.option.nbval_lax = True
    config.smoke_cells_left = {}
    config.smoke_cvae_trained = False
    config.smoke = SimpleNamespace(folder=SMOKE_DIR, executed_dir=EXECUTED_DIR, cvae_run=CVAE_RUN,
                                   train_cvae=train_smoke_cvae)  # for tests/conftest.py's smoke_pipeline


def _is_notebook_cell(item) -> bool:
    """Whether ``item`` is one of nbval's cells (it carries the cell and, once run, what the kernel printed)."""
    return hasattr(item, "cell") and hasattr(item, "test_outputs") and str(item.fspath).endswith(".ipynb")


def pytest_collection_modifyitems(session, config, items):
    """Count each notebook's cells, so that the last one can write the executed notebook; refuse a test that reads
    the smoke pipeline from outside its module (under xdist it could run beside the notebooks, not after them)."""
    for item in items:
        if "smoke_pipeline" in getattr(item, "fixturenames", ()) and not item.nodeid.startswith(SMOKE_GROUP):
            raise pytest.UsageError(f"{item.nodeid} reads the smoke pipeline: move it to {SMOKE_GROUP[1]}, whose "
                                    "tests run after the notebooks on their worker")
        if _is_notebook_cell(item):
            name = Path(str(item.fspath)).name
            config.smoke_cells_left[name] = config.smoke_cells_left.get(name, 0) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scheduling by scope, with the smoke pipeline (``SMOKE_GROUP``) as one scope and every other test module
    as one: the notebooks run in order on one worker, their readers after them, the other modules on either."""
    from xdist.scheduler import LoadScopeScheduling

    class SmokePipelineScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "smoke pipeline" if nodeid.startswith(SMOKE_GROUP) else nodeid.split("::", 1)[0]

    return SmokePipelineScheduling(config, log)


def train_smoke_cvae() -> Path:
    """Train the smoke conditional VAE (notebook 03, ``model_name="cvae"``) for notebook 05 to score."""
    import papermill

    SMOKE_DIR.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(ROOT / "notebooks" / "03_train.ipynb"), str(SMOKE_DIR / "03_train_cvae.ipynb"),
                               parameters={"run_dir": str(CVAE_RUN), "model_name": "cvae",
                                           "figures_dir": str(SMOKE_DIR / "cvae_figures")},
                               cwd=str(ROOT / "notebooks"), progress_bar=False)
    return CVAE_RUN


def pytest_runtest_setup(item):
    """Before notebook 05's first cell, the conditional VAE it scores in smoke mode must exist."""
    if _is_notebook_cell(item) and Path(str(item.fspath)).name == COMPARISONS and not item.config.smoke_cvae_trained:
        item.config.smoke_cvae_trained = True
        train_smoke_cvae()


def pytest_runtest_teardown(item, nextitem):
    """Keep each executed cell's outputs; after a notebook's last cell, write the executed notebook."""
    if not _is_notebook_cell(item):
        return
    if item.test_outputs is not None:
        item.cell.outputs = item.test_outputs
    name = Path(str(item.fspath)).name
    left = item.config.smoke_cells_left
    left[name] = left.get(name, 1) - 1
    if left[name] == 0:
        EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
        nbformat.write(item.parent.nb, EXECUTED_DIR / name)

"""pytest configuration for the whole project (tests/ and notebooks/)."""

import os


def pytest_configure(config):
    """Make ``pytest --nbval`` check that every notebook runs cleanly and quickly, without touching the committed run.

    The notebooks are committed without outputs (they are inputs of the report), so
    nbval's strict mode would fail every cell; the torchsummary cell of notebook 02
    carries ``# NBVAL_CHECK_OUTPUT`` and is still compared exactly.

    Notebooks under test always take their smoke configuration (``smoke_test = "CI" in os.environ``: a few
    epochs on small subsets, written to ``build/smoke/``), on a laptop as in CI; nbval's kernels inherit this
    environment. Without it a local ``pytest --nbval`` would run the full analysis for a quarter of an hour
    and rewrite ``models/`` and ``figures/``; the full configuration is ``make report``'s job.
    """
    os.environ.setdefault("CI", "true")
    if getattr(config.option, "nbval", False):
        config.option.nbval_lax = True

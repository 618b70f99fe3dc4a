"""Wall times of the report build on this machine: the cold analysis of one run, with and without its kept
likelihood estimate, and `make report` with nothing changed (every notebook reused, the PDF rendered again).

    python benchmarks/report_rebuild.py [--run-dir models] [--skip-cold]

The cold analysis executes notebook 04 in its full configuration on one run folder (its judges already trained),
into build/timing/, as `make report` does when the analysis code or its parameters changed: every result is
computed again except the importance-weighted likelihood, which is kept per weights (`likelihood.json`). It is
timed twice: first with the kept estimate set aside, as for new weights, then as for changed analysis code. The
judge's features of the training images (``vu.kept_judge_features``, under build/) depend on the judge only and are
left as they are: kept when any analysis with this judge ran before, as after every ``make report``.
The rebuild first runs `make report` once so that everything is up to date, then times a second `make report`.
Targets: the cold analysis with the likelihood estimated no slower than 228 s on two cores (issue 33, the fair
comparison; its studies live in notebook 06, timed by `make report`'s "executed in N s" line), and the unchanged
rebuild under a minute.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import vae_utils as vu  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``command`` from the project root; return its wall seconds and its standard output (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - started, done.stdout


def time_cold_analysis(run_dir: str, env: dict[str, str]) -> None:
    """Execute notebook 04 on ``run_dir`` twice: without its kept likelihood estimate (restored afterwards when the
    run does not write it again), then with the estimate it has just kept."""
    output = ROOT / "build" / "timing" / "04_latent_space.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "papermill", "notebooks/04_latent_space.ipynb", str(output), "--no-progress-bar",
               "-p", "run_dir", run_dir]
    features = sorted(vu.paths.project_path(vu.judge.FEATURE_CACHE).glob("*.npy"))
    print(f"judge features of training images kept from an earlier analysis: {len(features)} file(s) "
          "(the first analysis with a judge computes them, about 11 s on two cores)")
    kept = vu.RunFolder(run_dir).file(vu.RunFolder.LIKELIHOOD)
    aside = output.parent / kept.name
    if kept.exists():
        kept.replace(aside)
    try:
        seconds, _ = timed(command, env)
    finally:
        if aside.exists() and not kept.exists():
            aside.replace(kept)
    print(f"cold analysis of {run_dir}, likelihood estimated too (new weights): {seconds:.0f} s")
    seconds, _ = timed(command, env)
    print(f"cold analysis of {run_dir}, kept likelihood read back (changed analysis code or parameters): "
          f"{seconds:.0f} s")


def main() -> None:
    """Parse arguments, time both builds and print the figures with the lines that say what was reused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="models", help="the run folder whose analysis is timed cold")
    parser.add_argument("--skip-cold", action="store_true", help="time only the unchanged rebuild")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "CI"}  # the full configuration
    print(f"machine: {os.cpu_count()} CPU cores; torch threads as the notebooks set them")
    if not args.skip_cold:
        time_cold_analysis(args.run_dir, env)
    timed(["make", "report"], env)  # bring everything up to date first
    seconds, out = timed(["make", "report"], env)
    print("\n".join(line for line in out.splitlines() if "reused" in line or "executing" in line or "waits" in line))
    print(f"make report with nothing changed: {seconds:.0f} s")


if __name__ == "__main__":
    main()

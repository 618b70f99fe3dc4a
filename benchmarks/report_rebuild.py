"""Two wall times of the report build on this machine: the cold analysis of one run, and `make report` with nothing
changed (every notebook reused, the PDF rendered again).

    python benchmarks/report_rebuild.py [--run-dir models] [--skip-cold]

The cold analysis executes notebook 04 in its full configuration on one run folder (its judges already trained),
into build/timing/, as `make report` does when a run's weights, the analysis code or its parameters changed. The
rebuild first runs `make report` once so that everything is up to date, then times a second `make report`.
Targets (issue 25): the cold analysis no slower than about 245 s on two cores, the unchanged rebuild at most 180 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``command`` from the project root; return its wall seconds and its standard output (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    """Parse arguments, time both builds and print the figures with the lines that say what was reused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="models", help="the run folder whose analysis is timed cold")
    parser.add_argument("--skip-cold", action="store_true", help="time only the unchanged rebuild")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "CI"}  # the full configuration
    print(f"machine: {os.cpu_count()} CPU cores; torch threads as the notebooks set them")
    if not args.skip_cold:
        output = ROOT / "build" / "timing" / "04_latent_space.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
        seconds, _ = timed([sys.executable, "-m", "papermill", "notebooks/04_latent_space.ipynb", str(output),
                            "--no-progress-bar", "-p", "run_dir", args.run_dir], env)
        print(f"cold analysis of {args.run_dir} (notebook 04, papermill, kernel start included): {seconds:.0f} s")
    timed(["make", "report"], env)  # bring everything up to date first
    seconds, out = timed(["make", "report"], env)
    print("\n".join(line for line in out.splitlines() if "reused" in line or "executing" in line or "waits" in line))
    print(f"make report with nothing changed: {seconds:.0f} s")


if __name__ == "__main__":
    main()

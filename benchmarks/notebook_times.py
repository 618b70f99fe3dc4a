"""Wall time of a notebook under papermill, in total and per code cell, with the cell's first line.

The total is papermill's wall time from the command's start, kernel start included (the figure the
design card's 90-second target for notebook 04 is about); the per-cell times are papermill's own
records (``metadata.papermill.duration``). The notebook runs in its full configuration (``CI`` unset)
unless ``--smoke``; the executed copy goes to ``build/timing/``, never over ``report/``.

    python benchmarks/notebook_times.py notebooks/04_latent_space.ipynb [-p name value ...] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def run_notebook(notebook: Path, output: Path, parameters: list[list[str]], smoke: bool) -> float:
    """Execute ``notebook`` with papermill in a fresh process; returns the wall seconds of the whole command."""
    env = dict(os.environ)
    if smoke:
        env["CI"] = "true"
    else:
        env.pop("CI", None)
    command = [sys.executable, "-m", "papermill", str(notebook), str(output), "--no-progress-bar"]
    for name, value in parameters:
        command += ["-p", name, value]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - started


def cell_times(executed: Path) -> list[tuple[int, float, str]]:
    """(cell index, seconds, first source line) for each code cell, from papermill's metadata."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    rows = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]).strip().splitlines()
        duration = cell["metadata"].get("papermill", {}).get("duration") or 0.0
        rows.append((index, float(duration), source[0][:70] if source else ""))
    return rows


def main() -> None:
    """Parse arguments, run the notebook once, print the per-cell table and the totals."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--smoke", action="store_true", help="run the CI configuration instead of the full one")
    parser.add_argument("--output", type=Path, default=None, help="executed copy (default build/timing/NAME)")
    args = parser.parse_args()
    output = args.output or Path("build/timing") / args.notebook.name
    output.parent.mkdir(parents=True, exist_ok=True)
    wall = run_notebook(args.notebook, output, args.parameter, args.smoke)
    rows = cell_times(output)
    print(f"\n{'cell':>4}  {'seconds':>8}  first line")
    for index, seconds, line in rows:
        print(f"{index:>4}  {seconds:>8.1f}  {line}")
    print(f"\ncells total {sum(s for _, s, _ in rows):.1f} s; papermill wall time {wall:.1f} s (kernel start included)")


if __name__ == "__main__":
    main()

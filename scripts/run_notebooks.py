#!/usr/bin/env python
"""Execute the report notebooks in order with papermill; an executed notebook appears in the output folder only
when complete.

Papermill writes its output cell by cell, so it writes into ``build/report/`` and the finished file is moved into place.
Before the move, the notebook is tidied for committing: progress-bar updates folded into their final line, and
papermill's record of the input and output paths made relative to the project (no folder of the machine that ran it).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import nbformat
import papermill
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_data_exploration", "02_model_summary", "03_train", "04_latent_space"]
WORK_DIR = ROOT / "build" / "report"  # same file system as report/, so the final move is atomic


def parse_value(text: str) -> Any:
    """A -p value as papermill's -p does: a Python literal when it is one (1250, 1e-4, None, True), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``given`` that this notebook's parameters cell declares (each notebook takes only its own)."""
    declared = papermill.inspect_notebook(str(path))
    return {name: value for name, value in given.items() if name in declared}


def project_relative(path: Path) -> str:
    """``path`` relative to the project root, or only its file name when it lies outside the project."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def tidy_executed(path: Path, source: Path, final: Path) -> None:
    """Rewrite the executed notebook at ``path`` in place: streams coalesced (a tqdm bar keeps its last state, not
    every update) and papermill's ``input_path``/``output_path`` relative to the project root."""
    nb = nbformat.read(path, as_version=4)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    for cell in nb.cells:  # a bar with leave=False ends as blanks and a carriage return: nothing to keep
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if out.output_type != "stream" or out.text.strip()]
    record = nb.metadata.get("papermill", {})
    record["input_path"], record["output_path"] = project_relative(source), project_relative(final)
    nbformat.write(nb, path)


def run_notebook(name: str, output_dir: Path, given: dict[str, Any], work_dir: Path = WORK_DIR) -> Path:
    """Execute one notebook into the work folder, then move it into ``output_dir`` in one step."""
    source = ROOT / "notebooks" / f"{name}.ipynb"
    partial = work_dir / f"{name}.ipynb"
    partial.parent.mkdir(parents=True, exist_ok=True)
    parameters = notebook_parameters(source, given)
    print(f"{name}: {parameters or 'default parameters'}", flush=True)
    papermill.execute_notebook(
        str(source), str(partial), parameters=parameters, cwd=str(source.parent), progress_bar=False,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir.resolve() / partial.name
    tidy_executed(partial, source, final)
    os.replace(partial, final)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected notebooks in order; stop at the first failure, leaving earlier results in place."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "report")
    parser.add_argument("--notebooks", nargs="+", default=NOTEBOOKS, choices=NOTEBOOKS)
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR,
                        help="where notebooks are executed; keep it on the output folder's file system")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter for every notebook that declares it, e.g. -p epochs 1250")
    args = parser.parse_args(argv)
    given = {name: parse_value(value) for name, value in args.p}
    for name in args.notebooks:
        try:
            run_notebook(name, args.output_dir, given, args.work_dir)
        except papermill.PapermillExecutionError as error:
            print(f"error: {name} failed ({error.ename}: {error.evalue}); the partial run is in "
                  f"{args.work_dir / (name + '.ipynb')}, {args.output_dir} is unchanged", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Execute the report notebooks in order with papermill, reusing every execution whose inputs did not change; an
executed notebook appears in the output folder only when complete.

Papermill writes its output cell by cell, so it writes into ``build/report/`` and the finished file is moved into place.
Before the move, the notebook is tidied for committing: progress-bar updates folded into their final line, and
papermill's record of the input and output paths made relative to the project (no folder of the machine that ran it).

Reuse (``report_tools.reuse``): each complete execution is recorded in its run folder with a key of the notebook, the
package's code, the parameters and the run-folder files it reads. When the key is unchanged and its outputs are intact,
the notebook is not executed again and one line says so. ``--analyse-runs`` first analyses other run folders
(notebook 04 with the main run's judge), each reused the same way, so that notebook 05 can compare them.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import nbformat
import papermill
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

import vae_utils as vu
from report_tools import reuse

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_data_exploration", "02_model_summary", "03_train", "04_latent_space", "05_comparisons",
             "06_label_budget"]
NOTEBOOKS_DIR = ROOT / "notebooks"
WORK_DIR = ROOT / "build" / "report"  # same file system as report/, so the final move is atomic
# Parameters of notebook 05 that list other run folders: only finished ones are passed (the rest wait).
RUN_LISTS = ("seed_run_dirs", "cvae_run_dirs")


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


def execute(name: str, final: Path, parameters: dict[str, Any], work_dir: Path = WORK_DIR,
            notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Execute one notebook into the work folder, then move it to ``final`` in one step."""
    source = notebooks_dir / f"{name}.ipynb"
    partial = work_dir / f"{name}.ipynb"
    partial.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(source), str(partial), parameters=parameters, cwd=str(source.parent), progress_bar=False,
    )
    final.parent.mkdir(parents=True, exist_ok=True)
    tidy_executed(partial, source, final)
    os.replace(partial, final)
    return final


def run_notebook(name: str, output_dir: Path, given: dict[str, Any], work_dir: Path = WORK_DIR,
                 record_dir: str = vu.MAIN_RUN_DIR, keep_notebook: bool = True,
                 notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Execute one notebook into ``output_dir``, or reuse its last execution when nothing it depends on changed.

    The record goes to the notebook's run folder (``run_dir``), else to ``record_dir``. With ``keep_notebook``
    the executed notebook is one of the outputs a reuse needs (the report's); without, only its run-folder files.
    """
    source = notebooks_dir / f"{name}.ipynb"
    parameters = {**notebook_parameters(source, given), **finished_run_lists(source, given)}
    folder = vu.RunFolder(parameters.get("run_dir", record_dir))
    final = output_dir.resolve() / f"{name}.ipynb"
    required = [final] if keep_notebook else []
    # The key is taken before executing: it names the inputs the execution saw (a training run changes its own
    # weights, so it is executed once more next time, then reused).
    key = reuse.execution_key(source, parameters)
    verdict = reuse.reuse_verdict(folder.read_execution(name), key, required)
    if verdict is None:
        print(f"{name} on {folder.shown}: reused (notebook, code, parameters and the run folders it reads are "
              "unchanged)", flush=True)
        return final
    print(f"{name} on {folder.shown}: executing ({verdict}); {parameters or 'default parameters'}", flush=True)
    started = time.time()
    execute(name, final, parameters, work_dir, notebooks_dir)
    figures = [path for path in (ROOT / "figures").glob("*.png") if path.stat().st_mtime >= started]
    outputs = [*required, *folder.files_written_by([name]), *(figures if keep_notebook else [])]
    folder.write_execution(name, reuse.execution_record(key, outputs))
    print(f"{name} on {folder.shown}: executed in {time.time() - started:.0f} s", flush=True)
    return final


def finished_runs(folders: Sequence[str]) -> list[str]:
    """The run folders whose training has ended (early stopping or the epoch limit); each other one is named."""
    ready = []
    for folder in folders:
        run = vu.RunFolder(folder)
        if run.finished:
            ready.append(folder)
        else:
            state = run.training_state()
            done = "no exported run" if state is None else f"{state.epoch} epochs so far"
            print(f"{run.shown}: training not finished ({done}); its analysis waits", flush=True)
    return ready


def finished_run_lists(source: Path, given: dict[str, Any]) -> dict[str, list[str]]:
    """Each list of run folders the notebook declares (``RUN_LISTS``), as given or as its default, cut to the runs
    that have finished: a run still training waits for a later build instead of stopping this one at the door."""
    declared = papermill.inspect_notebook(str(source))
    defaults = reuse.notebook_defaults(source)
    return {name: finished_runs(given.get(name, defaults.get(name, []))) for name in RUN_LISTS if name in declared}


def analyse_runs(folders: Sequence[str], judge_dir: str, work_dir: Path) -> None:
    """Notebook 04 on each finished run folder with the main run's judge, its executed copy in build/<run name>/."""
    for folder in finished_runs(folders):
        given = {"run_dir": folder, "judge_dir": judge_dir}
        run_notebook("04_latent_space", ROOT / "build" / vu.RunFolder(folder).path.name, given, work_dir,
                     keep_notebook=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected notebooks in order; stop at the first failure, leaving earlier results in place."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "report")
    parser.add_argument("--notebooks", nargs="+", default=NOTEBOOKS)
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
                        help="the folder of the notebooks (the tests run the runner on notebooks of their own)")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR,
                        help="where notebooks are executed; keep it on the output folder's file system")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter for every notebook that declares it, e.g. -p epochs 1250")
    parser.add_argument("--analyse-runs", nargs="*", default=[], metavar="RUN_DIR",
                        help="other run folders analysed (notebook 04, the main run's judge) before the main analysis")
    args = parser.parse_args(argv)
    unknown = [name for name in args.notebooks if not (args.notebooks_dir / f"{name}.ipynb").is_file()]
    if unknown:
        parser.error(f"no notebook {', '.join(unknown)} in {args.notebooks_dir}: choose from "
                     f"{', '.join(path.stem for path in sorted(args.notebooks_dir.glob('*.ipynb')))}")
    given = {name: parse_value(value) for name, value in args.p}
    main_run = str(given.get("run_dir", vu.MAIN_RUN_DIR))
    for name in args.notebooks:
        try:
            if name == "04_latent_space":
                analyse_runs(args.analyse_runs, main_run, args.work_dir)
            run_notebook(name, args.output_dir, given, args.work_dir, record_dir=main_run,
                         notebooks_dir=args.notebooks_dir)
        except papermill.PapermillExecutionError as error:
            print(f"error: {name} failed ({error.ename}: {error.evalue}); the partial run is in "
                  f"{args.work_dir / (name + '.ipynb')}, {args.output_dir} is unchanged", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make report` runs the notebooks through scripts/run_notebooks.py: a kill at any moment leaves report/ untouched,
and an unchanged notebook is reused. The runner is exercised on a notebook of its own that takes a few seconds (the
project's notebooks run once per session, in the smoke pipeline)."""

import os
import signal
import subprocess
import sys
import time

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import vae_utils as vu

RUNNER = vu.paths.PROJECT_ROOT / "scripts" / "run_notebooks.py"
NAME = "01_data_exploration"  # the runner's record names the notebook; this one stands in for it


def _notebooks(folder):
    """A folder with one small notebook: a parameters cell, then a cell that sleeps long enough to be killed in."""
    if (folder / f"{NAME}.ipynb").is_file():  # written once: a rewrite would give its cells new ids, a new key
        return folder
    folder.mkdir(exist_ok=True)
    parameters = new_code_cell("seed = 0\nrun_dir = 'run'", metadata={"tags": ["parameters"]})
    work = new_code_cell("import time\ntime.sleep(2)\nprint('seed', seed)")
    nbformat.write(new_notebook(cells=[parameters, work], metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), folder / f"{NAME}.ipynb")
    return folder


def _runner(output_dir, work_dir, figures_dir, *extra):
    """The runner on the small notebook, in its own process group (so a kill takes the kernel too).

    Its reuse record goes to a run folder beside the output (``-p run_dir``), never to the committed models/.
    """
    notebooks = _notebooks(output_dir.parent / "notebooks")
    command = [sys.executable, str(RUNNER), "--notebooks", NAME, "--notebooks-dir", str(notebooks),
               "--output-dir", str(output_dir), "--work-dir", str(work_dir),
               "-p", "run_dir", str(output_dir.parent / "run"), *extra]
    return subprocess.Popen(command, env={**os.environ, "CI": "true"}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_start(name, folders, process, seconds=120.0):
    """Wait until papermill has started writing notebook ``name`` into any of ``folders`` (it is then mid-run)."""
    deadline = time.monotonic() + seconds
    while not any((folder / name).exists() for folder in folders):
        assert process.poll() is None, f"the runner ended before writing {name}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"{name} never appeared"
        time.sleep(0.05)


def test_killed_runner_leaves_no_partial_notebook_in_report_and_a_rerun_completes(tmp_path):
    report, work, figures = tmp_path / "report", tmp_path / "work", tmp_path / "figures"
    process = _runner(report, work, figures)
    _wait_for_start("01_data_exploration.ipynb", [work, report], process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    assert not report.exists() or not any(report.iterdir()), f"partial files in report/: {list(report.iterdir())}"
    assert (work / "01_data_exploration.ipynb").exists(), "the kill should have hit a notebook mid-run"

    process = _runner(report, work, figures)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    assert [path.name for path in report.iterdir()] == ["01_data_exploration.ipynb"]
    assert not (work / "01_data_exploration.ipynb").exists(), "the finished notebook is moved, not copied"
    # committed notebooks name no folder of the machine that ran them
    record = nbformat.read(report / "01_data_exploration.ipynb", as_version=4).metadata["papermill"]
    assert record["input_path"] == f"{NAME}.ipynb"  # the notebooks lie outside the project here
    assert record["output_path"] == "01_data_exploration.ipynb"  # report/ here lies outside the project


def test_an_unchanged_notebook_is_reused_and_a_changed_parameter_executes_it_again(tmp_path):
    report, work, figures = tmp_path / "report", tmp_path / "work", tmp_path / "figures"
    first = _runner(report, work, figures)
    assert first.wait(timeout=600) == 0, first.stderr.read()
    executed = report / "01_data_exploration.ipynb"
    written = executed.stat().st_mtime_ns

    again = _runner(report, work, figures)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "01_data_exploration on" in out and ": reused" in out
    assert executed.stat().st_mtime_ns == written, "a reuse must not rewrite the executed notebook"

    changed = _runner(report, work, figures, "-p", "seed", "1")
    out, err = changed.communicate(timeout=600)
    assert changed.returncode == 0, err
    assert "executing (notebook, code, parameters" in out
    assert executed.stat().st_mtime_ns != written

    executed.unlink()  # a deleted output is recomputed, whatever the key says
    rebuilt = _runner(report, work, figures, "-p", "seed", "1")
    out, err = rebuilt.communicate(timeout=600)
    assert rebuilt.returncode == 0, err
    assert "is missing" in out and executed.exists()

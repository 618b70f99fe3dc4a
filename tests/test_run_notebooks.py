"""`make report` runs the notebooks through scripts/run_notebooks.py: a kill at any moment leaves report/ untouched,
and an unchanged notebook is reused. The runner is exercised on a notebook of its own that takes a few seconds (the
project's notebooks run once per session, in the smoke pipeline): as a process of its own where it is killed, in
this process (its ``main``) where only what it prints and writes matters."""

import importlib.util
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


def _notebooks(folder, sleep=2.0):
    """A folder with one small notebook: a parameters cell, then a cell that sleeps ``sleep`` seconds (long enough to
    be killed in)."""
    if (folder / f"{NAME}.ipynb").is_file():  # written once: a rewrite would give its cells new ids, a new key
        return folder
    folder.mkdir(exist_ok=True)
    parameters = new_code_cell("seed = 0\nrun_dir = 'run'", metadata={"tags": ["parameters"]})
    work = new_code_cell(f"import time\ntime.sleep({sleep})\nprint('seed', seed)")
    nbformat.write(new_notebook(cells=[parameters, work], metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), folder / f"{NAME}.ipynb")
    return folder


def _runner(output_dir, work_dir, *extra):
    """The runner on the small notebook, in its own process group (so a kill takes the kernel too).

    Its reuse record goes to a run folder beside the output (``-p run_dir``), never to the committed models/.
    """
    notebooks = _notebooks(output_dir.parent / "notebooks")
    command = [sys.executable, str(RUNNER), "--notebooks", NAME, "--notebooks-dir", str(notebooks),
               "--output-dir", str(output_dir), "--work-dir", str(work_dir),
               "-p", "run_dir", str(output_dir.parent / "run"), *extra]
    return subprocess.Popen(command, env={**os.environ, "CI": "true"}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _runner_main(output_dir, work_dir, capsys, *extra):
    """The runner's ``main`` in this process on a notebook that does not sleep: its exit code and what it printed."""
    spec = importlib.util.spec_from_file_location("run_notebooks", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    notebooks = _notebooks(output_dir.parent / "notebooks", sleep=0)
    code = runner.main(["--notebooks", NAME, "--notebooks-dir", str(notebooks), "--output-dir", str(output_dir),
                        "--work-dir", str(work_dir), "-p", "run_dir", str(output_dir.parent / "run"), *extra])
    return code, capsys.readouterr()


def _wait_for_start(name, folders, process, seconds=120.0):
    """Wait until papermill has started writing notebook ``name`` into any of ``folders`` (it is then mid-run)."""
    deadline = time.monotonic() + seconds
    while not any((folder / name).exists() for folder in folders):
        assert process.poll() is None, f"the runner ended before writing {name}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"{name} never appeared"
        time.sleep(0.05)


def test_killed_runner_leaves_no_partial_notebook_in_report_and_a_rerun_completes(tmp_path):
    report, work = tmp_path / "report", tmp_path / "work"
    process = _runner(report, work)
    _wait_for_start("01_data_exploration.ipynb", [work, report], process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    assert not report.exists() or not any(report.iterdir()), f"partial files in report/: {list(report.iterdir())}"
    assert (work / "01_data_exploration.ipynb").exists(), "the kill should have hit a notebook mid-run"

    process = _runner(report, work)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    assert [path.name for path in report.iterdir()] == ["01_data_exploration.ipynb"]
    assert not (work / "01_data_exploration.ipynb").exists(), "the finished notebook is moved, not copied"
    # committed notebooks name no folder of the machine that ran them
    record = nbformat.read(report / "01_data_exploration.ipynb", as_version=4).metadata["papermill"]
    assert record["input_path"] == f"{NAME}.ipynb"  # the notebooks lie outside the project here
    assert record["output_path"] == "01_data_exploration.ipynb"  # report/ here lies outside the project


def test_an_unchanged_notebook_is_reused_and_a_changed_parameter_executes_it_again(tmp_path, capsys):
    report, work = tmp_path / "report", tmp_path / "work"
    code, printed = _runner_main(report, work, capsys)
    assert code == 0, printed.err
    executed = report / "01_data_exploration.ipynb"
    written = executed.stat().st_mtime_ns

    code, printed = _runner_main(report, work, capsys)
    assert code == 0, printed.err
    assert "01_data_exploration on" in printed.out and ": reused" in printed.out
    assert executed.stat().st_mtime_ns == written, "a reuse must not rewrite the executed notebook"

    code, printed = _runner_main(report, work, capsys, "-p", "seed", "1")
    assert code == 0, printed.err
    assert "executing (notebook, code, parameters" in printed.out
    assert executed.stat().st_mtime_ns != written

    executed.unlink()  # a deleted output is recomputed, whatever the key says
    code, printed = _runner_main(report, work, capsys, "-p", "seed", "1")
    assert code == 0, printed.err
    assert "is missing" in printed.out and executed.exists()

"""`make report` runs the notebooks through scripts/run_notebooks.py: a kill at any moment leaves report/ untouched."""

import os
import signal
import subprocess
import sys
import time

import nbformat

import vae_utils as vu

RUNNER = vu.PROJECT_ROOT / "scripts" / "run_notebooks.py"


def _runner(output_dir, work_dir, figures_dir, *extra):
    """The runner on the quickest notebook, in smoke mode, in its own process group (so a kill takes the kernel too).

    Its reuse record goes to a run folder beside the output (``-p run_dir``), never to the committed models/.
    """
    command = [sys.executable, str(RUNNER), "--notebooks", "01_data_exploration", "--output-dir", str(output_dir),
               "--work-dir", str(work_dir), "-p", "figures_dir", str(figures_dir),
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
    assert record["input_path"] == "notebooks/01_data_exploration.ipynb"
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

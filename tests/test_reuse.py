"""Reuse of finished analyses: the key changes with the weights, the parameters and the code, and nothing else."""

import shutil

import pytest

import vae_utils as vu
from report_tools import reuse

NOTEBOOK = vu.paths.PROJECT_ROOT / "notebooks" / "04_latent_space.ipynb"


def _finish(folder, stop_reason=vu.run.Stop.EARLY.reason(patience=10)):
    """Give ``folder`` the weights file of a run that stopped for ``stop_reason`` (an untrained model will do)."""
    vu.RunFolder(folder).export(vu.VAE(), vu.TrainConfig(), vu.run.TrainingState(stop_reason=stop_reason))


@pytest.fixture()
def run_dir(tmp_path):
    """A finished run folder: real weights, stand-in history, metrics and analysis files (their bytes are all the
    key reads)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (*vu.RunFolder.WRITTEN_BY["03_train"], *vu.RunFolder.WRITTEN_BY["04_latent_space"]):
        (folder / name).write_bytes(name.encode() * 10)
    _finish(folder)
    return folder


def _key(run_dir, **parameters):
    return reuse.execution_key(NOTEBOOK, {"run_dir": str(run_dir), "n_judged": 500, **parameters})


def test_key_is_stable_while_nothing_changes(run_dir):
    assert _key(run_dir) == _key(run_dir)


def test_new_weights_change_the_key(run_dir):
    before = _key(run_dir)
    _finish(run_dir, vu.run.Stop.EPOCH_LIMIT.reason(epochs=5))  # other bytes in the weights file
    assert _key(run_dir) != before


def test_an_analysis_parameter_changes_the_key(run_dir):
    assert _key(run_dir, n_judged=400) != _key(run_dir)


def test_the_notebooks_own_outputs_do_not_enter_its_key(run_dir):
    before = _key(run_dir)
    (run_dir / vu.RunFolder.LATENT_METRICS).write_text("{}")
    assert _key(run_dir) == before


def test_a_run_folder_named_by_a_parameter_enters_the_key(run_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    before = _key(run_dir, comparison_run_dir=str(other))
    (other / vu.RunFolder.LATENT_METRICS).write_text("{}")
    assert _key(run_dir, comparison_run_dir=str(other)) != before


def test_a_run_still_training_enters_the_key_only_when_it_finishes(run_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / vu.RunFolder.HISTORY).write_text("epoch 1")
    before = _key(run_dir, cvae_run_dir=str(other))
    (other / vu.RunFolder.HISTORY).write_text("epoch 2")  # an epoch of training in the background
    assert _key(run_dir, cvae_run_dir=str(other)) == before
    _finish(other, vu.run.Stop.TIME_BUDGET.reason(minutes=5))  # paused by its budget: still not finished
    assert _key(run_dir, cvae_run_dir=str(other)) == before
    (other / vu.RunFolder.METRICS).write_text("{}")  # finished: weights of an early stop and its metrics
    _finish(other)
    assert _key(run_dir, cvae_run_dir=str(other)) != before


def test_changed_code_changes_the_key(run_dir, monkeypatch, tmp_path):
    before = _key(run_dir)
    package = tmp_path / "package"
    shutil.copytree(reuse.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(reuse, "PACKAGE_DIR", package)
    assert _key(run_dir) == before
    (package / "latent.py").write_text((package / "latent.py").read_text() + "\n# changed\n")
    assert _key(run_dir) != before


def test_reuse_needs_the_same_key_and_intact_outputs(run_dir):
    folder = vu.RunFolder(run_dir)
    outputs = folder.files_written_by(["04_latent_space"])
    key = _key(run_dir)
    folder.write_execution("04_latent_space", reuse.execution_record(key, outputs))
    record = folder.read_execution("04_latent_space")
    assert reuse.reuse_verdict(record, key, []) is None
    assert "changed" in reuse.reuse_verdict(record, _key(run_dir, n_judged=400), [])
    (run_dir / vu.RunFolder.GENERATED).write_bytes(b"edited by hand")
    assert "changed since" in reuse.reuse_verdict(record, key, [])
    (run_dir / vu.RunFolder.GENERATED).unlink()
    assert "is missing" in reuse.reuse_verdict(record, key, [])
    assert reuse.reuse_verdict(None, key, []) == "no complete execution recorded"


def test_of_the_judges_folder_only_the_judges_enter_the_key(run_dir, tmp_path):
    judges = tmp_path / "judges"
    shutil.copytree(run_dir, judges)
    before = _key(run_dir, judge_dir=str(judges))
    (judges / vu.RunFolder.LATENT_METRICS).write_text("{}")  # that folder's own analysis, run again
    assert _key(run_dir, judge_dir=str(judges)) == before
    (judges / vu.RunFolder.JUDGE).write_bytes(b"another judge")
    assert _key(run_dir, judge_dir=str(judges)) != before


def test_a_run_folder_named_by_the_notebooks_default_enters_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # the full configuration: notebook 05 compares runs/course_protocol
    comparisons = NOTEBOOK.with_name("05_comparisons.ipynb")
    assert reuse.notebook_defaults(comparisons)["comparison_run_dir"] == "runs/course_protocol"
    files = reuse._input_files("05_comparisons", {**reuse.notebook_defaults(comparisons), "run_dir": str(tmp_path)})
    assert vu.RunFolder("runs/course_protocol").file(vu.RunFolder.METRICS) in files

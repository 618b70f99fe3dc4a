"""A run folder is continued, reused or refused as its contents say; damaged or foreign files each give one clear error;
a reuse writes nothing; and ``RunFolder`` alone knows the folder's files."""

import ast
import json
import time

import numpy as np
import pytest
import torch

import vae_utils as vu

PACKAGE = vu.paths.PROJECT_ROOT / "vae_utils"
RUN_FOLDER_FILES = ("last.pt", "best.pt", "vae_mnist.pt", "history.csv", "metrics.json", "judge_cnn.pt",
                    "samplers.pt", "latent_metrics.json", "generated_digits.npz")


@pytest.fixture()
def splits(small_train_images):
    torch.set_num_threads(1)
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    return train_set, val_set


def _metrics(result, config, splits, test_shift=0.0):
    test = vu.evaluate(result.model, splits[1].images[:64])
    test["loss"] += test_shift
    return vu.training_metrics(result, config, test, 64, 1234)


def _finished_run(run_dir, splits, epochs=2, **overrides):
    config = vu.TrainConfig(epochs=epochs, val_size=128, **overrides)
    run = vu.RunFolder(run_dir)
    result = vu.train_or_reuse(config, *splits, run_dir, run.plan(config), progress=False)
    assert run.write_metrics(_metrics(result, config, splits))
    return config, result


def _snapshot(folder):
    """Every file's bytes, inode and modification time: a rewrite with the same bytes still shows."""
    return {path.name: (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


def test_empty_folder_trains_and_finished_run_is_reused_with_one_line(tmp_path, splits, capsys):
    config, first = _finished_run(tmp_path, splits)
    capsys.readouterr()
    plan = vu.RunFolder(tmp_path).plan(config)
    assert plan is vu.run.Plan.REUSE
    again = vu.train_or_reuse(config, *splits, tmp_path, plan, progress=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1 and "Reusing the finished run" in lines[0]  # the plan says it once
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))


def test_a_reuse_writes_nothing_into_the_run_folder(tmp_path, splits):
    config, _ = _finished_run(tmp_path, splits)
    before = _snapshot(tmp_path)
    time.sleep(0.05)  # a rewrite would get a later modification time
    run = vu.RunFolder(tmp_path)
    plan = run.plan(config)
    assert plan is vu.run.Plan.REUSE
    reused = vu.train_or_reuse(config, *splits, tmp_path, plan, progress=False)
    # notebook 03 re-evaluates the test set; another CPU differs in the last digits
    stored = run.read_metrics()["test"]["loss"]
    drifted = _metrics(reused, config, splits, test_shift=stored * 1e-7)
    assert drifted["test"]["loss"] != stored
    assert run.write_metrics(drifted) is False
    assert _snapshot(tmp_path) == before, "a reuse must leave the run folder (and a checkout) unmodified"
    other = _metrics(reused, config, splits, test_shift=1.0)  # a different result is written
    assert run.write_metrics(other) is True
    assert run.read_metrics()["test"]["loss"] == pytest.approx(stored + 1.0)


def test_same_metrics_and_same_generated_digits_are_not_rewritten(tmp_path):
    run = vu.RunFolder(tmp_path)
    metrics = {"epochs_run": 3, "test": {"loss": 101.25, "images": 64}, "history": [1.5, float("nan")]}
    assert run.write_metrics(metrics) is True
    assert run.write_metrics(metrics) is False
    assert run.write_metrics({**metrics, "epochs_run": 4}) is True
    images = torch.round(torch.rand(10, 3, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255) / 255
    assert run.save_generated(images) is True
    stamp = run.file(vu.RunFolder.GENERATED).stat().st_mtime_ns
    assert run.save_generated(images.clone()) is False
    assert run.file(vu.RunFolder.GENERATED).stat().st_mtime_ns == stamp
    assert torch.equal(run.load_generated(), images)
    assert run.save_generated(1 - images) is True


def test_raised_epoch_limit_continues_the_run(tmp_path, splits):
    _finished_run(tmp_path, splits, epochs=1)
    config = vu.TrainConfig(epochs=3, val_size=128)
    plan = vu.RunFolder(tmp_path).plan(config)
    assert plan is vu.run.Plan.CONTINUE
    assert len(vu.train_or_reuse(config, *splits, tmp_path, plan, progress=False).history) == 3


def test_other_parameters_are_refused_naming_each_and_both_ways_out(tmp_path, splits):
    _finished_run(tmp_path, splits)
    config = vu.TrainConfig(epochs=2, val_size=128, lr=1e-3, batch_size=64)
    with pytest.raises(ValueError) as error:
        vu.RunFolder(tmp_path).plan(config)
    message = str(error.value)
    assert "lr:" in message and "batch_size:" in message and "run_dir" in message and "retrain=True" in message
    assert vu.RunFolder(tmp_path).plan(config, retrain=True) is vu.run.Plan.TRAIN


def test_truncated_and_foreign_checkpoints_are_refused(tmp_path, splits):
    _finished_run(tmp_path, splits)
    run = vu.RunFolder(tmp_path)
    weights = run.file(vu.RunFolder.WEIGHTS)
    intact = weights.read_bytes()
    torch.save({"x": 1}, weights)
    with pytest.raises(vu.run.CheckpointError, match="not a checkpoint of this project"):
        run.load_model()
    weights.write_bytes(intact)
    payload = torch.load(weights, weights_only=True)
    payload["model"]["decoder.3.weight"] = torch.zeros(256, 128, 4, 4)  # another network, same keys
    torch.save(payload, weights)
    with pytest.raises(vu.run.CheckpointError, match="another network"):
        run.load_model()
    weights.write_bytes(intact[:5000])
    with pytest.raises(vu.run.CheckpointError, match="truncated"):
        run.load_trained()


def test_metrics_file_missing_unreadable_or_from_another_run_is_refused(tmp_path, splits):
    _finished_run(tmp_path, splits)
    run = vu.RunFolder(tmp_path)
    assert run.load_trained().metrics["epochs_run"] == 2
    metrics_path = run.file(vu.RunFolder.METRICS)
    metrics = json.loads(metrics_path.read_text())
    metrics["epochs_run"] = 99
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(vu.run.CheckpointError, match="describes another run"):
        run.load_trained()
    metrics_path.write_bytes(b"\x00garbage{")
    with pytest.raises(ValueError, match="metrics.json"):
        run.load_trained()
    metrics_path.unlink()
    with pytest.raises(FileNotFoundError, match="03_train"):
        run.load_trained()


def test_history_file_unreadable_or_from_another_run_is_refused(tmp_path, splits):
    config, _ = _finished_run(tmp_path, splits)
    history = vu.RunFolder(tmp_path).file(vu.RunFolder.HISTORY)
    rows = history.read_text().splitlines()
    history.write_text("\n".join(rows[:-1]) + "\n")  # one epoch short
    with pytest.raises(vu.run.CheckpointError, match="history.csv"):
        vu.train_or_reuse(config, *splits, tmp_path, vu.RunFolder(tmp_path).plan(config), progress=False)
    history.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(vu.run.CheckpointError, match="history.csv"):
        vu.train_or_reuse(config, *splits, tmp_path, vu.RunFolder(tmp_path).plan(config), progress=False)


def test_generated_digits_of_wrong_shape_or_range_are_refused(tmp_path):
    run = vu.RunFolder(tmp_path)
    path = run.file(vu.RunFolder.GENERATED)
    np.savez_compressed(path, images=np.zeros((9, 5, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        run.load_generated()
    np.savez_compressed(path, images=np.full((10, 5, 28, 28), 2.0, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        run.load_generated()
    path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a generated-digits file"):
        run.load_generated()


def test_judge_and_latent_metrics_round_trip_and_a_foreign_judge_is_refused(tmp_path):
    run = vu.RunFolder(tmp_path)
    assert not run.has_judge()
    torch.manual_seed(0)
    judge = vu.judge.DigitClassifier()
    run.save_judge(judge, test_accuracy=0.99, epochs=3, seed=0)
    loaded = vu.judge.DigitClassifier()
    assert run.has_judge() and run.load_judge(loaded) == {"test_accuracy": 0.99, "epochs": 3, "seed": 0}
    assert all(torch.equal(a, b) for a, b in zip(judge.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(vu.run.CheckpointError, match="does not fit"):
        run.load_judge(torch.nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="04_latent_space"):
        run.read_latent_metrics()
    assert run.write_latent_metrics({"active_units": 15, "test_iw_nll": 80.5}) is True
    assert run.read_latent_metrics() == {"active_units": 15, "test_iw_nll": 80.5}


def _module_trees():
    return {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def test_training_imports_at_most_five_names_from_the_run_folder_module():
    names = [alias.name for node in ast.walk(_module_trees()["training.py"])
             if isinstance(node, ast.ImportFrom) and node.module == "run" and node.level == 1
             for alias in node.names]
    assert names, "training.py is expected to go through run.RunFolder"
    assert len(names) <= 5, f"training.py imports {len(names)} names from run.py: {names}"


def test_every_run_folder_file_name_is_defined_in_run_py_alone():
    assert {getattr(vu.RunFolder, attribute) for attribute in
            ("LAST", "BEST", "WEIGHTS", "HISTORY", "METRICS", "JUDGE", "SAMPLERS", "LATENT_METRICS", "GENERATED")
            } == set(RUN_FOLDER_FILES)
    found = {}
    for module, tree in _module_trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in RUN_FOLDER_FILES:
                found.setdefault(node.value, set()).add(module)
    assert set(found) == set(RUN_FOLDER_FILES), f"not named in the package: {set(RUN_FOLDER_FILES) - set(found)}"
    elsewhere = {name: sorted(modules - {"run.py"}) for name, modules in found.items() if modules != {"run.py"}}
    assert not elsewhere, f"run-folder file names defined outside run.py: {elsewhere}"


def test_only_the_main_run_writes_into_figures_and_other_runs_write_aside(tmp_path):
    aside = vu.paths.project_path("build/figures_dir_test_run/figures")
    try:
        assert vu.figures_dir(None, False, vu.MAIN_RUN_DIR) == vu.paths.project_path("figures")
        assert vu.figures_dir(None, False, vu.paths.project_path("models")) == vu.paths.project_path("figures")
        assert vu.figures_dir(None, False) == vu.paths.project_path("figures")
        assert vu.figures_dir(None, False, "runs/figures_dir_test_run") == aside
        assert aside.is_dir()
        assert vu.figures_dir(None, True, "runs/figures_dir_test_run") == vu.paths.project_path("build/smoke/figures")
        assert vu.figures_dir(tmp_path / "mine", False, "runs/figures_dir_test_run") == tmp_path / "mine"
    finally:
        if aside.is_dir():
            aside.rmdir()
            aside.parent.rmdir()


def test_a_folder_of_another_training_seed_is_refused_and_left_as_it_was(tmp_path, splits):
    _finished_run(tmp_path, splits, seed=1)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"seed: run folder has 1, parameters ask for 2") as error:
        vu.RunFolder(tmp_path).plan(vu.TrainConfig(epochs=2, val_size=128, seed=2))
    assert "another run_dir" in str(error.value) and "retrain=True" in str(error.value)
    assert before == {path.name: path.read_bytes() for path in tmp_path.iterdir()}

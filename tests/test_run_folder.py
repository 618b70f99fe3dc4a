"""A run folder is continued, reused or refused as its contents say; damaged or foreign files each give one clear error."""

import json

import numpy as np
import pytest
import torch

import vae_utils as vu


@pytest.fixture()
def splits(small_train_images):
    torch.set_num_threads(1)
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    return train_set.images, val_set.images


def _finished_run(run_dir, splits, epochs=2, **overrides):
    config = vu.TrainConfig(epochs=epochs, val_size=128, **overrides)
    result = vu.train_or_reuse(config, *splits, run_dir, progress=False)
    test = vu.evaluate(result.model, splits[1][:64])
    vu.write_json(vu.training_metrics(result, config, test, 64, 1234), run_dir / vu.METRICS_FILE)
    return config, result


def test_empty_folder_trains_and_finished_run_is_reused_with_one_line(tmp_path, splits, capsys):
    config, first = _finished_run(tmp_path, splits)
    capsys.readouterr()
    assert vu.plan_training(config, tmp_path) == "reuse"
    again = vu.train_or_reuse(config, *splits, tmp_path, progress=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 2 and all("Reusing the finished run" in line for line in lines)  # plan + train_or_reuse
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))


def test_raised_epoch_limit_continues_the_run(tmp_path, splits):
    _finished_run(tmp_path, splits, epochs=1)
    config = vu.TrainConfig(epochs=3, val_size=128)
    assert vu.plan_training(config, tmp_path) == "continue"
    assert len(vu.train_or_reuse(config, *splits, tmp_path, progress=False).history) == 3


def test_other_parameters_are_refused_naming_each_and_both_ways_out(tmp_path, splits):
    _finished_run(tmp_path, splits)
    config = vu.TrainConfig(epochs=2, val_size=128, lr=1e-3, batch_size=64)
    with pytest.raises(ValueError) as error:
        vu.plan_training(config, tmp_path)
    message = str(error.value)
    assert "lr:" in message and "batch_size:" in message and "run_dir" in message and "retrain=True" in message
    assert vu.plan_training(config, tmp_path, retrain=True) == "train"


def test_truncated_and_foreign_checkpoints_are_refused(tmp_path, splits):
    _finished_run(tmp_path, splits)
    weights = tmp_path / vu.WEIGHTS_FILE
    foreign = tmp_path / "foreign.pt"
    torch.save({"x": 1}, foreign)
    with pytest.raises(vu.CheckpointError, match="not a checkpoint"):
        vu.load_model(foreign)
    payload = torch.load(weights, weights_only=True)
    payload["model"]["decoder.3.weight"] = torch.zeros(256, 128, 4, 4)  # another network, same keys
    torch.save(payload, foreign)
    with pytest.raises(vu.CheckpointError, match="another network"):
        vu.load_model(foreign)
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(vu.CheckpointError, match="truncated"):
        vu.load_trained_run(tmp_path)


def test_metrics_file_unreadable_or_from_another_run_is_refused(tmp_path, splits):
    _finished_run(tmp_path, splits)
    metrics_path = tmp_path / vu.METRICS_FILE
    metrics = json.loads(metrics_path.read_text())
    metrics["epochs_run"] = 99
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(vu.CheckpointError, match="describes another run"):
        vu.load_trained_run(tmp_path)
    metrics_path.write_bytes(b"\x00garbage{")
    with pytest.raises(ValueError, match="metrics.json"):
        vu.load_trained_run(tmp_path)


def test_history_file_unreadable_or_from_another_run_is_refused(tmp_path, splits):
    config, _ = _finished_run(tmp_path, splits)
    history = tmp_path / vu.HISTORY_FILE
    rows = history.read_text().splitlines()
    history.write_text("\n".join(rows[:-1]) + "\n")  # one epoch short
    with pytest.raises(vu.CheckpointError, match="history.csv"):
        vu.train_or_reuse(config, *splits, tmp_path, progress=False)
    history.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(vu.CheckpointError, match="history.csv"):
        vu.train_or_reuse(config, *splits, tmp_path, progress=False)


def test_generated_digits_of_wrong_shape_or_range_are_refused(tmp_path):
    path = tmp_path / vu.GENERATED_FILE
    np.savez_compressed(path, images=np.zeros((9, 5, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        vu.load_generated(path)
    np.savez_compressed(path, images=np.full((10, 5, 28, 28), 2.0, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vu.load_generated(path)
    path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a generated-digits file"):
        vu.load_generated(path)

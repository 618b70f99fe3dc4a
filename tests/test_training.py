"""Training survives crashes: resumable checkpoints, clear errors, early stopping and NaN guards."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import vae_utils
import vae_utils as vu
from vae_utils.run import Stop

WORKER = Path(__file__).with_name("train_worker.py")
EPOCHS = 4


def _run_worker(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(run_dir), str(EPOCHS)])


def _epochs_done(run_dir: Path) -> int:
    try:
        return len(pd.read_csv(run_dir / vu.RunFolder.HISTORY))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def _train_uninterrupted(run_dir: Path) -> None:
    """The worker's training in this process (the reference needs no kill), on the worker's one thread."""
    import train_worker

    threads = torch.get_num_threads()
    try:
        train_worker.main(str(run_dir), EPOCHS)
    finally:
        torch.set_num_threads(threads)


def test_sigkilled_run_resumes_to_the_same_weights(tmp_path):
    reference = tmp_path / "uninterrupted"
    _train_uninterrupted(reference)

    interrupted = tmp_path / "interrupted"
    process = _run_worker(interrupted)
    deadline = time.time() + 600
    while _epochs_done(interrupted) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # no chance to clean up: only atomic writes protect us
    process.wait()
    killed_at = _epochs_done(interrupted)
    assert 2 <= killed_at < EPOCHS, "the kill must land mid-run for this test to mean anything"

    assert _run_worker(interrupted).wait(timeout=600) == 0
    assert _epochs_done(interrupted) == EPOCHS
    for name in (vu.RunFolder.LAST, vu.RunFolder.BEST):
        a, b = _weights(reference / name), _weights(interrupted / name)
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after resume"
    pd.testing.assert_frame_equal(
        pd.read_csv(reference / vu.RunFolder.HISTORY).drop(columns=["epoch_seconds", "images_per_second"]),
        pd.read_csv(interrupted / vu.RunFolder.HISTORY).drop(columns=["epoch_seconds", "images_per_second"]),
    )


def _train(run_dir, small_train_images, epochs=1, **overrides):
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    config = vu.TrainConfig(epochs=epochs, val_size=128, **overrides)
    return vu.train(config, train_set, val_set, run_dir, progress=False)


def test_truncated_checkpoint_gives_clear_error(tmp_path, small_train_images):
    _train(tmp_path, small_train_images)
    last = tmp_path / vu.RunFolder.LAST
    last.write_bytes(last.read_bytes()[:10_000])
    with pytest.raises(vu.run.CheckpointError, match="truncated"):
        vu.RunFolder(tmp_path).plan(vu.TrainConfig(epochs=2, val_size=128))
    with pytest.raises(vu.run.CheckpointError, match="truncated"):
        _train(tmp_path, small_train_images, epochs=2)


def test_checkpoint_of_other_latent_size_is_refused(tmp_path, small_train_images):
    _train(tmp_path, small_train_images)
    with pytest.raises(vu.run.CheckpointError, match="z_dim 15, not 10; use another run_dir"):
        _train(tmp_path, small_train_images, epochs=2, z_dim=10)
    with pytest.raises(ValueError, match="z_dim: run folder has 15, parameters ask for 10"):
        vu.RunFolder(tmp_path).plan(vu.TrainConfig(epochs=2, val_size=128, z_dim=10))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, small_train_images, monkeypatch):
    _train(tmp_path, small_train_images, epochs=1)
    good = _weights(tmp_path / vu.RunFolder.LAST)
    real_loss = vu.model.vae_loss

    def exploding_loss(*args):
        terms = real_loss(*args)
        return vu.model.LossTerms(terms.loss * float("nan"), terms.recon, terms.kl)

    monkeypatch.setattr(vae_utils.training, "vae_loss", exploding_loss)  # where train_step looks it up
    result = _train(tmp_path, small_train_images, epochs=3)
    assert result.stop_reason.startswith("non-finite loss in epoch 2")
    checkpoint = torch.load(tmp_path / vu.RunFolder.LAST, weights_only=True)
    assert checkpoint["epoch"] == 1
    assert all(torch.equal(good[k], checkpoint["model"][k]) for k in good)
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_early_stopping_restores_best_weights(tmp_path, small_train_images, monkeypatch):
    losses = iter([300.0, 310.0, 320.0, 330.0])
    fake = lambda *a, **k: {"loss": next(losses), "recon": 0.0, "kl": 0.0}  # noqa: E731
    monkeypatch.setattr(vae_utils.training, "evaluate", fake)  # where train looks it up
    result = _train(tmp_path, small_train_images, epochs=10, patience=2)
    assert result.stop_reason.startswith("early stopping")
    assert result.best_epoch == 1 and len(result.history) == 3
    best = _weights(tmp_path / vu.RunFolder.BEST)
    assert all(torch.equal(best[k], v) for k, v in result.model.state_dict().items())
    # an early-stopped run is finished: resuming trains nothing more
    again = _train(tmp_path, small_train_images, epochs=10, patience=2)
    assert len(again.history) == 3


def test_exported_weights_are_reused_without_training(tmp_path, small_train_images):
    first = _train(tmp_path, small_train_images, epochs=1)  # train() exports vae_mnist.pt itself
    (tmp_path / vu.RunFolder.LAST).unlink()
    (tmp_path / vu.RunFolder.BEST).unlink()
    config = vu.TrainConfig(epochs=1, val_size=128)
    plan = vu.RunFolder(tmp_path).plan(config)
    assert plan is vu.run.Plan.REUSE
    reused = vu.train_or_reuse(config, None, None, tmp_path, plan, progress=False)
    assert len(reused.history) == 1
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), reused.model.state_dict().values()))


def test_time_budget_stops_cleanly_and_a_rerun_continues(tmp_path, small_train_images):
    result = _train(tmp_path, small_train_images, epochs=50, max_minutes=1e-6)
    assert result.stop_reason.startswith("time budget") and len(result.history) == 1  # checked between epochs
    config = vu.TrainConfig(epochs=3, val_size=128)
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    plan = vu.RunFolder(tmp_path).plan(config)
    assert plan is vu.run.Plan.CONTINUE
    again = vu.train_or_reuse(config, train_set, val_set, tmp_path, plan, progress=False)
    assert len(again.history) == 3 and again.stop_reason == "reached epochs=3"


def _stop_epoch(losses: list[float], stopping: str, patience: int) -> int | None:
    """Feed made-up per-epoch losses to the real stopping rule; the epoch at which it fires, or None."""
    config = vu.TrainConfig(stopping=stopping, patience=patience, val_size=0)
    state = vu.run.TrainingState()
    for epoch, loss in enumerate(losses, start=1):
        row = {"epoch": epoch, "train_loss": loss, "val_loss": float("nan")}
        fired = vu.training.early_stopping_step(state, row, config)
        state.history.append(row)
        if fired:
            return epoch
    return None


def test_course_report_rule_stops_when_rises_in_a_row_exceed_patience():
    # Epochs 2-4 rise three times in a row: with patience 3 that is not more than 3, so no stop yet;
    # the fall at epoch 5 resets the count; epochs 6-9 rise four times in a row: stop at epoch 9.
    losses = [10.0, 11.0, 12.0, 13.0, 9.0, 9.5, 9.6, 9.7, 9.8, 9.0]
    assert _stop_epoch(losses, "course_report", patience=3) == 9
    assert _stop_epoch(losses[:8], "course_report", patience=3) is None


def test_course_report_rule_ignores_rises_that_stay_below_the_best():
    # A run that keeps falling overall but wobbles up by one epoch never stops, and an equal loss is not a rise.
    losses = [10.0 - 0.1 * e + (0.05 if e % 2 else 0.0) for e in range(200)] + [5.0] * 20
    assert _stop_epoch(losses, "course_report", patience=1) is None


def test_validation_rule_counts_epochs_without_a_new_best_not_rises():
    # The same sequence under the validation rule (no validation set: the training loss): best 9.0 at epoch 5,
    # then four epochs without a new best stop it at patience 4, although the loss fell at epoch 10.
    losses = [10.0, 11.0, 12.0, 13.0, 9.0, 9.5, 9.6, 9.7, 9.8, 9.0]
    assert _stop_epoch(losses, "validation", patience=4) == 9


def test_course_report_stopping_keeps_the_last_weights(tmp_path, small_train_images):
    config = vu.TrainConfig(epochs=3, val_size=0, stopping="course_report", train_limit=640, seed=0)
    plan = vu.RunFolder(tmp_path).plan(config)
    assert plan is vu.run.Plan.TRAIN
    result = vu.train_or_reuse(config, small_train_images, None, tmp_path, plan, progress=False,
                               test_set=vu.MNISTTensors(*(t[:100] for t in small_train_images)), test_every=2)
    assert result.best_epoch == 3
    saved = torch.load(tmp_path / vu.RunFolder.WEIGHTS, weights_only=True)
    last = torch.load(tmp_path / vu.RunFolder.LAST, weights_only=True)
    assert all(torch.equal(saved["model"][k], last["model"][k]) for k in last["model"])
    history = pd.read_csv(tmp_path / vu.RunFolder.HISTORY)
    assert history["test_loss"].notna().tolist() == [False, True, False]


def test_a_recorded_stop_reason_maps_back_to_its_kind():
    early = Stop.EARLY.reason(patience=10)
    assert Stop.of(early) is Stop.EARLY and Stop.EARLY.final
    assert Stop.of(Stop.EARLY.reason(patience=3, stopping="course_report")) is Stop.EARLY
    limit = Stop.EPOCH_LIMIT.reason(epochs=3)
    assert limit == "reached epochs=3" and Stop.of(limit) is Stop.EPOCH_LIMIT and not Stop.EPOCH_LIMIT.final
    assert not Stop.of(Stop.TIME_BUDGET.reason(minutes=5)).final
    assert Stop.of(Stop.NON_FINITE.reason(epoch=2, loss=float("nan"), kept_epoch=1)).final
    assert Stop.of("") is None and vu.run.TrainingState().stop is None
    # the committed run's reason, written before the enum existed, still reads as early stopping
    committed = vu.RunFolder("models").file(vu.RunFolder.METRICS)
    reason = json.loads(committed.read_text())["stop_reason"]
    assert reason == "early stopping: no improvement for 10 epochs" == early
    assert Stop.of(reason) is Stop.EARLY


def test_a_folder_being_trained_is_refused_to_a_second_process_until_it_ends(tmp_path, small_train_images):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, vae_utils as vu\n"
         "with vu.RunFolder(sys.argv[1]).training_lock():\n    print('held', flush=True); time.sleep(120)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match="is being trained by another process"):
            _train(tmp_path, small_train_images)
        assert list(tmp_path.iterdir()) == []  # refused before anything was written
    finally:
        holder.kill()  # a killed trainer leaves no lock behind
        holder.wait()
    assert len(_train(tmp_path, small_train_images).history) == 1


def test_the_training_lock_is_held_for_the_whole_run_only(tmp_path, small_train_images):
    run = vu.RunFolder(tmp_path)
    with run.training_lock():
        with pytest.raises(RuntimeError, match="another run_dir"):
            _train(tmp_path, small_train_images)
    _train(tmp_path, small_train_images)
    with run.training_lock():  # released when training returned
        pass

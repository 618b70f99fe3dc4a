"""Every figure prints legibly: within the PDF's text width, no text under 8.5 pt, on made-up inputs shaped like
the notebooks' (no data, no training), plus the behaviours a reader relies on in the new figures."""

from __future__ import annotations

import io
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import vae_utils as vu
import vae_utils.printsize as printsize
from report_tools import figure_checks
from vae_utils.run import HISTORY_COLUMNS

RNG_SEED = 0


def _images(*shape: int) -> torch.Tensor:
    """Random grey images of the given leading shape, [..., 1, 28, 28]."""
    return torch.rand(*shape, 1, 28, 28, generator=torch.Generator().manual_seed(RNG_SEED))


def _mnist(n_per_digit: int = 6) -> vu.MNISTTensors:
    """A fake MNIST split with every digit present."""
    labels = torch.arange(vu.data.N_DIGITS).repeat_interleave(n_per_digit)
    return vu.MNISTTensors(_images(len(labels)), labels)


def _history(epochs: int, validation: bool = True, test_every: int | None = None) -> pd.DataFrame:
    """A ``run.HISTORY_COLUMNS`` table whose losses fall like a real run's, optionally without validation."""
    epoch = np.arange(1, epochs + 1)
    recon = 70 + 170 / epoch
    kl = 22 - 18 / epoch
    history = pd.DataFrame({"epoch": epoch, "train_loss": recon + kl, "train_recon": recon, "train_kl": kl,
                            "epoch_seconds": 15.0, "images_per_second": 3500.0})
    for split, shift in (("val", 2.5), ("test", 2.8)):
        for term, values in (("loss", recon + kl + shift), ("recon", recon + shift), ("kl", kl)):
            history[f"{split}_{term}"] = values
    if not validation:
        history[["val_loss", "val_recon", "val_kl"]] = np.nan
    keep_test = (epoch % test_every == 0) if test_every else np.zeros(epochs, dtype=bool)
    history.loc[~keep_test, ["test_loss", "test_recon", "test_kl"]] = np.nan
    return history[HISTORY_COLUMNS]


def _original_log(epochs: int = 1250) -> pd.DataFrame:
    """Shaped like report/course_report_training_log.csv: epoch, train_loss, train_kl."""
    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": epoch, "train_loss": 87 + 165 / epoch ** 0.8, "train_kl": 22.4 - 19 / epoch})


def _quality(accuracy: float, intervals: bool) -> pd.DataFrame:
    """A ``generation_quality`` table: ten digit rows and a mean row, with or without Wilson intervals."""
    rows = pd.DataFrame({"digit": [str(d) for d in range(vu.data.N_DIGITS)],
                         "accuracy": np.linspace(accuracy - 0.02, accuracy, vu.data.N_DIGITS)})
    if intervals:
        rows["accuracy_low"], rows["accuracy_high"] = rows["accuracy"] - 0.015, np.minimum(rows["accuracy"] + 0.01, 1)
    mean = pd.DataFrame([{"digit": "mean", **rows.drop(columns="digit").mean().to_dict()}])
    return pd.concat([rows, mean], ignore_index=True)


def _sweep(ks: tuple[int, ...] = (10, 20, 50, 100, 200)) -> pd.DataFrame:
    """A ``cluster_sweep`` table with raw metric names, train and test rows per k."""
    rows = [{"k": k, "split": split, "digits named": 10, "accuracy_hungarian": 0.8 if k == 10 else np.nan,
             "accuracy_majority": 0.8 + k / 2000, "purity": 0.85 + k / 2000, "nmi": 0.7 - k / 1000,
             "ari": 0.65 - k / 400} for k in ks for split in ("train", "test")]
    return pd.DataFrame(rows)


def _comparison() -> pd.DataFrame:
    """A ``compare_samplers`` table with the real sampler names (long ones included) and six temperatures."""
    names = ["clamped prior", "k-means 10", "pure k-means 200", "pure mixture 100"]
    rows = []
    for i, name in enumerate(names):
        for t in ([1.0] if i == 0 else [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]):
            accuracy = 0.1 if i == 0 else 1.0 - 0.05 * t / i
            rows.append({"sampler": name, "temperature": t, "recall": 0.3 + 0.5 * t, "accuracy": accuracy,
                         "accuracy_low": accuracy - 0.01, "accuracy_high": min(accuracy + 0.01, 1.0),
                         "min_accuracy": 0.9})
    return pd.DataFrame(rows)


def _verdicts(n: int = 12, wrong_rows: tuple[int, ...] = (4, 7, 9)) -> np.ndarray:
    """Judge verdicts [10, n]: every row correct except a few samples in ``wrong_rows``."""
    verdicts = np.repeat(np.arange(vu.data.N_DIGITS)[:, None], n, axis=1)
    for row in wrong_rows:
        verdicts[row, : n // 2] = (row + 1) % vu.data.N_DIGITS
    return verdicts


FIGURES: dict[str, Callable[[], Figure]] = {
    "plot_class_balance": lambda: vu.plot_class_balance(_mnist().labels, "Training images per digit (60,000 in all)"),
    "plot_examples_per_digit": lambda: vu.plot_examples_per_digit(
        _mnist(), per_digit=8, seed=0, title="Random training images, one row per digit"),
    "plot_mean_images": lambda: vu.plot_mean_images(_mnist(), "Mean training image of each digit"),
    "plot_intensity_histogram": lambda: vu.plot_intensity_histogram(
        _images(20), "Pixel intensities of the training images"),
    "plot_image_grid": lambda: vu.plot_image_grid(
        _images(4, 10), "Interpolation between the mean codes of two digits",
        ["1 -> 7", "4 -> 9", "3 -> 8", "0 -> 6"], xlabel="step"),
    "plot_loss_curves": lambda: vu.plot_loss_curves(
        _history(231, test_every=10), "Negative ELBO and its terms per epoch (nats per image)", best_epoch=221,
        original=_original_log()),
    "plot_loss_curves, no validation": lambda: vu.plot_loss_curves(
        _history(60, validation=False), "Training curves", original=_original_log()),
    "plot_loss_curves, two-epoch smoke run": lambda: vu.plot_loss_curves(
        _history(2), "Training curves", best_epoch=2, original=_original_log()),
    "plot_reconstructions": lambda: vu.plot_reconstructions(
        vu.VAE(z_dim=15), _images(12), "Test digits and their reconstructions"),
    "plot_confusion": lambda: vu.plot_confusion(
        np.r_[np.arange(100) % 10, [-1] * 5], np.r_[np.arange(100) % 10, [3] * 5],
        "Test images: true digit vs digit of their k = 10 cluster"),
    "plot_judged_accuracy": lambda: vu.plot_judged_accuracy(
        _quality(0.99, intervals=True), _quality(0.1, intervals=True),
        title="Judged accuracy per digit (500 samples each, fresh seed)"),
    "plot_judged_accuracy, no intervals": lambda: vu.plot_judged_accuracy(
        _quality(0.99, intervals=False), None, title="Judged accuracy per digit"),
    "plot_latent_projection": lambda: vu.plot_latent_projection(
        np.random.default_rng(0).normal(size=(300, 2)), np.arange(300) % 10,
        np.random.default_rng(1).normal(size=(10, 2)), "Test codes, PCA of the 15-d means (3,000 images shown)",
        "PC 1 (21% of variance)", "PC 2 (15% of variance)"),
    "plot_latent_projection, no centres": lambda: vu.plot_latent_projection(
        np.random.default_rng(0).normal(size=(300, 2)), np.arange(300) % 10, None,
        "Test codes, t-SNE of 3,000 images", "t-SNE 1", "t-SNE 2"),
    "plot_traversal": lambda: vu.plot_traversal(
        _images(5, 9), [3, 0, 7, 12, 5], torch.linspace(-2.5, 2.5, 9),
        "Traversal of the five dimensions with the largest KL"),
    "plot_kl_per_dimension": lambda: vu.plot_kl_per_dimension(
        np.linspace(3.0, 0.001, 15), np.r_[np.linspace(1.5, 0.05, 13), [0.002, 1e-5]],
        "KL per latent dimension (test set); 13 of 15 active"),
    "plot_k_sweep": lambda: vu.plot_k_sweep(_sweep()),
    "plot_tradeoff": lambda: vu.plot_tradeoff(_comparison(), _comparison().iloc[3]),
    "plot_family_curves": lambda: vu.plot_family_curves(pd.concat([
        _comparison().assign(family=family, **{"training seed": seed})
        for family in ("unconditional VAE", "conditional VAE") for seed in (0, 1, 2)]),
        "Both families over temperature, run by run"),
    "plot_side_by_side": lambda: vu.plot_side_by_side(
        _images(10, 5), _images(10, 5),
        ("row d: sampled from clusters named d (T = 0.9)", "N(0, I) clamped to [-2, 2], rows merely titled"),
        "5 generated images per digit: this project beside the course report's way"),
    "plot_rejected_samples": lambda: vu.plot_rejected_samples(
        _images(10, 12), _verdicts(), "Generated samples the judge read as another digit"),
    "plot_rejected_samples, none rejected": lambda: vu.plot_rejected_samples(
        _images(10, 12), _verdicts(wrong_rows=()), "Generated samples the judge read as another digit"),
    "plot_generated_confusion": lambda: vu.plot_generated_confusion(
        _verdicts(), "Digit asked for against digit judged (12 samples per digit)"),
    "plot_course_protocol": lambda: vu.plot_course_protocol(
        _history(125, validation=False, test_every=10), _original_log(),
        "The course protocol: our training loss against the course report's"),
    "plot_course_protocol, finished": lambda: vu.plot_course_protocol(
        _history(1250, validation=False, test_every=10), _original_log(), "The course protocol"),
    "plot_course_protocol, first epoch": lambda: vu.plot_course_protocol(
        _history(1, validation=False), _original_log(), "The course protocol"),
    "plot_tradeoff, with references": lambda: vu.plot_tradeoff(
        _comparison(), _comparison().iloc[3], references={
            "real training digits": {"recall": 0.95, "accuracy": 0.995},
            "reconstructions of test digits": {"recall": 0.9, "accuracy": 0.99}}),
    "plot_seed_band": lambda: vu.plot_seed_band(
        pd.DataFrame({f"runs/seed{i}": _history(231)["train_loss"].to_numpy() + 0.03 * i for i in range(4)},
                     index=np.arange(1, 232)),
        _original_log(), "4 runs of the main protocol and the course report's log"),
    "plot_nearest_copies": lambda: vu.plot_nearest_copies(
        {"ex-post sampler": vu.copying.ClosestPairs(_images(1, 10)[0], _images(1, 10)[0], np.linspace(1, 2, 10)),
         "conditional VAE": vu.copying.ClosestPairs(_images(1, 10)[0], _images(1, 10)[0], np.linspace(1, 2, 10))},
        "Generated digits nearest to a training image, above that image"),
}


@pytest.fixture
def figure(request) -> Figure:
    """Build the figure named by the test's parameter and close it afterwards."""
    fig = FIGURES[request.param]()
    yield fig
    plt.close(fig)


def test_every_public_plot_function_is_checked_for_print_size():
    functions = {name for name in vu.plots.__all__ + vu.plots_generation.__all__ if name.startswith("plot_")}
    assert functions == {name.split(",")[0] for name in FIGURES}


@pytest.mark.parametrize("figure", list(FIGURES), indirect=True)
def test_figure_prints_within_text_width_with_legible_text(figure):
    assert figure_checks.print_size_problems(figure) == []


def test_print_size_problems_flags_small_text_and_oversized_figure():
    fig, ax = plt.subplots(figsize=(8, 10))
    ax.set_title("tiny title", fontsize=6)
    ax.plot([0, 1], [0, 1])
    problems = figure_checks.print_size_problems(fig)
    plt.close(fig)
    assert any("wide" in problem for problem in problems)
    assert any("tall" in problem for problem in problems)
    assert any("'tiny title'" in problem and "6 pt" in problem for problem in problems)


def test_print_size_problems_ignores_text_that_is_not_drawn():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "hidden", fontsize=4, visible=False)
    ax.text(0.5, 0.5, "", fontsize=4)
    problems = figure_checks.print_size_problems(fig)
    plt.close(fig)
    assert problems == []


def test_rejected_samples_are_taken_from_each_row_in_turn():
    fig = vu.plot_rejected_samples(_images(10, 12), _verdicts(), "rejected", max_images=5)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    assert titles == ["asked 4, judged 5", "asked 7, judged 8", "asked 9, judged 0", "asked 4, judged 5",
                      "asked 7, judged 8"]


def test_generated_confusion_cells_are_percent_of_the_row():
    fig = vu.plot_generated_confusion(_verdicts(), "confusion")
    cells = {text.get_text() for text in fig.axes[0].texts}
    plt.close(fig)
    assert {"100", "50.0", "0"} <= cells  # rows 4, 7, 9: half judged as the next digit


def test_k_sweep_shows_every_k_with_reader_facing_metric_names():
    fig = vu.plot_k_sweep(_sweep())
    ax = fig.axes[0]
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(fig)
    assert ticks == ["10", "20", "50", "100", "200"]
    assert legend[:4] == ["accuracy (majority)", "purity", "NMI", "ARI"]


def test_k_sweep_draws_metrics_that_always_agree_as_one_labelled_curve():
    sweep = _sweep().assign(purity=lambda df: df["accuracy_majority"])  # majority naming: they coincide
    fig = vu.plot_k_sweep(sweep)
    legend = [text.get_text().replace("\n", " ") for text in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert legend[:3] == ["accuracy (majority) = purity", "NMI", "ARI"]


def test_kl_per_dimension_needs_the_variance_of_the_means_not_a_threshold():
    with pytest.raises(TypeError, match="mean_variance"):
        vu.plot_kl_per_dimension(np.ones(15), 0.01, "old call")


def test_judged_accuracy_draws_intervals_only_when_the_table_has_them():
    with_intervals = vu.plot_judged_accuracy(_quality(0.99, intervals=True), None, "with")
    without = vu.plot_judged_accuracy(_quality(0.99, intervals=False), None, "without")
    counts = [len(fig.axes[0].containers) for fig in (with_intervals, without)]
    plt.close(with_intervals)
    plt.close(without)
    assert counts == [2, 1]  # bars and error bars; bars only


def test_saved_figures_are_palette_pngs_at_the_figure_dpi_and_shown_as_saved(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda output, metadata=None: shown.append(output.data))
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.scatter(*np.random.default_rng(RNG_SEED).normal(size=(2, 500)), c=np.arange(500), cmap="viridis", alpha=0.5)
    full_colour = io.BytesIO()
    fig.savefig(full_colour, format="png", dpi=printsize.FIGURE_DPI, bbox_inches="tight")
    vu.save_and_show(fig, tmp_path / "scatter.png", "A scatter.")

    saved = (tmp_path / "scatter.png").read_bytes()
    assert shown[0] == saved and "A scatter." in shown[1]  # the picture, then its caption as text
    with Image.open(io.BytesIO(saved)) as image, Image.open(full_colour) as original:
        assert image.mode == "P" and round(image.info["dpi"][0]) == printsize.FIGURE_DPI
        assert image.size == original.size
        difference = np.abs(np.asarray(image.convert("RGB"), float) - np.asarray(original.convert("RGB"), float))
        assert difference.mean() < 1.0  # of 255: no visible change
    assert len(saved) < 0.7 * len(full_colour.getvalue())

    transparent = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buffer = io.BytesIO()
    transparent.save(buffer, format="PNG")
    with Image.open(io.BytesIO(printsize.palette_png(buffer.getvalue()))) as image:
        assert image.convert("RGB").getpixel((0, 0)) == (255, 255, 255)  # transparent prints as white, not black


def test_a_saved_figure_leaves_its_title_to_the_caption_and_the_notebook_shows_both(tmp_path, monkeypatch):
    from vae_utils.printsize import _take_out_title

    fig, _ = plt.subplots()
    fig.suptitle("Judged accuracy\nper digit.")
    assert _take_out_title(fig) == "Judged accuracy per digit"
    assert not fig.get_suptitle() and not fig._suptitle.get_visible() and not fig._suptitle.get_in_layout()
    plt.close(fig)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda output, metadata=None: shown.append(output.data))
    fig, _ = plt.subplots()
    fig.suptitle("A title")
    vu.save_and_show(fig, tmp_path / "figure.png", "The caption.")
    assert shown[0] == (tmp_path / "figure.png").read_bytes()
    assert shown[1] == "**A title.** The caption."  # the title went to the text under the picture


def test_the_tradeoff_names_the_samplers_below_its_axis():
    comparison = _comparison()
    comparison.loc[comparison["sampler"] == "clamped prior", "accuracy"] = 0.1
    fig = vu.plot_tradeoff(comparison, comparison.iloc[3], reference="the validation digits")
    ax = fig.axes[0]
    notes = [text.get_text() for text in ax.texts]
    assert any("clamped prior: at most 10%" in note for note in notes)
    assert ax.get_ylim()[0] == pytest.approx(0.9) and "validation digits" in ax.get_xlabel()
    plt.close(fig)

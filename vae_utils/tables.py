"""Every table the notebooks show, built from results, and how a table is displayed: HTML in JupyterLab, with its
cells and caption in the output's metadata for the report's builder.

Tables are DataFrames built from results; nothing here computes a result of its own. The prose is report/paper.md.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from .data import N_DIGITS, N_TRAIN_IMAGES, MNISTTensors
from .formatting import judged_accuracy, mean_sd, percent, with_interval
from .latent import METRIC_NAMES
from .model import VAE, count_parameters, eval_mode, summary_text

__all__ = ["comparison_table", "course_report_comparison", "early_stopping_table", "format_table", "judges_table",
    "k_sweep_table", "key_rows", "layer_table", "likelihood_table", "log_agreement_table", "loss_table",
    "metrics_frame", "parameter_counts", "protocol_table", "quality_summary_table", "quality_table", "sampler_table",
    "shape_walkthrough", "show_markdown", "show_table", "split_summary", "spread_table", "table_parts",
    "training_details_table"]



def format_table(df: pd.DataFrame, float_digits: int = 2) -> pd.DataFrame:
    """Numbers as report text: integers with thousands separators, floats rounded, NaN left blank."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]):
            continue
        if pd.api.types.is_integer_dtype(out[column]):
            out[column] = out[column].map(lambda v: f"{v:,}")
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:,.{float_digits}f}")
    # pandas 3 keeps a missing value missing through astype(str): blank it in text columns too, or it would print
    # as "NaN" and break the notebook's JSON metadata
    return out.astype(object).where(out.notna(), "").astype(str)


def _compact_html(html: str) -> str:
    """pandas' HTML without its indentation: the same table, and about a third less of the executed notebook."""
    return "".join(line.strip() for line in html.splitlines())


def show_table(df: pd.DataFrame, caption: str, float_digits: int = 2, label: str | None = None) -> None:
    """Display a table as HTML in JupyterLab, with its formatted cells and caption in the output's metadata.

    ``label`` (``tbl:name``) is what the paper's ``@tbl:name`` refers to. The notebook says what the table holds;
    how it is set on the page (column widths, landscape) is the report builder's decision (``report_tools.typeset``).
    """
    from IPython.display import display

    text = format_table(df, float_digits)
    shape = {"label": label, "caption": caption, "columns": list(text.columns), "rows": text.values.tolist()}
    display({
        "text/html": f"<p><b>{caption}</b></p>" + _compact_html(text.to_html(index=False)),
        "text/plain": f"{caption}\n{text.to_string(index=False)}",
    }, metadata={"report_table": shape}, raw=True)


def show_markdown(text: str) -> None:
    """Display text computed from results as formatted prose (rendered by pandoc in the PDF)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def split_summary(train_set: MNISTTensors, test_set: MNISTTensors) -> pd.DataFrame:
    """Size, tensor shape and value range of each split, as a table for notebook 01."""
    return pd.DataFrame([
        {"split": name, "images": len(split.images), "shape": str(list(split.images.shape)),
         "min": float(split.images.min()), "max": float(split.images.max()), "mean": float(split.images.mean())}
        for name, split in (("train", train_set), ("test", test_set))
    ])


_SUMMARY_ROW = re.compile(r"^\s*(\w+-\d+)\s+(\[.*?\])\s+([\d,]+)\s*$")


def layer_table(model: nn.Module) -> pd.DataFrame:
    """The torchsummary table as a DataFrame (layer, output shape, parameters), with a total row.

    Parsed from ``summary_text`` itself, so the report's table and the printed
    summary come from one source and cannot disagree.
    """
    text = summary_text(model)
    rows = [
        {"layer": layer, "output shape": shape, "parameters": int(params.replace(",", ""))}
        for layer, shape, params in (m.groups() for m in map(_SUMMARY_ROW.match, text.splitlines()) if m)
    ]
    total = re.search(r"Total params: ([\d,]+)", text)
    if not rows or total is None:
        raise RuntimeError(f"could not parse the torchsummary output:\n{text}")
    total_params = int(total.group(1).replace(",", ""))
    table = pd.DataFrame(rows)
    if table["parameters"].sum() != total_params:
        raise RuntimeError("layer rows do not add up to torchsummary's total")
    return pd.concat([table, pd.DataFrame([{"layer": "Total", "output shape": "", "parameters": total_params}])],
                     ignore_index=True)


def parameter_counts(model: VAE) -> pd.DataFrame:
    """Parameters of the encoder, the decoder and the whole model."""
    return pd.DataFrame([
        {"part": "encoder (image to mean and log-variance)", "parameters": count_parameters(model.encoder)},
        {"part": "decoder (latent code to pixel logits)", "parameters": count_parameters(model.decoder)},
        {"part": "total", "parameters": count_parameters(model)},
    ])


def _short_repr(layer: nn.Module) -> str:
    """A layer's repr without keyword noise, e.g. 'Conv2d(1, 32, k=4, s=2, p=1)', to fit a report table."""
    text = repr(layer)
    for name, short in (("kernel_size", "k"), ("stride", "s"), ("padding", "p")):
        text = re.sub(rf"{name}=\((\d+), \1\)", rf"{short}=\1", text)
    text = re.sub(r"in_features=(\d+), out_features=(\d+), bias=True", r"\1, \2", text)
    return text.replace("start_dim=1, end_dim=-1", "")


def shape_walkthrough(model: VAE, batch: torch.Tensor) -> pd.DataFrame:
    """Follow one batch through every layer, recording each tensor's shape, as a student would on paper."""
    rows = [("input x", "", batch.shape)]
    with eval_mode(model):
        h = batch
        for index, layer in enumerate(model.encoder):
            h = layer(h)
            rows.append((f"encoder[{index}]", _short_repr(layer), h.shape))
        mu, logvar = h.chunk(2, dim=1)
        rows.append(("mu, log sigma^2 (each)", "chunk(2)", mu.shape))
        h = model.reparameterize(mu, logvar, torch.Generator(device=mu.device).manual_seed(0))
        rows.append(("z", "mu + sigma * eps", h.shape))
        for index, layer in enumerate(model.decoder):
            h = layer(h)
            rows.append((f"decoder[{index}]", _short_repr(layer), h.shape))
    rows.append(("sigmoid(logits)", "pixel probabilities", h.shape))
    return pd.DataFrame([{"stage": stage, "module": module, "shape": "[" + ", ".join(map(str, shape)) + "]"}
                         for stage, module, shape in rows])


def training_details_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Hyperparameters and outcome of a run as a two-column table for the report."""
    config, env = metrics["config"], metrics["environment"]
    stopping = (f"patience {config['patience']} on the validation loss ({config['val_size']:,} held-out images)"
                if config.get("stopping", "validation") == "validation" and config["val_size"]
                else f"the course report's rule: more than {config['patience']} consecutive rises of the training loss")
    rows = [
        ("batch size", config["batch_size"]),
        ("optimiser", f"Adam, learning rate {config['lr']:g}, betas ({config['betas'][0]:g}, {config['betas'][1]:g})"),
        ("latent dimensions", config["z_dim"]),
        ("epoch limit", f"{config['epochs']:,}"),
        ("stopping rule", stopping),
        ("seed", config["seed"]),
        ("epochs run (best epoch)", f"{metrics['epochs_run']:,} ({metrics['best_epoch']})"),
        ("why training stopped", metrics["stop_reason"]),
        ("wall time", f"{metrics['wall_seconds'] / 3600:.2f} hours"),
        ("mean time per epoch", f"{metrics['mean_epoch_seconds']:.1f} s (training only, validation excluded)"),
        ("hardware", f"{env['hardware']} ({env['device']}, {env['torch_threads']} threads)"),
        ("libraries", f"torch {env['torch']}, torchvision {env['torchvision']}, Python {env['python']}"),
    ]
    return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["setting", "value"])


def loss_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Train / validation (at the best epoch) and test loss terms in nats per image."""
    rows = [{"split": split, **metrics[key]} for split, key in (
        ("train (best epoch)", "best_epoch_train"), ("validation (best epoch)", "best_epoch_val")) if metrics.get(key)]
    rows.append({"split": f"test ({metrics['test']['images']:,} images)",
                 **{t: metrics["test"][t] for t in ("loss", "recon", "kl")}})
    return pd.DataFrame(rows).rename(columns={"loss": "negative ELBO", "recon": "reconstruction", "kl": "KL"})


def metrics_frame(metrics_by_split: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Clustering metrics of several splits as one table, a row per split."""
    return pd.DataFrame([{"split": split, **{METRIC_NAMES[k]: v for k, v in m.items()}}
                         for split, m in metrics_by_split.items()])


def k_sweep_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """The k sweep, one row per k, purity, NMI and ARI on the training and the test codes side by side.

    Majority accuracy is purity by definition and the Hungarian matching exists only for k = 10, so neither is
    repeated here; the number of digits that name a cluster is shown only when some k leaves a digit unnamed."""
    measures = ["purity", "nmi", "ari"]
    wide = sweep.pivot(index="k", columns="split", values=measures)
    table = pd.DataFrame({"k": wide.index})
    for measure in measures:
        for split in ("train", "test"):
            table[f"{METRIC_NAMES[measure]}, {split}"] = wide[(measure, split)].to_numpy()
    named = sweep.groupby("k")["digits named"].min()
    if (named < 10).any():
        table["digits named"] = named.to_numpy()
    return table


# Reader-facing columns of the generation tables, rounded to what the seed noise supports (Table "seed spread").
_MEASURES = {"precision": ("precision", 2), "recall": ("recall", 2), "density": ("density", 2),
             "coverage": ("coverage", 2), "frechet": ("Fréchet distance", 1)}


def _measures(row: Mapping[str, Any]) -> dict[str, str]:
    return {name: f"{row[key]:,.{digits}f}" for key, (name, digits) in _MEASURES.items()}


def quality_table(quality: pd.DataFrame) -> pd.DataFrame:
    """``generation_quality`` output per digit and mean, accuracies with their 95% intervals, as report text."""
    return pd.DataFrame([
        {"digit": row["digit"], "judged accuracy [95% interval]":
            judged_accuracy(row), **_measures(row)}
        for _, row in quality.iterrows()
    ])


def _worst(row: Mapping[str, Any]) -> str:
    return (f"{int(row['worst_digit'])}: " + with_interval(row["min_accuracy"], row["min_accuracy_low"],
                                                           row["min_accuracy_high"]))


def comparison_table(comparison: pd.DataFrame, intervals: bool = True) -> pd.DataFrame:
    """``compare_samplers`` rows as report text: accuracy and worst digit with 95% intervals, measures rounded.

    ``intervals=False`` gives the compact form of the full sweep: no intervals and no density, so that every
    setting fits one page at a readable size."""
    rows = []
    for _, row in comparison.iterrows():
        if row["missing digits"]:
            rows.append({"sampler": row["sampler"], "T": f"{row['temperature']:g}",
                         "judged accuracy": f"cannot draw {row['missing digits']}", "worst digit": ""})
            continue
        measures = _measures(row)
        if not intervals:
            measures.pop("density")
        rows.append({"sampler": row["sampler"], "T": f"{row['temperature']:g}",
                     "judged accuracy": judged_accuracy(row) if intervals else percent(row["accuracy"]),
                     "worst digit": _worst(row) if intervals else
                     f"{int(row['worst_digit'])}: {percent(row['min_accuracy'])}", **measures,
                     **({"meets rule": row["meets rule"]} if "meets rule" in row else {})})
    return pd.DataFrame(rows).fillna("")


def sampler_table(samplers: Sequence[Any]) -> pd.DataFrame:
    """Each sampler's short name and, in words, how it draws digit d (the table that defines the names)."""
    return pd.DataFrame([{"sampler": sampler.name, "digit d is drawn from": sampler.description}
                         for sampler in samplers])


def table_parts(table: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    """A long table in parts of at most ``rows`` rows, each printed as its own table (a page holds about 25)."""
    return [table.iloc[start:start + rows] for start in range(0, len(table), rows)]


def key_rows(comparison: pd.DataFrame, min_digit_accuracy: float, min_mean_accuracy: float) -> pd.DataFrame:
    """Each sampler's best setting under the rule (highest recall among the settings that meet it; if none does,
    its most accurate one): the rows the body of the report shows, the full sweep going to the appendix."""
    rows = []
    for _, group in comparison.groupby("sampler", sort=False):
        scored = group[group["missing digits"] == ""]
        if scored.empty:
            rows.append(group.iloc[0])
            continue
        meets = scored[(scored["min_accuracy"] >= min_digit_accuracy) & (scored["accuracy"] >= min_mean_accuracy)]
        best = meets.loc[meets["recall"].idxmax()] if len(meets) else scored.loc[scored["accuracy"].idxmax()]
        rows.append(pd.concat([best, pd.Series({"meets rule": "yes" if len(meets) else "no"})]))
    return pd.DataFrame(rows).reset_index(drop=True)


def quality_summary_table(qualities: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The mean row of several ``generation_quality`` tables, one row per source, with the worst digit."""
    rows = []
    for name, quality in qualities.items():
        per_digit = quality[quality["digit"] != "mean"]
        worst = per_digit.loc[per_digit["accuracy"].idxmin()]
        mean = quality[quality["digit"] == "mean"].iloc[0]
        rows.append({"samples": name,
                     "judged accuracy": judged_accuracy(mean),
                     "worst digit": f"{worst['digit']}: {percent(worst['accuracy'])}", **_measures(mean)})
    return pd.DataFrame(rows)


def spread_table(spread: pd.DataFrame) -> pd.DataFrame:
    """The chosen sampler's numbers on each fresh seed, then their mean ± standard deviation over the seeds."""
    rows = [{"seed": str(int(row["seed"])), "judged accuracy": percent(row["accuracy"], 2),
             "worst digit": f"{int(row['worst_digit'])}: {percent(row['min_accuracy'], 1)}", **_measures(row)}
            for _, row in spread.iterrows()]
    rows.append({"seed": "mean ± sd", "judged accuracy": mean_sd(spread["accuracy"], 2, 100, "%"),
                 "worst digit": mean_sd(spread["min_accuracy"], 1, 100, "%"),
                 **{name: mean_sd(spread[key], digits) for key, (name, digits) in _MEASURES.items()}})
    return pd.DataFrame(rows)


def likelihood_table(elbo: Mapping[str, float], iw_nll: float, k: int, n_images: int) -> pd.DataFrame:
    """Negative ELBO and importance-weighted -log p(x) side by side, with the sample counts stated."""
    return pd.DataFrame([
        {"estimate": "negative ELBO (1 sample per image)", "nats per image": elbo["loss"], "test images": n_images},
        {"estimate": f"importance-weighted −log p(x), K = {k}", "nats per image": iw_nll, "test images": n_images},
        {"estimate": "gap (ELBO - IW)", "nats per image": elbo["loss"] - iw_nll, "test images": n_images},
    ])


def _epochs_phrase(metrics: Mapping[str, Any]) -> str:
    """How long a run trained and why it stopped, as its record says (the claims table's epochs row)."""
    return f"{metrics['epochs_run']:,} epochs ({metrics['stop_reason']})"


def _stopping_phrase(config: Mapping[str, Any]) -> str:
    """The stopping rule a run used, in words: the course report's own, or patience on a validation split."""
    if config["stopping"] == "course_report":
        held_out = ("no validation split" if config["val_size"] == 0
                    else f"{config['val_size']:,} validation images watched, never used to stop")
        return (f"the course report's rule: more than {config['patience']} consecutive rises of the training loss; "
                f"{held_out}")
    return f"patience {config['patience']} on a validation split of {config['val_size']:,} training images"


def _losses_phrase(metrics: Mapping[str, Any]) -> str:
    """Training, validation (when the run held some out) and test negative ELBO of the selected weights."""
    parts = [f"training {metrics['best_epoch_train']['loss']:.1f}"]
    if metrics.get("best_epoch_val"):
        parts.append(f"validation {metrics['best_epoch_val']['loss']:.1f}")
    return ", ".join(parts) + f" and test {metrics['test']['loss']:.1f}"


def _selected_phrase(metrics: Mapping[str, Any]) -> str:
    """Which weights the numbers belong to: the best validation epoch, or the last epoch under the course rule."""
    return "best epoch" if metrics["config"]["stopping"] == "validation" else "last epoch"


def course_report_comparison(results: Mapping[str, Any], metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The course report's claims beside what this project measured: what is identical and what differs."""
    chosen, prior = results["chosen"], results["prior_reported"]
    hours = metrics["wall_seconds"] / 3600
    rows = [
        ("architecture", "conv VAE, z = 15, 1,234,143 parameters (torchsummary table)",
         "identical: the same 20 torchsummary rows and 1,234,143 parameters"),
        ("objective and optimiser", "BCE + KL, batch 128, Adam lr 1e-4, betas (0.9, 0.99)", "identical"),
        ("early stopping", "more than 10 consecutive rises of the training loss (never fired)",
         _stopping_phrase(metrics["config"])),
        ("epochs and wall time", "1,250 epochs, about 2.7 hours, hardware not stated",
         f"{_epochs_phrase(metrics)}; {hours:.1f} hours on {metrics['environment']['hardware']}"),
        ("loss", "training loss about 90 (87.56 at epoch 1,250 in its log)",
         f"{_losses_phrase(metrics)} nats (negative ELBO, {_selected_phrase(metrics)}); importance-weighted "
         f"test estimate of −log p(x): {results['test_iw_nll']:.1f}"),
        ("5 images per digit", "N(0, I) draws clamped to [-2, 2], rows titled 0-9",
         f"clusters named after digits; judged {percent(chosen['accuracy'])} correct (worst digit "
         f"{chosen['worst_digit']}: {percent(chosen['min_accuracy'])}), recall {chosen['recall']:.2f}"),
        ("its own procedure, judged", "presented as per-digit samples",
         f"judged {percent(prior['accuracy'])} correct, chance being {1 / N_DIGITS:.0%}"),
        ("test set", "listed, never evaluated", "held out until training ended; evaluated once"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "course report", "this project"])


def _training_images(config: Mapping[str, Any]) -> int:
    """Images a run trained on: its training subset (all of MNIST's unless limited) less its validation split."""
    return (config["train_limit"] or N_TRAIN_IMAGES) - config["val_size"]


def _training_time(metrics: Mapping[str, Any], history: pd.DataFrame | None) -> str:
    """Wall time and the typical epoch: the median of the history's epoch times, which a few epochs slowed by other
    work on a shared CPU cannot move (the mean in metrics.json is used only when no history is at hand)."""
    hours = f"{metrics['wall_seconds'] / 3600:.1f} hours"
    if history is None or "epoch_seconds" not in history:
        return f"{hours}, {metrics['mean_epoch_seconds']:.1f} s per epoch (mean)"
    return f"{hours}, {history['epoch_seconds'].median():.1f} s per epoch (median)"


def _run_column(metrics: Mapping[str, Any], results: Mapping[str, Any],
                history: pd.DataFrame | None = None) -> dict[str, str]:
    """One run's column of ``protocol_table``: how it was trained, its likelihoods and its chosen sampler."""
    chosen = results["chosen"]
    return {
        "stopping": _stopping_phrase(metrics["config"]),
        "training images": f"{_training_images(metrics['config']):,}",
        "epochs run (weights kept)": f"{metrics['epochs_run']:,} (epoch {metrics['best_epoch']:,})",
        "training loss, kept epoch": f"{metrics['best_epoch_train']['loss']:.2f}",
        "test negative ELBO": f"{metrics['test']['loss']:.2f}",
        "test −log p(x), importance-weighted": f"{results['test_iw_nll']:.2f} (K = {results['iw_samples']})",
        "chosen sampler": f"{chosen['sampler']}, T = {chosen['temperature']:g}",
        "judged accuracy (95% interval)": judged_accuracy(chosen),
        "worst digit": f"{chosen['worst_digit']}: {percent(chosen['min_accuracy'])}",
        "precision / recall": f"{chosen['precision']:.2f} / {chosen['recall']:.2f}",
        "Fréchet distance (judge's features)": f"{chosen['frechet']:.1f}",
        "training time": _training_time(metrics, history),
    }


def protocol_table(main: tuple[Any, ...], protocol: tuple[Any, ...]) -> pd.DataFrame:
    """The validation-selected main model beside the course-protocol run, each a (metrics.json,
    latent_metrics.json[, history]) tuple, measure by measure: the same rows, judge and sampler rule for both."""
    columns = {"validation patience (main model)": _run_column(*main),
               "the course report's protocol": _run_column(*protocol)}
    return pd.DataFrame(columns).rename_axis("measure").reset_index()


def log_agreement_table(comparison: Any) -> pd.DataFrame:
    """Our training loss against the course report's log (``curves.compare_with_log``), as rows of a table."""
    if not comparison.epochs:
        return pd.DataFrame([{"measure": "epochs compared after epoch 50", "value": "none (the run is shorter)"}])
    c = comparison
    return pd.DataFrame([
        {"measure": "epochs compared", "value": f"{c.first_epoch:.0f} to {c.last_epoch:.0f}"},
        {"measure": "median absolute difference (nats)", "value": f"{c.median_abs_diff:.3f}"},
        {"measure": "largest absolute difference (nats)",
         "value": f"{c.max_abs_diff:.2f} (epoch {c.max_abs_diff_epoch:.0f})"},
        {"measure": f"training loss at epoch {c.last_epoch:.0f}: ours, the log's",
         "value": f"{c.ours_last:.3f}, {c.theirs_last:.4f}"},
    ])


def early_stopping_table(evidence: Mapping[str, Any]) -> pd.DataFrame:
    """The early-stopping evidence (``curves.early_stopping_evidence``) as rows: the noise of one validation
    estimate, the trend over the last epochs, the scatter around it and the verdict."""
    verdict = ("stopped on noise" if evidence["stopped_on_noise"] else
               "still improving" if evidence["still_improving"] else "plateau")
    patience = int(evidence["patience"])
    return pd.DataFrame([
        {"measure": f"noise of one validation estimate (sd over {evidence['noise_seeds']} noise seeds, nats)",
         "value": f"{evidence['noise_sd']:.3f}"},
        {"measure": f"trend over epochs {evidence['first_epoch']} to {evidence['last_epoch']} (nats per epoch)",
         "value": f"{evidence['slope']:.4f} ± {evidence['slope_se']:.4f}"},
        {"measure": f"expected improvement over {patience} epochs (nats)",
         "value": f"{evidence['expected_improvement']:.3f}"},
        {"measure": "scatter of single epochs around the trend (sd, nats)", "value": f"{evidence['residual_sd']:.3f}"},
        {"measure": "verdict", "value": verdict},
    ])


def judges_table(reference: Any, second: Any) -> pd.DataFrame:
    """The two judges side by side: family, training, and test accuracy with its 95% Wilson interval."""
    low, high = reference.accuracy_interval()
    low2, high2 = second.accuracy_interval()
    return pd.DataFrame([
        {"judge": "first (selects and scores)", "network": "CNN: 4 convolutions, 128-unit layer, dropout",
         "training": "60,000 training digits, no augmentation",
         "test accuracy": with_interval(reference.accuracy, low, high, 2)},
        {"judge": "second (re-scores only)", "network": "MLP: 784-512-256-10, dropout 0.2",
         "training": f"60,000 training digits rotated, shifted and scaled at random, {second.epochs} epochs",
         "test accuracy": with_interval(second.test_accuracy, low2, high2, 2)},
    ])

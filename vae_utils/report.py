"""Every table the report prints, and ``show_table``: HTML in JupyterLab, page-fitted LaTeX in the PDF.

Tables are DataFrames built from results; nothing here computes a result of its own.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import N_DIGITS, MNISTTensors
from .model import VAE, count_parameters, eval_mode, summary_text

__all__ = [
    "COMPARISON_COLUMNS", "METRIC_NAMES", "abstract", "comparison_table", "conclusion", "confusion_caption",
    "course_report_comparison", "discussion", "early_stopping_text", "format_table", "generated_caption",
    "generated_confusion_caption", "judge_text", "judged_accuracy_caption", "k_sweep_caption", "k_sweep_table",
    "key_rows", "layer_table", "likelihood_table", "log_agreement_text", "loss_curves_caption", "loss_table",
    "margin_text", "mean_sd", "metrics_frame", "parameter_counts", "percent", "protocol_caption", "protocol_text",
    "quality_summary_table", "quality_table", "rejected_caption", "rule_text", "shape_walkthrough", "show_markdown",
    "show_table", "split_summary", "spread_table", "table_latex", "tradeoff_caption", "training_details_table",
    "with_interval", "wrapped",
]

METRIC_NAMES = {
    "accuracy_hungarian": "accuracy (Hungarian)",
    "accuracy_majority": "accuracy (majority)",
    "purity": "purity",
    "nmi": "NMI",
    "ari": "ARI",
}
QUALITY_NAMES = {
    "accuracy": "judged accuracy", "min_accuracy": "worst digit", "precision": "precision", "recall": "recall",
    "density": "density", "coverage": "coverage", "frechet": "Fréchet distance",
}
_LATEX_SPECIALS = str.maketrans({c: "\\" + c for c in "&%$#_{}"})


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
    return out.astype(str)


def table_latex(text: pd.DataFrame, caption: str, column_format: str | None = None, label: str | None = None,
                landscape: bool = False) -> str:
    """A booktabs table that cannot leave the page: non-floating ([H]), caption bound to it, fitted to the text.

    Set in \\small (10 pt); only a table wider than the text is shrunk, and the report's PDF check refuses any
    text below 8 pt, so a table too wide for that must be split or moved to the landscape appendix.
    """
    tabular = text.to_latex(index=False, escape=True, column_format=column_format)
    label_line = f"\\label{{{label}}}\n" if label else ""
    table = (
        "\\begin{table}[H]\n\\centering\\small\n"
        f"\\caption{{{caption.translate(_LATEX_SPECIALS)}}}\n{label_line}"
        "\\begin{adjustbox}{max width=\\linewidth, max totalheight=0.8\\textheight}\n"
        f"{tabular}\\end{{adjustbox}}\n\\end{{table}}\n"
    )
    return f"\\begin{{landscape}}\n{table}\\end{{landscape}}\n" if landscape else table


def show_table(df: pd.DataFrame, caption: str, float_digits: int = 2, column_format: str | None = None,
               label: str | None = None, landscape: bool = False) -> None:
    """Display a table as HTML in JupyterLab and as final LaTeX in the PDF report.

    ``column_format`` is LaTeX's column spec, e.g. ``"lp{0.6\\linewidth}"`` to wrap long text; ``label``
    (``tbl:name``) is what the text's ``@tbl:name`` refers to; ``landscape`` turns the PDF page (wide appendix tables).
    """
    from IPython.display import display

    text = format_table(df, float_digits)
    display({
        "text/html": f"<p><b>{caption}</b></p>" + text.to_html(index=False),
        "text/latex": table_latex(text, caption, column_format, label, landscape),
        "text/plain": f"{caption}\n{text.to_string(index=False)}",
    }, raw=True)


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


def percent(value: float, digits: int = 1) -> str:
    """A share as a percentage: 0.989 -> '98.9%'."""
    return f"{100 * value:.{digits}f}%"


def with_interval(value: float, low: float, high: float, digits: int = 1) -> str:
    """A judged accuracy with its 95% Wilson interval: '98.9% [98.6, 99.2]'."""
    return f"{percent(value, digits)} [{100 * low:.{digits}f}, {100 * high:.{digits}f}]"


def mean_sd(values: pd.Series, digits: int, scale: float = 1.0, unit: str = "") -> str:
    """Mean ± sample standard deviation over seeds: '98.9 ± 0.1%'."""
    return f"{scale * values.mean():.{digits}f} ± {scale * values.std(ddof=1):.{digits}f}{unit}"


# Reader-facing columns of the generation tables, rounded to what the seed noise supports (Table "seed spread").
_MEASURES = {"precision": ("precision", 2), "recall": ("recall", 2), "density": ("density", 2),
             "coverage": ("coverage", 2), "frechet": ("Fréchet distance", 1)}
def wrapped(share: float) -> str:
    """A LaTeX column that wraps its text ragged-right at ``share`` of the text width (for show_table)."""
    return rf">{{\raggedright\arraybackslash}}p{{{share}\linewidth}}"


COMPARISON_COLUMNS = wrapped(0.22) + "r" * 8  # sampler names wrap; numbers stay on one line


def _measures(row: Mapping[str, Any]) -> dict[str, str]:
    return {name: f"{row[key]:,.{digits}f}" for key, (name, digits) in _MEASURES.items()}


def quality_table(quality: pd.DataFrame) -> pd.DataFrame:
    """``generation_quality`` output per digit and mean, accuracies with their 95% intervals, as report text."""
    return pd.DataFrame([
        {"digit": row["digit"], "judged accuracy [95% interval]":
            with_interval(row["accuracy"], row["accuracy_low"], row["accuracy_high"]), **_measures(row)}
        for _, row in quality.iterrows()
    ])


def _worst(row: Mapping[str, Any]) -> str:
    return (f"{int(row['worst_digit'])}: " + with_interval(row["min_accuracy"], row["min_accuracy_low"],
                                                           row["min_accuracy_high"]))


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """``compare_samplers`` rows as report text: accuracy and worst digit with 95% intervals, measures rounded."""
    rows = []
    for _, row in comparison.iterrows():
        if row["missing digits"]:
            rows.append({"sampler": row["sampler"], "T": f"{row['temperature']:g}",
                         "judged accuracy": f"cannot draw {row['missing digits']}", "worst digit": ""})
            continue
        rows.append({"sampler": row["sampler"], "T": f"{row['temperature']:g}",
                     "judged accuracy": with_interval(row["accuracy"], row["accuracy_low"], row["accuracy_high"]),
                     "worst digit": _worst(row), **_measures(row)})
    return pd.DataFrame(rows).fillna("")


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
        rows.append(meets.loc[meets["recall"].idxmax()] if len(meets) else scored.loc[scored["accuracy"].idxmax()])
    return pd.DataFrame(rows).reset_index(drop=True)


def quality_summary_table(qualities: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The mean row of several ``generation_quality`` tables, one row per source, with the worst digit."""
    rows = []
    for name, quality in qualities.items():
        per_digit = quality[quality["digit"] != "mean"]
        worst = per_digit.loc[per_digit["accuracy"].idxmin()]
        mean = quality[quality["digit"] == "mean"].iloc[0]
        rows.append({"samples": name,
                     "judged accuracy": with_interval(mean["accuracy"], mean["accuracy_low"], mean["accuracy_high"]),
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
        {"estimate": f"importance-weighted -log p(x), K = {k}", "nats per image": iw_nll, "test images": n_images},
        {"estimate": "gap (ELBO - IW)", "nats per image": elbo["loss"] - iw_nll, "test images": n_images},
    ])


def _stop_phrase(metrics: Mapping[str, Any]) -> str:
    return f"{metrics['epochs_run']:,} epochs ({metrics['stop_reason']})"


def course_report_comparison(results: Mapping[str, Any], metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The course report's claims beside what this project measured: what is identical and what differs."""
    chosen, prior = results["chosen"], results["prior_reported"]
    hours = metrics["wall_seconds"] / 3600
    rows = [
        ("architecture", "conv VAE, z = 15, 1,234,143 parameters (torchsummary table)",
         "identical: the same 20 torchsummary rows and 1,234,143 parameters"),
        ("objective and optimiser", "BCE + KL, batch 128, Adam lr 1e-4, betas (0.9, 0.99)", "identical"),
        ("early stopping", "more than 10 consecutive rises of the training loss (never fired)",
         f"patience 10 on a validation split of {metrics['config']['val_size']:,} training images"),
        ("epochs and wall time", "1,250 epochs, about 2.7 hours, hardware not stated",
         f"{_stop_phrase(metrics)}; {hours:.1f} hours on {metrics['environment']['hardware']}"),
        ("loss", "training loss about 90 (87.56 at epoch 1,250 in its log)",
         f"training {metrics['best_epoch_train']['loss']:.1f}, validation {metrics['best_epoch_val']['loss']:.1f} "
         f"and test {metrics['test']['loss']:.1f} nats (negative ELBO, best epoch); importance-weighted test "
         f"estimate of -log p(x): {results['test_iw_nll']:.1f}"),
        ("5 images per digit", "N(0, I) draws clamped to [-2, 2], rows titled 0-9",
         f"clusters named after digits; judged {percent(chosen['accuracy'])} correct (worst digit "
         f"{chosen['worst_digit']}: {percent(chosen['min_accuracy'])}), recall {chosen['recall']:.2f}"),
        ("its own procedure, judged", "presented as per-digit samples",
         f"judged {percent(prior['accuracy'])} correct, chance being {1 / N_DIGITS:.0%}"),
        ("test set", "listed, never evaluated", "held out until training ended; evaluated once"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "course report", "this project"])


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


# --- captions and sentences: every number taken from the results ---------------------------------------------------

def loss_curves_caption(metrics: Mapping[str, Any]) -> str:
    """Caption of the learning curves: the best epoch and its losses."""
    train, val = metrics["best_epoch_train"], metrics.get("best_epoch_val")
    held_out = f", validation {val['loss']:.2f}" if val else ""
    return (f"Negative ELBO per epoch (left; training, validation and the course report's printed training loss, "
            f"dashed) and its two terms (right), in nats per image. The vertical line marks the selected epoch, "
            f"{metrics['best_epoch']} of {metrics['epochs_run']}: training loss {train['loss']:.2f}{held_out}.")


def log_agreement_text(comparison: Any) -> str:
    """How closely our training loss follows the course report's log (``curves.compare_with_log``)."""
    if not comparison.epochs:
        return ("This run is too short to compare with the course report's log beyond epoch 50, where both curves "
                "have left their steep start.")
    c = comparison
    return (f"Over epochs {c.first_epoch:.0f}-{c.last_epoch:.0f}, after both curves have left their steep start, our "
            f"training loss differs from the course report's by a median of {c.median_abs_diff:.2f} nats per image, "
            f"and by at most {c.max_abs_diff:.2f} (epoch {c.max_abs_diff_epoch:.0f}). At epoch "
            f"{c.last_epoch:.0f} ours is {comparison.ours_last:.2f} and the course report's "
            f"{comparison.theirs_last:.2f}. The implementation reproduces the course report's training, epoch by "
            "epoch, within the noise of one run.")


def early_stopping_text(metrics: Mapping[str, Any]) -> str:
    """Whether patience stopped on noise, from ``metrics['early_stopping']`` (``curves.early_stopping_evidence``)."""
    evidence = metrics.get("early_stopping")
    if not evidence:
        return "This run held out no validation images, so it used the course report's rule; see Section 7."
    if not np.isfinite(evidence["slope"]):
        return "This run is too short to measure a trend of the validation loss."
    patience = evidence["patience"]
    if evidence["stopped_on_noise"]:
        verdict = (f"Patience {patience} therefore stopped on noise: the loss was still improving, but by less over "
                   f"{patience} epochs than single epochs scatter, so {patience} epochs without a new best were likely "
                   "even as the model improved.")
    elif not evidence["still_improving"]:
        verdict = "The trend is indistinguishable from flat: training had reached a plateau when it stopped."
    else:
        verdict = ("The loss was still improving by more than single epochs scatter, so the stop came from an "
                   "unusually long run of unlucky epochs.")
    overfitting = (" It is no sign of overfitting: the validation loss was falling, not rising."
                   if evidence["slope"] < 0 else "")
    return (f"Evaluated {evidence['noise_seeds']} times with different noise seeds, the selected weights give a "
            f"validation loss with a standard deviation of {evidence['noise_sd']:.3f} nats: one estimate is precise. "
            f"Over the last {evidence['trend_epochs']} epochs (epochs {evidence['first_epoch']}-"
            f"{evidence['last_epoch']}) the validation loss still fell by {-evidence['slope']:.4f} ± "
            f"{evidence['slope_se']:.4f} nats per epoch (slope ± standard error), about "
            f"{evidence['expected_improvement']:.2f} nats per {evidence['patience']} epochs, while single epochs "
            "scattered around that trend by "
            f"{evidence['residual_sd']:.2f} nats (standard deviation). The scatter is not estimation noise, which "
            f"is far smaller, but the weights moving from epoch to epoch. {verdict}{overfitting} What training to "
            "1,250 epochs gives is measured in Section 7.")


def confusion_caption(k10_metrics: Mapping[str, Mapping[str, float]]) -> str:
    """Caption of the k = 10 confusion matrix."""
    test = k10_metrics["test"]
    return (f"Test images by true digit (rows) and the digit their k = 10 cluster is named after (columns), "
            f"percent of each row. Matched one-to-one, the clusters agree with the labels for "
            f"{percent(test['accuracy_hungarian'])} of the test images.")


def k_sweep_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """The k sweep with reader-facing column names."""
    return sweep.rename(columns={**METRIC_NAMES, "k": "k"})


def k_sweep_caption(sweep: pd.DataFrame) -> str:
    """Caption of the k sweep: purity from the smallest to the largest k."""
    purity = sweep.filter(like="purity").columns[-1]
    first, last = sweep.iloc[0], sweep.iloc[-1]
    return (f"Clustering quality of k-means against the number of clusters k (test images, cluster names from the "
            f"training images): purity rises from {percent(first[purity])} at k = {int(first['k'])} to "
            f"{percent(last[purity])} at k = {int(last['k'])}.")


def judge_text(reference: Any) -> str:
    """The judge's accuracy on real test digits with its 95% interval."""
    from .judge import wilson_interval

    n = reference.n_images
    low, high = wilson_interval(round(reference.accuracy * n), n)
    return (f"The judge classifies {with_interval(reference.accuracy, low, high, 2)} of the {n:,} real test "
            "digits correctly (95% Wilson interval in brackets, as for every judged accuracy in this report).")


def rule_text(min_digit_accuracy: float, min_mean_accuracy: float, min_purity: float) -> str:
    """The selection rule in words, with its thresholds."""
    return (f"The purity-filtered samplers leave out clusters whose commonest digit makes up less than "
            f"{percent(min_purity, 0)} of their members. **The rule**, stated before the reported seeds are "
            f"drawn: on the tuning seed, take the sampler and temperature with the highest mean recall among those "
            f"at which every digit is judged at least {percent(min_digit_accuracy)} correct and the mean at least "
            f"{percent(min_mean_accuracy)}. Recall is the tie-breaker because accuracy alone rewards collapse. The "
            "thresholds keep a margin above what the report sets out to show (95% for every digit, 98% on "
            "average), because the reported numbers come from fresh seeds the rule never saw. @tbl:sampler-key "
            "shows each sampler at its best setting; @tbl:sampler-sweep in the appendix lists all of them.")


def tradeoff_caption(chosen: Mapping[str, Any]) -> str:
    """Caption of the accuracy-recall trade-off."""
    return (f"Judged accuracy against recall for every sampler and temperature on the tuning seed: lower "
            f"temperatures buy accuracy with variety. The rule chose {chosen['sampler']} at T = "
            f"{chosen['temperature']:g} (judged {percent(chosen['accuracy'])}, recall {chosen['recall']:.2f}).")


def margin_text(margins: Mapping[str, Mapping[str, float]], n_seeds: int) -> str:
    """Whether the chosen point clears the rule's thresholds by more than the seed noise."""
    mean, worst = margins["accuracy"], margins["min_accuracy"]

    def clause(m: Mapping[str, float], what: str) -> str:
        in_sd = (f"{m['margin_in_sd']:.1f} seed standard deviations" if np.isfinite(m["margin_in_sd"])
                 else "with no variation between the seeds")
        return (f"{what} averages {percent(m['mean'], 2)} against a threshold of {percent(m['threshold'])}, a margin "
                f"of {100 * m['margin']:.2f} points, {in_sd} ({m['seeds_meeting']} of {m['seeds']} seeds meet it)")

    clear = all(m["margin"] > 0 and (m["margin_in_sd"] >= 2 or not np.isfinite(m["margin_in_sd"])) for m in (mean, worst))
    return (f"Over {n_seeds} fresh sampling seeds (@tbl:seed-spread), {clause(mean, 'the mean accuracy')}; "
            f"{clause(worst, 'the worst digit')}. "
            + ("Both margins exceed twice the seed noise, so the choice does not rest on a lucky tuning seed."
               if clear else "At least one margin is not clear of twice the seed noise: on another seed the chosen "
                             "point could miss the rule."))


def generated_caption(quality: pd.DataFrame, prior: pd.DataFrame, chosen: Mapping[str, Any]) -> str:
    """Caption of the key figure: five images per digit, ours beside the course report's procedure."""
    ours, theirs = (q[q["digit"] == "mean"].iloc[0]["accuracy"] for q in (quality, prior))
    return (f"Five generated images per digit, row d asked to show digit d. Left: this project, sampling from the "
            f"clusters named d ({chosen['sampler']}, T = {chosen['temperature']:g}); the judge accepts "
            f"{percent(ours)} of such samples. Right: the course report's procedure, N(0, I) draws clamped to "
            f"[-2, 2] with rows merely titled; the judge finds the titled digit in {percent(theirs)}.")


def judged_accuracy_caption(quality: pd.DataFrame, prior: pd.DataFrame) -> str:
    """Caption of the per-digit accuracy bars."""
    per_digit = quality[quality["digit"] != "mean"]
    worst = per_digit.loc[per_digit["accuracy"].idxmin()]
    n = int(per_digit["samples"].iloc[0])
    return (f"Share of {n} samples per digit that the judge assigns to the digit asked for, with 95% Wilson "
            f"intervals: this project (worst digit {worst['digit']}, {percent(worst['accuracy'])}) and the course "
            f"report's procedure (chance level 10%).")


def generated_confusion_caption(verdicts: np.ndarray) -> str:
    """Caption of the confusion matrix of generated digits: the commonest confusion."""
    counts = np.zeros((N_DIGITS, N_DIGITS), dtype=int)
    for asked in range(N_DIGITS):
        counts[asked] = np.bincount(verdicts[asked], minlength=N_DIGITS)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    asked, judged = np.unravel_index(off.argmax(), off.shape)
    return (f"Digit asked for (rows) against the judge's verdict (columns), percent of {verdicts.shape[1]} samples "
            f"per row. The commonest confusion: {asked} judged as {judged} ({off[asked, judged]} samples).")


def rejected_caption(verdicts: np.ndarray) -> str:
    """Caption of the gallery of rejected samples."""
    rejected = int(sum((verdicts[d] != d).sum() for d in range(len(verdicts))))
    return (f"Generated samples that the judge assigned to another digit, each titled with the digit asked for and "
            f"the judge's verdict ({rejected} of {verdicts.size:,} samples were rejected; up to 40 are shown).")


def discussion(results: Mapping[str, Any]) -> str:
    """What the generation numbers mean, in prose: fidelity above the reference, the weakest recall, the caveats."""
    chosen, real = results["chosen"], results["real_reference"]
    per_digit = pd.DataFrame(results["chosen_per_digit"])
    per_digit = per_digit[per_digit["digit"] != "mean"]
    low_recall = per_digit.loc[per_digit["recall"].idxmin()]
    return (
        f"**Fidelity above the reference.** The chosen sampler's precision ({chosen['precision']:.2f}) and density "
        f"({chosen['density']:.2f}) exceed those of real training digits ({real['precision']:.2f} and "
        f"{real['density']:.2f}), while its recall ({chosen['recall']:.2f}) and coverage ({chosen['coverage']:.2f}) "
        f"stay below theirs ({real['recall']:.2f} and {real['coverage']:.2f}). The samples concentrate on typical "
        "digits, where real digits are dense, and reach the rarer styles less often: the mode-seeking behaviour that "
        "a temperature below 1 and the purity filter both encourage.\n\n"
        f"**The weakest recall.** Digit {low_recall['digit']} has the lowest recall, {low_recall['recall']:.2f}. "
        "Its real images vary mostly in slant and stroke width, and generated samples of it cover only part of that "
        "range. A judged accuracy near 100% says nothing about this, which is why recall is measured beside it.\n\n"
        "**Labels name the clusters.** The VAE and the sampler never see a label; the training labels only decide "
        "which digit each cluster stands for. That step is what turns an unconditional model into digits on demand, "
        "and it is the only place where labels enter.\n\n"
        "**The same judge selects and scores.** The rule is applied with the judge on a tuning seed and the results "
        "are reported with the same judge on fresh seeds. Fresh seeds remove the luck of the selection; they do not "
        "remove the judge's own blind spots, which a second, independently trained classifier would."
    )


def protocol_text(protocol: Any, course_log: pd.DataFrame, metrics: Mapping[str, Any],
                  results: Mapping[str, Any]) -> str:
    """Section 7's account of the course-protocol run: finished or how far it has come, and what it shows so far."""
    from .curves import compare_with_log, heldout_minimum

    if protocol is None:
        return "The course-protocol run is not part of this build."
    history = protocol.history
    reached = int(history["epoch"].max())
    agreement = compare_with_log(history, course_log)
    held_out = heldout_minimum(history)
    if protocol.metrics is None:
        status = (f"At the time of this build it had reached epoch {reached:,} of 1,250 and continues from its saved "
                  "state; the figures below cover those epochs.")
    elif reached >= 1250:
        status = "It ran all 1,250 epochs."
    else:
        status = f"It stopped after {reached:,} epochs: {protocol.metrics['stop_reason']}."
    parts = [f"{status} @fig:course-protocol compares its training loss with the course report's log."]
    if agreement.epochs:
        parts.append(f"Over epochs {agreement.first_epoch:.0f}-{agreement.last_epoch:.0f} the two differ by a median of "
                     f"{agreement.median_abs_diff:.2f} nats per image (at most {agreement.max_abs_diff:.2f}); at epoch "
                     f"{agreement.last_epoch:.0f} ours is {agreement.ours_last:.2f} against the course report's "
                     f"{agreement.theirs_last:.2f}, which reached 87.56 at epoch 1,250.")
    if np.isfinite(held_out.min_value):
        parts.append(f"The test negative ELBO, recorded every 10 epochs, is lowest at epoch {held_out.min_epoch:.0f} "
                     f"({held_out.min_value:.2f}) and {held_out.last_value:.2f} at epoch {held_out.last_epoch:.0f}, "
                     f"against {metrics['test']['loss']:.2f} for the validation-selected main model.")
    if protocol.latent is not None:
        latent = protocol.latent
        parts.append(f"Its importance-weighted test estimate of $-\\log p(x)$ is {latent['test_iw_nll']:.2f} against "
                     f"{results['test_iw_nll']:.2f}; with the same sampler rule and judge, its chosen sampler is "
                     f"judged {percent(latent['chosen']['accuracy'])} correct with recall "
                     f"{latent['chosen']['recall']:.2f}.")
    return " ".join(parts)


def protocol_caption(protocol: Any, course_log: pd.DataFrame) -> str:
    """Caption of the course-protocol figure."""
    reached = int(protocol.history["epoch"].max())
    return (f"The course report's protocol run again: our training loss (epochs 1-{reached:,}) against the course "
            "report's printed log (all 1,250 epochs), with the test negative ELBO every 10 epochs (top), and the "
            "per-epoch difference, ours minus the course report's, with a band of ±0.5 nats (bottom).")


def _rule_phrase(chosen: Mapping[str, Any]) -> str:
    """How the operating point was reached, said plainly when no setting met the rule (a smoke run)."""
    if chosen.get("meets_rule", True):
        return "chosen by the stated rule"
    return "the setting closest to the stated rule, which no setting met"


def conclusion(results: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """A short conclusion in prose, every number taken from the results of this run."""
    chosen, prior = results["chosen"], results["prior_reported"]
    spread = results.get("seed_spread", {}).get("summary", {})
    noise = (f" Over {len(results['seed_spread']['per_seed'])} further seeds the mean accuracy varies by "
             f"{100 * spread['accuracy']['sd']:.2f} points (standard deviation)." if spread else "")
    return (
        f"The course report's network was rebuilt layer for layer (1,234,143 parameters) and trained with its "
        f"objective and optimiser; its training loss follows the course report's printed log epoch by epoch. Stopped "
        f"by validation patience after {metrics['epochs_run']} epochs, it reaches a test negative ELBO of "
        f"{metrics['test']['loss']:.2f} nats per image and an importance-weighted estimate of $-\\log p(x)$ of "
        f"{results['test_iw_nll']:.2f}. The unconditional VAE does produce digits on demand once its latent space is "
        f"clustered and the clusters are named after digits: {chosen['sampler']} at temperature "
        f"{chosen['temperature']:g}, {_rule_phrase(chosen)} and reported on a fresh seed, is judged "
        f"{percent(chosen['accuracy'])} correct (worst digit {chosen['worst_digit']}: "
        f"{percent(chosen['min_accuracy'])}) with a recall of {chosen['recall']:.2f}.{noise} Drawn the course "
        f"report's way, the same model's rows show the titled digit {percent(prior['accuracy'])} of the time, about "
        "chance: the report's per-digit claim is true now, and checked."
    )


def abstract(results: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """The title page's abstract: what was done and the headline numbers, all from this run's results."""
    chosen, prior = results["chosen"], results["prior_reported"]
    return (
        "A course report trained a convolutional variational autoencoder on MNIST and presented five generated "
        "images for each digit, but drew them from the prior without any link to the digit. We rebuild its network "
        f"(1,234,143 parameters) and training protocol, and follow its published training log epoch by epoch. With "
        f"validation-based early stopping (best epoch {metrics['best_epoch']}), the model reaches a test negative "
        f"ELBO of {metrics['test']['loss']:.2f} nats per image and an importance-weighted estimate of $-\\log p(x)$ of "
        f"{results['test_iw_nll']:.2f} (K = {results['iw_samples']}). To generate a requested digit without "
        "changing the unconditional model, we cluster the latent codes of the training images, name each cluster "
        "after its commonest digit, and sample from the clusters of that digit. An independent classifier judges "
        f"{percent(chosen['accuracy'])} of the samples correct ({chosen['sampler']}, T = {chosen['temperature']:g}; "
        f"worst digit {chosen['worst_digit']}: {percent(chosen['min_accuracy'])}), with a recall of "
        f"{chosen['recall']:.2f} of the real digits' variety; the course report's procedure scores "
        f"{percent(prior['accuracy'])}, about chance."
    )

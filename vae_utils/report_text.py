"""The report's captions and sentences, every number taken from the results (used by notebooks 03 and 04).

Nothing here is typed by hand: rerun with other results, the text changes with them; numbers use report's formatters.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .data import N_DIGITS
from .report import judged_accuracy, percent, with_interval

__all__ = [
    "abstract", "conclusion", "confusion_caption", "discussion", "early_stopping_text", "generated_caption",
    "generated_confusion_caption", "judge_text", "judged_accuracy_caption", "k_sweep_caption", "log_agreement_text",
    "loss_curves_caption", "margin_text", "protocol_caption", "protocol_text", "rejected_caption", "rule_text",
    "second_judge_text",
    "tradeoff_caption", "training_phrase",
]


def loss_curves_caption(metrics: Mapping[str, Any]) -> str:
    """Caption of the learning curves: the best epoch and its losses."""
    train, val = metrics["best_epoch_train"], metrics.get("best_epoch_val")
    held_out = f", validation {val['loss']:.2f}" if val else ""
    return (f"(a) Negative ELBO per epoch: training, validation and the course report's printed training loss "
            f"(dashed); (b) its reconstruction and (c) its KL term, in nats per image. The dotted line marks the "
            f"selected epoch, "
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
    patience = int(evidence["patience"])
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
    share = (evidence["noise_sd"] / evidence["residual_sd"]) ** 2 if evidence["residual_sd"] > 0 else float("nan")
    return (f"Evaluated with {evidence['noise_seeds']} different noise seeds, the selected weights give validation "
            f"losses with a standard deviation of {evidence['noise_sd']:.3f} nats: the noise of one estimate. Over "
            f"the last {evidence['trend_epochs']} epochs (epochs {evidence['first_epoch']}-{evidence['last_epoch']}) "
            f"the validation loss still fell by {-evidence['slope']:.4f} ± {evidence['slope_se']:.4f} nats per epoch "
            f"(slope ± standard error), about {evidence['expected_improvement']:.2f} nats per {patience} epochs, "
            f"while single epochs scattered around that trend by {evidence['residual_sd']:.2f} nats (standard "
            f"deviation). Estimation noise accounts for about {share:.0%} of that scatter's variance; the rest is the "
            f"weights moving from epoch to epoch. {verdict}{overfitting} What training to 1,250 epochs gives is "
            "measured in Section 7.")


def confusion_caption(k10_metrics: Mapping[str, Mapping[str, float]]) -> str:
    """Caption of the k = 10 confusion matrix."""
    test = k10_metrics["test"]
    return (f"Test images by true digit (rows) and the digit their k = 10 cluster is named after (columns), "
            f"percent of each row. Matched one-to-one, the clusters agree with the labels for "
            f"{percent(test['accuracy_hungarian'])} of the test images.")


def k_sweep_caption(sweep: pd.DataFrame) -> str:
    """Caption of the k sweep: purity from the smallest to the largest k."""
    purity = sweep.filter(like="purity").columns[-1]
    first, last = sweep.iloc[0], sweep.iloc[-1]
    return (f"Clustering quality of k-means against the number of clusters k (test images, cluster names from the "
            f"training images): purity rises from {percent(first[purity])} at k = {int(first['k'])} to "
            f"{percent(last[purity])} at k = {int(last['k'])}.")


def judge_text(reference: Any) -> str:
    """The judge's accuracy on real test digits with its 95% interval."""
    low, high = reference.accuracy_interval()
    return (f"The judge classifies {with_interval(reference.accuracy, low, high, 2)} of the {reference.n_images:,} "
            "real test digits correctly (95% Wilson interval in brackets, as for every judged accuracy in this "
            "report).")


def second_judge_text(second: Any) -> str:
    """The second judge's specification and test accuracy with its 95% interval."""
    low, high = second.accuracy_interval()
    return (f"A second judge of another family re-scores every generated digit but never takes part in choosing: a "
            f"multilayer perceptron (784, 512, 256 and 10 units, ReLU, dropout 0.2) trained for {second.epochs} "
            f"epochs with Adam on the 60,000 training digits, each randomly rotated by up to 12°, shifted by up to 2 "
            f"pixels and scaled by 0.9 to 1.1 every epoch (seed {second.seed}). It classifies "
            f"{with_interval(second.test_accuracy, low, high, 2)} of the {second.test_images:,} test digits "
            "correctly.")


def rule_text(min_digit_accuracy: float, min_mean_accuracy: float, min_purity: float) -> str:
    """The selection rule in words, with its thresholds."""
    return (f"The purity-filtered samplers leave out clusters whose commonest digit makes up less than "
            f"{percent(min_purity, 0)} of their members. **The rule**, stated before the reported seeds are "
            f"drawn: on the tuning seed, take the sampler and temperature with the highest mean recall among those "
            f"at which every digit is judged at least {percent(min_digit_accuracy)} correct and the mean at least "
            f"{percent(min_mean_accuracy)}. Recall is the tie-breaker because accuracy alone rewards collapse. The "
            "thresholds keep a margin above what the report sets out to show (95% for every digit, 98% on "
            "average), because the reported numbers come from fresh seeds the rule never saw. @tbl:sampler-key "
            "shows each sampler at its best setting, @fig:sampler-tradeoff the trade-off between accuracy and "
            "recall at every temperature, and @tbl:sampler-sweep in the appendix lists every setting.")


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

    clear = all(m["margin"] > 0 and (m["margin_in_sd"] >= 2 or not np.isfinite(m["margin_in_sd"]))
                for m in (mean, worst))
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


def _relation(ours: float, reference: float, tolerance: float = 0.03) -> str:
    """'above', 'below' or 'close to' a reference value (within ``tolerance``): how a measure compares, in words."""
    if abs(ours - reference) <= tolerance:
        return "close to"
    return "above" if ours > reference else "below"


def discussion(results: Mapping[str, Any]) -> str:
    """What the generation numbers mean, in prose: fidelity above the reference, the weakest recall, the caveats."""
    chosen, real = results["chosen"], results["real_reference"]
    per_digit = pd.DataFrame(results["chosen_per_digit"])
    per_digit = per_digit[per_digit["digit"] != "mean"]
    low_recall = per_digit.loc[per_digit["recall"].idxmin()]
    measures = "; ".join(f"{key} is {chosen[key]:.2f}, {_relation(chosen[key], real[key])} theirs ({real[key]:.2f})"
                         for key in ("precision", "density", "recall", "coverage"))
    mode_seeking = chosen["precision"] > real["precision"] and chosen["recall"] < real["recall"]
    paragraphs = [
        "**Fidelity and diversity against the reference.** Beside real training digits, the chosen sampler's "
        f"{measures}."
        + (" Precision above the reference with recall below it means that the samples concentrate where real "
           "digits are dense and reach the rarer styles less often: the mode-seeking behaviour that a temperature "
           "below 1 and the purity filter both encourage." if mode_seeking else ""),
        f"**The weakest recall.** Digit {low_recall['digit']} has the lowest recall, {low_recall['recall']:.2f}: only "
        f"that share of the real test images of {low_recall['digit']} lie within the neighbourhood of some generated "
        "sample, so the samples cover part of that digit's variety. A judged accuracy near 100% says nothing about "
        "this, which is why recall is measured beside it.",
        "**Labels name the clusters.** The VAE and the sampler never see a label; the training labels only decide "
        "which digit each cluster stands for. That step is what turns an unconditional model into digits on demand, "
        "and it is the only place where labels enter.",
        "**The same judge selects and scores.** The rule is applied with the judge on a tuning seed and the results "
        "are reported with the same judge on fresh seeds. Fresh seeds remove the luck of the selection; they do not "
        "remove the judge's own blind spots, which a second, independently trained classifier would.",
    ]
    return "\n\n".join(paragraphs)


def protocol_text(protocol: Any, course_log: pd.DataFrame, metrics: Mapping[str, Any],
                  results: Mapping[str, Any]) -> str:
    """Section 7's account of the course-protocol run: finished or how far it has come, what it shows so far, and,
    once notebook 04 has analysed its final weights, how it compares with the main model and what that argues for."""
    from .curves import compare_with_log

    if protocol is None:
        return "The course-protocol run is not part of this build."
    noise = (metrics.get("early_stopping") or {}).get("noise_sd", float("nan"))
    parts = [_protocol_status(protocol), _protocol_agreement(compare_with_log(protocol.history, course_log)),
             _protocol_held_out(protocol, metrics, noise)]
    text = " ".join(part for part in parts if part)
    if protocol.analysed:
        outcome = [_protocol_outcome(protocol, metrics, results, noise), _protocol_advice(protocol, metrics, noise)]
        text += "".join("\n\n" + part for part in outcome if part)
    return text


def _protocol_status(protocol: Any) -> str:
    """Finished, stopped by its rule, or still running (with the epoch it has reached)."""
    reached = int(protocol.history["epoch"].max())
    if protocol.metrics is None:
        status = (f"At the time of this build it had reached epoch {reached:,} of 1,250 and continues from its saved "
                  "state; the figures below cover those epochs.")
    elif reached >= 1250:
        status = "It ran all 1,250 epochs; the course report's rule never fired, as in the course report."
    else:
        status = f"It stopped after {reached:,} epochs: {protocol.metrics['stop_reason']}."
    return f"{status} @fig:course-protocol compares its training loss with the course report's log."


def _protocol_agreement(agreement: Any) -> str:
    """How far our training loss is from the course report's log after epoch 50 (``curves.compare_with_log``)."""
    if not agreement.epochs:
        return ""
    last = (f"at epoch {agreement.last_epoch:,.0f} ours is {agreement.ours_last:.2f} against the course report's "
            f"{agreement.theirs_last:.2f}")
    if agreement.last_epoch < 1250:
        last += ", which reached 87.56 at epoch 1,250"
    return (f"Over epochs {agreement.first_epoch:.0f}-{agreement.last_epoch:,.0f} the two differ by a median of "
            f"{agreement.median_abs_diff:.2f} nats per image (at most {agreement.max_abs_diff:.2f}, epoch "
            f"{agreement.max_abs_diff_epoch:,.0f}); {last}.")


def _protocol_held_out(protocol: Any, metrics: Mapping[str, Any], noise: float) -> str:
    """Where the test negative ELBO (every 10 epochs) bottomed out, and whether it rose beyond the noise since."""
    from .curves import heldout_minimum

    held_out = heldout_minimum(protocol.history)
    if not np.isfinite(held_out.min_value):
        return ""
    text = (f"The test negative ELBO, recorded every 10 epochs, is lowest at epoch {held_out.min_epoch:,.0f} "
            f"({held_out.min_value:.2f}) and {held_out.last_value:.2f} at epoch {held_out.last_epoch:,.0f}, against "
            f"{metrics['test']['loss']:.2f} for the validation-selected main model.")
    if not np.isfinite(noise):
        return text
    if held_out.rise > 2 * noise:
        return (f"{text} From its minimum it has risen by {held_out.rise:.2f} nats, more than twice the noise of one "
                f"estimate ({noise:.2f}): by this bound, the longer training overfits.")
    so_far = " so far" if protocol.metrics is None else ""
    return (f"{text} It has not risen from its minimum by more than twice the noise of one estimate ({noise:.2f} "
            f"nats): no overfitting{so_far}.")


def _protocol_outcome(protocol: Any, metrics: Mapping[str, Any], results: Mapping[str, Any], noise: float) -> str:
    """The final weights against the main model: test negative ELBO, importance-weighted NLL, generation."""
    theirs, ours = protocol.latent["chosen"], results["chosen"]
    elbo = _versus(protocol.metrics["test"]["loss"], metrics["test"]["loss"], noise)
    overlap = theirs["accuracy_low"] <= ours["accuracy_high"] and ours["accuracy_low"] <= theirs["accuracy_high"]
    verdict = ("the two intervals overlap, so on this seed their correctness does not differ measurably" if overlap
               else "the two intervals do not overlap")
    return (
        f"@tbl:protocol sets its final weights beside the main model. Their test negative ELBO, "
        f"{protocol.metrics['test']['loss']:.2f} nats per image, is {elbo} the main model's "
        f"{metrics['test']['loss']:.2f}; {_protocol_likelihood(protocol, metrics, results, noise)} With the same "
        f"judge and the same sampler rule, its chosen sampler ({theirs['sampler']}, T = {theirs['temperature']:g}) is "
        f"judged {judged_accuracy(theirs)} correct with recall {theirs['recall']:.2f}, against "
        f"{judged_accuracy(ours)} and {ours['recall']:.2f}: {verdict}.{_protocol_temperature(protocol.latent, results)}"
    )


def _comparison_row(results: Mapping[str, Any], sampler: str, temperature: float) -> Mapping[str, Any] | None:
    """One sampler at one temperature from a run's sampler sweep on the tuning seed (None when not swept)."""
    return next((row for row in results["sampler_comparison"]
                 if row["sampler"] == sampler and row["temperature"] == temperature), None)


def _protocol_temperature(protocol_results: Mapping[str, Any], results: Mapping[str, Any]) -> str:
    """When the rule chose different settings for the two models, both models at the main model's setting on the
    tuning seed: whether the models differ, or only the temperature the rule could take for each."""
    theirs, ours = protocol_results["chosen"], results["chosen"]
    if (theirs["sampler"], theirs["temperature"]) == (ours["sampler"], ours["temperature"]):
        return ""
    row = _comparison_row(protocol_results, ours["sampler"], ours["temperature"])
    main_row = _comparison_row(results, ours["sampler"], ours["temperature"])
    if row is None or main_row is None:
        return ""
    floor = protocol_results["rule"]["min_digit_accuracy"]
    text = (f" The temperatures differ because of the rule: on the tuning seed, at the main model's setting "
            f"(T = {ours['temperature']:g}), the protocol model's samples are judged {percent(row['accuracy'])} "
            f"correct (worst digit {percent(row['min_accuracy'])}) with recall {row['recall']:.2f} and a Fréchet "
            f"distance of {row['frechet']:.1f}, against {percent(main_row['accuracy'])} "
            f"({percent(main_row['min_accuracy'])}), {main_row['recall']:.2f} and {main_row['frechet']:.1f} for the "
            "main model.")
    if row["min_accuracy"] < floor:
        text += (f" Its worst digit falls short of the rule's {percent(floor)}, so the rule takes "
                 f"T = {theirs['temperature']:g}, where its samples are more often correct but cover less of the real "
                 f"digits' variety (recall {theirs['recall']:.2f} against {ours['recall']:.2f}, Fréchet distance "
                 f"{theirs['frechet']:.1f} against {ours['frechet']:.1f}).")
    return text


def _protocol_likelihood(protocol: Any, metrics: Mapping[str, Any], results: Mapping[str, Any], noise: float) -> str:
    """The importance-weighted -log p(x) of both models, and what a change in its gap to the ELBO means.

    The likelihood p(x) depends on the decoder alone; the gap between the negative ELBO and -log p(x) is how far the
    encoder's q(z|x) is from the true posterior. So the two bounds can move apart, and the ELBO alone can hide a
    better (or worse) model. The threshold is twice the noise of one negative-ELBO estimate: with K = 100 samples
    per image the importance-weighted estimate varies less between noise seeds than the single-sample ELBO does.
    """
    k = protocol.latent["iw_samples"]
    nll, main_nll = protocol.latent["test_iw_nll"], results["test_iw_nll"]
    text = (f"the importance-weighted estimate of $-\\log p(x)$ (K = {k}, the same test images and noise) is "
            f"{nll:.2f}, {_versus(nll, main_nll, noise)} the main model's {main_nll:.2f}.")
    gap, main_gap = protocol.metrics["test"]["loss"] - nll, metrics["test"]["loss"] - main_nll
    if not (np.isfinite(noise) and abs(gap - main_gap) > 2 * noise):
        return text
    change = "grown" if gap > main_gap else "shrunk"
    return (f"{text} The gap between the two, which measures how far the encoder's $q(z \\mid x)$ is from the true "
            f"posterior, has {change} from {main_gap:.2f} to {gap:.2f} nats; the likelihood itself depends on the "
            f"decoder alone, so the longer training left the model's likelihood "
            f"{'better' if gap > main_gap else 'worse'} than its negative ELBO shows.")


def _versus(value: float, reference: float, noise: float) -> str:
    """'0.42 nats below' / 'above' / 'within the noise of', with twice one estimate's noise as the threshold."""
    difference = value - reference
    if np.isfinite(noise) and abs(difference) <= 2 * noise:
        return f"within twice the noise of one estimate ($2 \\times {noise:.2f}$ nats) of"
    return f"{abs(difference):.2f} nats {'below' if difference < 0 else 'above'}"


def _protocol_advice(protocol: Any, metrics: Mapping[str, Any], noise: float) -> str:
    """What the evidence argues for the default protocol, with its numbers; the course report's settings stay.

    Three outcomes: the final weights beat the main model beyond the noise; they do not, but the held-out curve was
    better than the main model on the way (the extra epochs bought likelihood and gave it back); or neither.
    """
    from .curves import heldout_minimum

    evidence = metrics.get("early_stopping")
    if not (evidence and np.isfinite(noise)):
        return ""
    main_loss = metrics["test"]["loss"]
    gain = main_loss - protocol.metrics["test"]["loss"]
    held_out = heldout_minimum(protocol.history)
    gain_on_the_way = main_loss - held_out.min_value  # NaN when nothing was recorded: every comparison below fails
    patience, extra = int(evidence["patience"]), protocol.metrics["epochs_run"] - metrics["epochs_run"]
    keep = (f" The main results keep patience {patience}, and this comparison keeps the course report's settings as "
            "they were.")
    if gain > 2 * noise:
        return (f"The {extra:,} extra epochs bought {gain:.2f} nats of test negative ELBO. "
                f"{_patience_argument(evidence)}{keep}")
    if gain_on_the_way > 2 * noise:
        remaining = held_out.last_epoch - held_out.min_epoch
        return (f"By the test negative ELBO the final weights are no better than the main model's, but on the way, "
                f"at epoch {held_out.min_epoch:,.0f}, the test negative ELBO was {gain_on_the_way:.2f} nats below it, "
                f"and the remaining {remaining:,.0f} epochs gave that back. The course report's rule watches the "
                f"training loss, {_training_loss_since(protocol.history, held_out.min_epoch)}, so it could not have "
                "kept that gain; stopping on a validation split can, if its patience is long enough that noise "
                f"cannot trigger it. {_patience_argument(evidence)} That minimum is read off the test set (the lowest "
                f"of {held_out.recorded} estimates, so slightly flattering): it is evidence about the protocol, not a "
                f"result of either model.{keep}")
    return (f"The {extra:,} extra epochs did not improve the test negative ELBO beyond the noise, at their end or on "
            f"the way, so stopping at patience {patience} cost nothing measurable, and the default protocol stays as "
            "it is.")


def _training_loss_since(history: pd.DataFrame, epoch: float) -> str:
    """'which fell from 88.9 at epoch 510 to 87.6 at epoch 1,250' (or rose): the training loss the rule watches."""
    loss = history.set_index("epoch")["train_loss"]
    then, last = float(loss.loc[epoch]), float(loss.iloc[-1])
    verb = "fell" if last < then else "rose"
    return f"which {verb} from {then:.2f} at epoch {epoch:,.0f} to {last:.2f} at epoch {loss.index[-1]:,.0f}"


def _patience_argument(evidence: Mapping[str, Any]) -> str:
    """Why a patience of about ``noise_proof_patience`` epochs, from the main run's trend at its stop."""
    from .curves import noise_proof_patience

    slope, scatter = -evidence["slope"], evidence["residual_sd"]
    enough = noise_proof_patience(evidence)
    return (f"At the main run's stop its validation loss was still falling by {slope:.4f} nats per epoch while single "
            f"epochs scattered by {scatter:.2f}; a patience shorter than $2 \\times {scatter:.3f} / {slope:.4f} "
            f"\\approx {enough:.0f}$ epochs can therefore be triggered by noise while the model still improves. The "
            f"evidence argues for a default patience of at least {enough:.0f} epochs (or a smoothed validation loss).")


def protocol_caption(protocol: Any, course_log: pd.DataFrame) -> str:
    """Caption of the course-protocol figure."""
    reached = int(protocol.history["epoch"].max())
    return (f"The course report's protocol run again: our training loss (epochs 1-{reached:,}) against the course "
            "report's printed log (all 1,250 epochs), with the test negative ELBO every 10 epochs (top), and the "
            "per-epoch difference, ours minus the course report's, with a band of ±0.5 nats (bottom).")


def _capital(text: str) -> str:
    """``text`` with its first letter capitalised, the rest untouched (str.capitalize would lower the rest)."""
    return text[:1].upper() + text[1:]


def _rule_phrase(chosen: Mapping[str, Any]) -> str:
    """How the operating point was reached, said plainly when no setting met the rule (a smoke run)."""
    if chosen.get("meets_rule", True):
        return "chosen by the stated rule"
    return "the setting closest to the stated rule, which no setting met"


def training_phrase(metrics: Mapping[str, Any]) -> str:
    """How the reported weights were reached, from the run's own record: which rule, how many epochs, which epoch.

    The abstract and the conclusion share it, so a run without a validation split (the course-protocol run) or one
    that ran to its epoch limit is never described as stopped by validation patience.
    """
    from .run import Stop

    epochs, best = metrics["epochs_run"], metrics["best_epoch"]
    stopped_early = Stop.of(metrics["stop_reason"]) is Stop.EARLY
    if metrics["config"]["stopping"] == "course_report":
        if stopped_early:
            return f"stopped by the course report's own rule after {epochs:,} epochs, keeping the last weights"
        return f"trained for {epochs:,} epochs under the course report's own rule, which never fired"
    if stopped_early:
        return f"stopped by validation patience after {epochs:,} epochs (best epoch {best:,})"
    return f"trained for {epochs:,} epochs, the validation loss selecting epoch {best:,}"


def _protocol_summary(protocol: Any, course_log: pd.DataFrame | None) -> str:
    """One sentence for the abstract and conclusion: how closely the finished course-protocol run follows the course
    report's log, and what its final weights reach; empty while it is absent, unfinished or not yet analysed."""
    from .curves import compare_with_log

    if protocol is None or course_log is None or not protocol.analysed:
        return ""
    agreement = compare_with_log(protocol.history, course_log)
    if not agreement.epochs:
        return ""
    ours, theirs = f"{agreement.ours_last:.2f}", f"{agreement.theirs_last:.2f}"
    end = f"ends at {ours}, as its log does" if ours == theirs else f"ends at {ours} against its log's {theirs}"
    return (f"Run again under the course report's own protocol for {protocol.metrics['epochs_run']:,} epochs, our "
            f"training loss stays within a median of {agreement.median_abs_diff:.2f} nats of its log after epoch "
            f"{agreement.first_epoch - 1:.0f} and {end}; those weights reach a test negative ELBO of "
            f"{protocol.metrics['test']['loss']:.2f} and an importance-weighted estimate of $-\\log p(x)$ of "
            f"{protocol.latent['test_iw_nll']:.2f} (Section 7). ")


def conclusion(results: Mapping[str, Any], metrics: Mapping[str, Any], protocol: Any = None,
               course_log: pd.DataFrame | None = None) -> str:
    """A short conclusion in prose, every number taken from the results of this run (and of the course-protocol run,
    once it is finished and analysed)."""
    chosen, prior = results["chosen"], results["prior_reported"]
    spread = results.get("seed_spread", {}).get("summary", {})
    noise = (f" Over {len(results['seed_spread']['per_seed'])} further seeds the mean accuracy varies by "
             f"{100 * spread['accuracy']['sd']:.2f} points (standard deviation)." if spread else "")
    return (
        f"The course report's network was rebuilt layer for layer (1,234,143 parameters) and trained with its "
        f"objective and optimiser; its training loss follows the course report's printed log epoch by epoch. "
        f"{_protocol_summary(protocol, course_log)}{_capital(training_phrase(metrics))}, the main model reaches a test "
        f"negative ELBO of {metrics['test']['loss']:.2f} nats per image and an importance-weighted estimate of "
        f"$-\\log p(x)$ of {results['test_iw_nll']:.2f}. The unconditional VAE does produce digits on demand once "
        f"its latent space is clustered and the clusters are named after digits: {chosen['sampler']} at temperature "
        f"{chosen['temperature']:g}, {_rule_phrase(chosen)} and reported on a fresh seed, is judged "
        f"{percent(chosen['accuracy'])} correct (worst digit {chosen['worst_digit']}: "
        f"{percent(chosen['min_accuracy'])}) with a recall of {chosen['recall']:.2f}.{noise} Drawn the course "
        f"report's way, the same model's rows show the titled digit {percent(prior['accuracy'])} of the time, about "
        "chance: the report's per-digit claim is true now, and checked."
    )


def abstract(results: Mapping[str, Any], metrics: Mapping[str, Any], protocol: Any = None,
             course_log: pd.DataFrame | None = None) -> str:
    """The title page's abstract: what was done and the headline numbers, all from this run's results (and the
    course-protocol run's, once it is finished and analysed)."""
    chosen, prior = results["chosen"], results["prior_reported"]
    return (
        "A course report trained a convolutional variational autoencoder on MNIST and presented five generated "
        "images for each digit, but drew them from the prior without any link to the digit. We rebuild its network "
        f"(1,234,143 parameters) and training protocol, and follow its published training log epoch by epoch. "
        f"{_protocol_summary(protocol, course_log)}{_capital(training_phrase(metrics))}, the main model reaches a test "
        f"negative ELBO of {metrics['test']['loss']:.2f} nats per image and an importance-weighted estimate of "
        f"$-\\log p(x)$ of {results['test_iw_nll']:.2f} (K = {results['iw_samples']}). To generate a requested digit "
        "without changing the unconditional model, we cluster the latent codes of the training images, name each "
        "cluster after its commonest digit, and sample from the clusters of that digit. An independent classifier "
        f"judges {percent(chosen['accuracy'])} of the samples correct ({chosen['sampler']}, "
        f"T = {chosen['temperature']:g}; worst digit {chosen['worst_digit']}: {percent(chosen['min_accuracy'])}), "
        f"with a recall of {chosen['recall']:.2f} of the real digits' variety; the course report's procedure scores "
        f"{percent(prior['accuracy'])}, about chance."
    )

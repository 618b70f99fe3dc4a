"""The paper's named values: every number report/paper.md cites, read from the run folders' results and formatted.

The words are in ``report/paper.md``; ``scripts/build_report.py`` fills its ``{{ name }}`` placeholders from
``paper_values``. Nothing here writes a sentence: Python reads results and formats numbers (and a few yes/no facts
that decide which of two phrasings the text uses), so that the numbers are generated and tested while the prose
stays where an author edits it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from vae_utils.curves import compare_with_log, heldout_minimum, loss_gap, read_course_log
from vae_utils.formatting import count, count_word, interval, nats, percent, signed
from vae_utils.judge import wilson_interval
from vae_utils.model import VAE, ConditionalVAE, count_parameters
from vae_utils.run import RunFolder
from vae_utils.seeds import load_seed_runs
from vae_utils.tables import key_rows

__all__ = ["labels_digit_by_digit", "main_results", "paper_values", "plain_hardware"]


def plain_hardware(environment: Mapping[str, Any]) -> str:
    """The machine in plain words: 'a two-core Intel Xeon CPU' rather than a vendor string and a build tag."""
    text = str(environment.get("hardware", "an unnamed CPU"))
    cores = re.search(r"(\d+) cores?", text)
    name = re.sub(r"\(R\)|\(TM\)|Processor|CPU|,.*$", "", text).strip()
    number = {1: "one", 2: "two", 4: "four", 8: "eight", 16: "sixteen"}.get(int(cores.group(1)), cores.group(1)) \
        if cores else ""
    device = str(environment.get("device", "cpu"))
    where = "" if device == "cpu" else f" with a {device.upper()} device"
    return f"a {number + '-core ' if number else ''}{' '.join(name.split())} CPU{where}"


def main_results(run: RunFolder) -> dict[str, Any]:
    """The main run's results: notebook 04's ``latent_metrics.json`` with notebook 05's ``comparisons.json`` (when
    it has run) over it, one mapping as the paper reads it."""
    comparisons = run.read_comparisons() if run.has(RunFolder.COMPARISONS) else {}
    return {**run.read_latent_metrics(), **comparisons}


def _quality(prefix: str, row: Mapping[str, Any]) -> dict[str, str]:
    """The values of one summarised quality row (``selection.summarise_quality``) under ``prefix``."""
    values = {f"{prefix}_accuracy": percent(row["accuracy"]), f"{prefix}_recall": f"{row['recall']:.2f}",
              f"{prefix}_precision": f"{row['precision']:.2f}", f"{prefix}_coverage": f"{row['coverage']:.2f}",
              f"{prefix}_frechet": f"{row['frechet']:,.1f}"}
    if "accuracy_low" in row:
        values[f"{prefix}_accuracy_ci"] = interval(row["accuracy_low"], row["accuracy_high"])
    if "min_accuracy" in row:
        values[f"{prefix}_worst_digit"] = str(int(row["worst_digit"]))
        values[f"{prefix}_worst_accuracy"] = percent(row["min_accuracy"])
    return values


def _training(prefix: str, metrics: Mapping[str, Any], history: pd.DataFrame) -> dict[str, Any]:
    """How a run was trained and where it ended: epochs, test negative ELBO and its terms, times."""
    test = metrics["test"]
    seconds = history["epoch_seconds"].dropna()
    return {
        f"{prefix}_epochs": count(metrics["epochs_run"]), f"{prefix}_best_epoch": count(metrics["best_epoch"]),
        f"{prefix}_test_elbo": nats(test["loss"]), f"{prefix}_test_recon": nats(test["recon"]),
        f"{prefix}_test_kl": nats(test["kl"]),
        f"{prefix}_epoch_seconds": f"{seconds.median():.1f}",
        f"{prefix}_wall_hours": f"{metrics['wall_seconds'] / 3600:.1f}",
        f"{prefix}_hardware": plain_hardware(metrics.get("environment", {})),
    }


def _main_values(run: RunFolder) -> dict[str, Any]:
    """The main run: training, latent space, likelihood, judges, the chosen sampler and the references."""
    record, latent = run.read_back(), main_results(run)
    metrics, history = record.metrics, record.history
    config = metrics["config"]
    values: dict[str, Any] = {
        **_training("main", metrics, history),
        "n_parameters": count(count_parameters(VAE(config["z_dim"]))),
        "n_parameters_cvae": count(count_parameters(ConditionalVAE(config["z_dim"]))),
        "z_dim": str(config["z_dim"]), "batch_size": str(config["batch_size"]), "patience": str(config["patience"]),
        "val_size": count(config["val_size"]), "train_size": count(60_000 - config["val_size"]),
        "main_iw_nll": nats(latent["test_iw_nll"]), "iw_samples": str(latent["iw_samples"]),
        "main_elbo_gap": nats(latent["test_negative_elbo"] - latent["test_iw_nll"]),
        "main_active_units": str(latent["active_units"]),
        "main_purity_test": percent(latent["clustering_k10"]["test"]["purity"]),
        "main_purity_train": percent(latent["clustering_k10"]["train"]["purity"]),
        "main_nmi_test": f"{latent['clustering_k10']['test']['nmi']:.2f}",
        "n_judged": count(latent["n_judged"]),
        "judge_accuracy": percent(latent["judge_test_accuracy"], 2),
        "judge_accuracy_ci": interval(latent["judge_test_accuracy_low"], latent["judge_test_accuracy_high"], 2),
        "chosen_sampler": latent["chosen"]["sampler"], "chosen_temperature": f"{latent['chosen']['temperature']:g}",
        "chosen_meets_rule": bool(latent["chosen"]["meets_rule"]),
        **_quality("chosen", latent["chosen"]), **_quality("prior", latent["prior_reported"]),
        **_quality("real", latent["real_reference"]),
        "rule_min_digit": percent(latent["rule"]["min_digit_accuracy"]),
        "rule_min_mean": percent(latent["rule"]["min_mean_accuracy"]),
        "tuning_seed": str(latent["rule"]["tuning_seed"]), "reported_seed": str(latent["rule"]["reported_seed"]),
    }
    values["chosen_worst_below_rule"] = latent["chosen"]["min_accuracy"] < latent["rule"]["min_digit_accuracy"]
    tuning = next(row for row in latent["sampler_comparison"] if row["sampler"] == latent["chosen"]["sampler"]
                  and row["temperature"] == latent["chosen"]["temperature"])
    counted = round(tuning["min_accuracy"] * latent["n_judged"])
    values["chosen_tuning_worst"] = f"{percent(tuning['min_accuracy'])} ({counted} of {latent['n_judged']})"
    gap = tuning["min_accuracy"] - latent["rule"]["min_digit_accuracy"]
    values["chosen_tuning_worst_margin"] = ("exactly at" if abs(gap) < 0.5 / latent["n_judged"] else
                                            f"{100 * abs(gap):.1f} points {'above' if gap > 0 else 'below'}")
    sweep = pd.DataFrame(latent["k_sweep"])
    test_sweep = sweep[sweep["split"] == "test"].sort_values("k")
    values["k_largest"] = str(int(test_sweep["k"].iloc[-1]))
    values["purity_largest_k"] = percent(test_sweep["purity"].iloc[-1])
    values["purity_drops_somewhere"] = bool((np.diff(test_sweep["purity"].to_numpy()) < 0).any())
    values.update(_spread_values(latent["seed_spread"]))
    values.update(_baseline_values(latent))
    return values


def _spread_values(spread: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen sampler over fresh sampling seeds: mean ± sd and the rule's margins."""
    summary, margins = spread["summary"], spread["rule_margins"]
    return {
        "spread_seeds": count_word(int(margins["accuracy"]["seeds"])),
        "spread_accuracy": f"{100 * summary['accuracy']['mean']:.2f} ± {100 * summary['accuracy']['sd']:.2f}%",
        "spread_worst": f"{100 * summary['min_accuracy']['mean']:.1f} ± {100 * summary['min_accuracy']['sd']:.1f}%",
        "spread_recall": f"{summary['recall']['mean']:.2f} ± {summary['recall']['sd']:.2f}",
        "margin_mean_sd": f"{margins['accuracy']['margin_in_sd']:.1f}",
        "margin_worst_sd": f"{margins['min_accuracy']['margin_in_sd']:.1f}",
        "margin_worst_points": f"{100 * margins['min_accuracy']['margin']:.1f}",
    }


def _baseline_values(latent: Mapping[str, Any]) -> dict[str, Any]:
    """References, the second judge, class-agnostic Fréchet distances and the data-copying test of one analysis."""
    values: dict[str, Any] = {}
    if "reconstructions" in latent:
        values.update(_quality("recon", latent["reconstructions"]))
    if "second_judge" in latent:
        judge = latent["second_judge"]
        low, high = wilson_interval(round(judge["test_accuracy"] * judge["test_images"]), judge["test_images"])
        values.update(judge2_accuracy=percent(judge["test_accuracy"], 2),
                      judge2_accuracy_ci=interval(low, high, 2), judge2_epochs=str(judge["epochs"]))
        values["chosen_judge2"] = percent(latent["chosen_second_judge"]["judge2_accuracy"])
        values["chosen_judge2_worst"] = percent(latent["chosen_second_judge"]["judge2_min_accuracy"])
        values["chosen_judge2_worst_digit"] = str(latent["chosen_second_judge"]["judge2_worst_digit"])
        for name, rows in latent.get("judge_agreement", {}).items():
            mean = next(row for row in rows if row["digit"] == "mean")
            key = re.sub(r"\W+", "_", name).strip("_")  # "recon." -> recon
            values[f"agree_{key}"] = percent(mean["same_verdict"])
            values[f"judge2_{key}"] = percent(mean["judge2"])
    for name, value in latent.get("class_agnostic_frechet", {}).items():
        values[f"pooled_frechet_{name.replace(' ', '_').replace('-', '_')}"] = f"{value:,.1f}"
    for row in latent.get("data_copying", []):
        generated, space, reference = (part.replace(" ", "_").replace("-", "_") for part in
                                       (row["generated"], row["space"], row["reference"]))
        values[f"ct_{generated}_{space}_{reference}"] = signed(row["c_t"], 1, plus=False)
        values[f"median_{generated}_{space}"] = f"{row['generated_median_distance']:.2f}"
        # the reference's own distances, per generated set: each model's test has reconstructions of its own
        values[f"median_{reference}_for_{generated}_{space}"] = f"{row['reference_median_distance']:.2f}"
        values[f"flags_{generated}_{reference}"] = values.get(f"flags_{generated}_{reference}", False) \
            or bool(row["copying"])
    copying = latent.get("data_copying", [])
    values["copying_flagged"] = any(row["copying"] for row in copying)
    values["ct_lowest"] = signed(min((row["c_t"] for row in copying), default=math.nan), 1, plus=False)
    return values


def _protocol_values(run: RunFolder, main_latent: Mapping[str, Any]) -> dict[str, Any]:
    """The course report's protocol run: the log agreement, its held-out curve, its final weights' results."""
    record = run.read_back()
    if not record.analysed:
        return {"protocol_done": False}
    metrics, latent, history = record.metrics, record.latent, record.history
    log = read_course_log()
    agreement, held_out = compare_with_log(history, log), heldout_minimum(history)
    return {**_early_gap(history, log),
        "protocol_done": True, **_training("protocol", metrics, history),
        "protocol_train_loss": nats(agreement.ours_last, 3), "course_train_loss": nats(agreement.theirs_last, 3),
        "protocol_log_median": nats(agreement.median_abs_diff, 3),
        "protocol_log_max": nats(agreement.max_abs_diff), "protocol_log_max_epoch": count(agreement.max_abs_diff_epoch),
        "protocol_heldout_min_epoch": count(held_out.min_epoch), "protocol_heldout_min": nats(held_out.min_value),
        "protocol_heldout_rise": nats(held_out.rise),
        "protocol_iw_nll": nats(latent["test_iw_nll"]), "protocol_active_units": str(latent["active_units"]),
        "protocol_elbo_gap": nats(latent["test_negative_elbo"] - latent["test_iw_nll"]),
        "protocol_purity_test": percent(latent["clustering_k10"]["test"]["purity"]),
        "protocol_sampler": latent["chosen"]["sampler"],
        "protocol_temperature": f"{latent['chosen']['temperature']:g}",
        "protocol_same_choice": latent["chosen"]["sampler"] == main_latent["chosen"]["sampler"]
        and latent["chosen"]["temperature"] == main_latent["chosen"]["temperature"],
        **_quality("protocol", latent["chosen"]),
        **{f"protocol_{key}": value for key, value in _baseline_values(latent).items()
           if key.startswith(("ct_", "median_", "flags_", "pooled_"))},
    }


def _early_gap(history: pd.DataFrame, log: pd.DataFrame, after: int = 50) -> dict[str, str]:
    """How far our course-protocol run lies from the log in the epochs the comparison leaves out: the gap at epoch 1,
    the last epoch before ``after`` at which it exceeds one nat, and its smallest size over those epochs."""
    both = loss_gap(history, log)
    early = both[both["epoch"] <= after]
    gap = early["gap"].to_numpy()
    if not len(gap):
        return {}
    over_one = early["epoch"].to_numpy()[np.abs(gap) > 1.0]
    return {"protocol_gap_first": nats(abs(gap[0]), 1), "protocol_gap_after": str(after),
            "protocol_gap_below_all": bool((gap < 0).all()),
            "protocol_gap_over_one_until": str(int(over_one.max())) if len(over_one) else "",
            "protocol_gap_smallest": nats(np.abs(gap).min(), 2)}


def _matched_values(matched: pd.DataFrame) -> dict[str, Any]:
    """The two families at matched recall (``comparisons.matched_recall``'s rows), as the abstract and Section 4.5
    say it: the mean difference over pairs of training runs, its range, and whether some pair goes against it."""
    values: dict[str, Any] = {}
    pairs = int(matched["training seed"].nunique()) if len(matched) else 0
    values["matched_pairs"] = count_word(pairs)
    values["matched_pairs_phrase"] = ("Over the one pair of training runs so far" if pairs == 1 else
                                      f"Over {count_word(pairs)} pairs of training runs, paired by seed")
    if len(matched):
        differences = 100 * matched.groupby("training seed")["difference"].mean()  # points, one per pair
        mean = differences.mean()
        values["matched_difference"] = signed(mean, 1)
        values["matched_difference_range"] = f"{signed(differences.min(), 1)} to {signed(differences.max(), 1)}"
        values["matched_labels_help"] = bool(mean < 0)  # the conditional VAE more accurate
        # pairs that disagree with the mean's sign: the average then hides a difference that changes with the run
        against = int((differences > 0).sum() if mean < 0 else (differences < 0).sum())
        values["matched_mixed"] = against > 0
        values["matched_against_phrase"] = (f"{count_word(against)} of the {count_word(pairs)} pairs "
                                            f"{'goes' if against == 1 else 'go'}")
        against_words = (f", though {values['matched_against_phrase']} the other way (per pair "
                         f"{values['matched_difference_range']} points)" if against else "")
        values["matched_difference_words"] = (
            f"{abs(mean):.1f} points {'less' if mean > 0 else 'more'} accurate on average over "
            f"{count_word(pairs)} pair{'' if pairs == 1 else 's'} of training runs{against_words}")
        values["matched_recalls"] = f"{matched['recall'].min():.2f} to {matched['recall'].max():.2f}"
    return values


def _seed_values(main: RunFolder, seed_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The runs of the main protocol: how many finished, spreads of the key numbers, and the log against the band."""
    runs = load_seed_runs(seed_dirs)
    latent = main_results(main)
    seeds = latent.get("seeds")
    values: dict[str, Any] = {"seed_runs_finished": count_word(len(runs)),
                              "seed_runs_planned": count_word(len(seed_dirs)),
                              "seeds_complete": bool(seeds) and len(seeds["runs"]) == len(seed_dirs) + 1,
                              "seeds_shown": False}
    if not seeds:
        return values
    values["n_runs"] = count_word(len(seeds["runs"]))
    values["seeds_shown"] = len(seeds["runs"]) >= 2  # a spread needs two runs; the text says how many finished
    values["n_runs_planned"] = count_word(len(seed_dirs) + 1)
    # A standard deviation from n normal values has a relative standard error of about 1 / sqrt(2 (n - 1)).
    n_runs = len(seeds["runs"])
    values["sd_relative_error"] = percent(1 / math.sqrt(2 * (n_runs - 1)), 0) if n_runs >= 2 else ""
    summary = seeds["summary"]
    fixed = {digits: f"{{:.{digits}f}}".format for digits in (0, 2, 3)}
    for column, key, shown in [("test -ELBO", "elbo", fixed[2]), ("IW-NLL", "iw", fixed[2]),
                               ("best epoch", "best_epoch", fixed[0]), ("stop epoch", "stop_epoch", fixed[0]),
                               ("accuracy", "accuracy", percent), ("recall", "recall", fixed[2]),
                               ("purity k=10", "purity", fixed[3])]:
        if column in summary and summary[column]["runs"] >= 2:
            row = summary[column]
            values[f"seeds_{key}_mean"] = shown(row["mean"])
            values[f"seeds_{key}_sd"] = shown(row["sd"])
            values[f"seeds_{key}_range"] = f"{shown(row['min'])} to {shown(row['max'])}"
    band = seeds.get("log_band")
    if band:
        values.update(band_inside=percent(band["inside_share_after"], 0), band_after=str(band["after"]),
                      band_epochs=str(band["epochs"]), band_z=f"{band['median_z_after']:.1f}",
                      band_run_vs_run=nats(band["run_vs_run_median_abs"], 3),
                      band_log_vs_run=nats(band["log_vs_run_median_abs"], 3),
                      band_log_signed=signed(band["median_signed_after"], 3))
    values.update(_rule_across_runs(seeds["runs"], latent["chosen"], latent["rule"]))
    values["seeds_hours"] = [run.metrics["wall_seconds"] / 3600 for run in runs]
    machines = {plain_hardware(run.metrics.get("environment", {})) for run in runs}
    values["seeds_hardware"] = machines.pop() if len(machines) == 1 else "several machines"
    patience = seeds.get("patience", [])
    if patience:
        longest = max(row["patience to plateau"] for row in patience)
        tightest = [str(row["seed"]) for row in patience if row["patience to plateau"] == longest]
        values["patience_to_plateau_max"] = str(longest)
        values["patience_tightest_runs"] = ("seed " if len(tightest) == 1 else "seeds ") + _digit_list(tightest)
        # a run whose longest wait equals the patience reached its plateau with no epoch to spare
        values["patience_no_margin"] = longest >= int(main.read_metrics()["config"]["patience"])
    return values


def _rule_across_runs(runs: Sequence[Mapping[str, Any]], main_chosen: Mapping[str, Any],
                      rule: Mapping[str, float]) -> dict[str, Any]:
    """Whether the rule's choice is stable across training runs, and how the main run's setting fares on each."""
    temperatures = sorted({f"{row['T']:g}" for row in runs  # of the runs that chose the main run's sampler
                           if row.get("T") == row.get("T") and row.get("sampler") == main_chosen["sampler"]})
    main_worst = [row["main setting: worst digit"] for row in runs
                  if row.get("main setting: worst digit") == row.get("main setting: worst digit")]
    passes = [row for row in runs if row.get("main setting: worst digit", 0) >= rule["min_digit_accuracy"]
              and row.get("main setting: accuracy", 0) >= rule["min_mean_accuracy"]]
    same_sampler = sum(row.get("sampler") == main_chosen["sampler"] for row in runs)
    meet_rule = sum(bool(row.get("meets rule")) for row in runs)
    return {
        "seeds_same_sampler": count_word(same_sampler), "seeds_all_same_sampler": same_sampler == len(runs),
        "seeds_meet_rule": count_word(meet_rule), "seeds_all_meet_rule": meet_rule == len(runs),
        "seeds_temperatures": _digit_list(temperatures),
        "main_setting_passes": count_word(len(passes)), "main_setting_all_pass": len(passes) == len(runs),
        "main_setting_worst_range": (f"{percent(min(main_worst))} to {percent(max(main_worst))}"
                                     if main_worst else ""),
    }


def _digit_list(items: Sequence[str]) -> str:
    """'3', '3 and 5' or '1, 3 and 5': digits, temperatures or hours in a sentence."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def labels_digit_by_digit(sampler_digits: Sequence[Mapping[str, Any]], cvae_digits: Sequence[Mapping[str, Any]]
                          ) -> dict[str, Any]:
    """What training with labels buys and costs, digit by digit, from two ``chosen_per_digit`` lists: the digits
    where the conditional VAE's accuracy interval lies wholly above or below the ex-post sampler's, and on how many
    digits its recall is higher and its Fréchet distance lower (with the largest recall change)."""
    ours = {row["digit"]: row for row in sampler_digits if row["digit"] != "mean"}
    theirs = {row["digit"]: row for row in cvae_digits if row["digit"] != "mean"}
    digits = sorted(set(ours) & set(theirs), key=int)
    higher = [d for d in digits if theirs[d]["accuracy_low"] > ours[d]["accuracy_high"]]
    lower = [d for d in digits if theirs[d]["accuracy_high"] < ours[d]["accuracy_low"]]
    recall_change = {d: theirs[d]["recall"] - ours[d]["recall"] for d in digits}
    largest = max(digits, key=lambda d: abs(recall_change[d]))
    def which(found: Sequence[str]) -> str:
        """'digit 4', 'digits 4 and 8', or, for more than three, 'seven of the ten digits' (few numbers a sentence)."""
        if len(found) > 3:
            return f"{count_word(len(found))} of the ten digits"
        return ("digit " if len(found) == 1 else "digits ") + _digit_list(found) if found else ""

    return {
        "cvae_accuracy_higher": which(higher), "cvae_accuracy_lower": which(lower),
        "cvae_recall_higher_count": str(sum(change > 0 for change in recall_change.values())),
        "cvae_frechet_lower_count": str(sum(theirs[d]["frechet"] < ours[d]["frechet"] for d in digits)),
        "cvae_recall_largest_digit": largest, "cvae_recall_largest_change": signed(recall_change[largest]),
    }


def _cvae_values(run: RunFolder, main_latent: Mapping[str, Any]) -> dict[str, Any]:
    """The conditional VAE, once trained and scored: its chosen temperature, quality and conditional likelihood,
    and digit by digit against the main run's chosen sampler. It counts as done only once the main analysis has
    scored it too (its data-copying rows are there), not merely because its own folder is finished."""
    scored = any(row.get("generated") == "conditional VAE" for row in main_latent.get("data_copying", []))
    record = run.read_back()
    if not (record.analysed and scored):
        return {"cvae_done": False}
    metrics, latent, history = record.metrics, record.latent, record.history
    return {"cvae_done": True, **_training("cvae", metrics, history),  # its likelihoods are of x given y
            **labels_digit_by_digit(main_latent["chosen_per_digit"], latent["chosen_per_digit"]),
            "cvae_less_varied": bool(latent["chosen"]["recall"] < main_latent["chosen"]["recall"]
                                     and latent["chosen"]["frechet"] > main_latent["chosen"]["frechet"]),
            "cvae_temperature": f"{latent['chosen']['temperature']:g}",
            "cvae_meets_rule": bool(latent["chosen"]["meets_rule"]), **_quality("cvae", latent["chosen"]),
            "cvae_judge2": percent(latent["chosen"].get("judge2_accuracy", math.nan)),
            "cvae_elbo": nats(latent["test_negative_elbo"])}


# Each library that computes a number, with what it computes: one short sentence each in the paper.
COMPUTING_PACKAGES = {"torch": ("PyTorch", "trained and ran the networks"),
                      "torchvision": ("The torchvision package", "read MNIST"),
                      "numpy": ("NumPy", "held the arrays"), "scipy": ("SciPy", "computed the statistical tests"),
                      "scikit-learn": ("The scikit-learn package", "fitted the clusters and mixtures"),
                      "pandas": ("The pandas package", "held the tables"),
                      "prdc": ("The prdc package", "checked our precision and recall")}


def software_versions(requirements: str | os.PathLike, environment: Mapping[str, Any]) -> str:
    """The versions that computed the numbers, in short sentences (a version reads as one or two numbers): Python as
    the training run recorded it, and each library that computes a number as ``requirements.txt`` pins it (the
    virtualenv every notebook runs in)."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", Path(requirements).read_text(encoding="utf-8"), re.M))
    sentences = [f"Python {environment.get('python', 'unknown')} ran the code."]
    sentences += [f"{shown} {pins[name]} {role}." for name, (shown, role) in COMPUTING_PACKAGES.items()
                  if name in pins]
    return " ".join(sentences)


FIXED_EPOCH = 150  # an epoch of notebook 05's fixed-epoch table (every 50) at which the paper compares the runs


def _stopping_values(main_latent: Mapping[str, Any]) -> dict[str, Any]:
    """Whether patience stopped every run while it still improved, and the runs' test losses at one fixed epoch
    beside their losses where they stopped: read from notebook 05's fixed-epoch table
    (``vae_utils.seeds.fixed_epoch_losses``), the one place that compares them."""
    rows = main_latent.get("fixed_epochs", [])
    values: dict[str, Any] = {"all_still_improving": bool(rows) and all(row["still improving"] for row in rows)}
    column = f"epoch {FIXED_EPOCH}"
    compared = [row for row in rows if isinstance(row.get(column), float) and math.isfinite(row[column])]
    at_epoch = [row[column] for row in compared]
    at_stop = [row["test loss, selected weights"] for row in compared]
    values["fixed_epoch_runs"] = count_word(len(at_epoch))
    if len(at_epoch) >= 2:
        values.update(fixed_epoch=count(FIXED_EPOCH),
                      fixed_epoch_range=f"{nats(min(at_epoch))} to {nats(max(at_epoch))}",
                      stop_range=f"{nats(min(at_stop))} to {nats(max(at_stop))}")
        widths = max(at_epoch) - min(at_epoch), max(at_stop) - min(at_stop)
        values["stop_spread_compared"] = ("about as far apart" if abs(widths[0] - widths[1]) < 0.1 else
                                          "further apart" if widths[1] > widths[0] else "closer together")
    return values


def _cvae_runs_values(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The conditional VAE over its training runs: how many, their training hours, and the mean ± sd of the rule's
    choice's judged accuracy and recall (each run's own temperature, reporting seed, test digits)."""
    values: dict[str, Any] = {"cvae_runs": count_word(len(runs)), "cvae_runs_n": len(runs)}
    folders = [RunFolder(row["run"]) for row in runs]
    values["cvae_runs_hours"] = [folder.read_metrics()["wall_seconds"] / 3600 for folder in folders
                                 if folder.has(RunFolder.METRICS)]
    if len(runs) >= 2:
        accuracy = pd.Series([row["accuracy"] for row in runs])
        recall = pd.Series([row["recall"] for row in runs])
        values.update(cvae_runs_accuracy=f"{100 * accuracy.mean():.1f} ± {100 * accuracy.std(ddof=1):.1f}%",
                      cvae_runs_recall=f"{recall.mean():.2f} ± {recall.std(ddof=1):.2f}",
                      cvae_runs_temperatures=_digit_list(sorted({f"{row['temperature']:g}" for row in runs})))
    return values


def _rule_seeds_values(record: Mapping[str, Any] | None, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """Notebook 04's rule made again under other clustering seeds (notebook 06): how often it made the main choice,
    and the spread of the reported accuracy, worst digit and recall."""
    if not record:
        return {"rule_seeds_done": False}
    rows, summary = record["per_seed"], record["summary"]
    same = sum(row["sampler"] == chosen["sampler"] and row["temperature"] == chosen["temperature"] for row in rows)
    numbers = summary["numbers"]
    return {"rule_seeds_done": True, "rule_seeds_n": count_word(len(rows)), "rule_seeds_same": count_word(same),
            "rule_seeds_same_sampler": count_word(sum(row["sampler"] == chosen["sampler"] for row in rows)),
            "rule_seeds_distinct": count_word(summary["distinct_choices"]),
            "rule_seeds_meet": count_word(summary.get("meets_rule_count", 0)),
            "rule_seeds_accuracy": f"{100 * numbers['accuracy']['mean']:.1f} ± {100 * numbers['accuracy']['sd']:.1f}%",
            "rule_seeds_worst": " to ".join(percent(numbers["min_accuracy"][end]) for end in ("min", "max")),
            "rule_seeds_recall": f"{numbers['recall']['mean']:.3f} ± {numbers['recall']['sd']:.3f}",
            "rule_seeds_all_same": same == len(rows)}


def _budget_word(budget: Any) -> str:
    """A label budget in words: '100 labels per digit', or 'all labels' (None: no budget short of all was enough)."""
    return "all labels" if budget in (None, "all") else f"{count(budget)} labels per digit"


def _fair_values(run: RunFolder) -> dict[str, Any]:
    """The fair comparison: which digits choose and which report, the same-label baselines' best settings, the
    clusters over k-means starts, the copying control, the matched-recall comparison and the label budget."""
    latent = main_results(run)
    rule = latent["rule"]
    values: dict[str, Any] = {"choice_set": rule.get("choice_set", "the validation digits"),
                              "report_set": rule.get("report_set", "the test digits")}
    comparison = pd.DataFrame(latent["sampler_comparison"])
    best = key_rows(comparison, rule["min_digit_accuracy"], rule["min_mean_accuracy"]).set_index("sampler")
    mixture = latent.get("per_digit_mixture", {}).get("components")
    names = {"gaussian": "per-digit Gaussian", "labelled_mixture": f"per-digit mixture {mixture}"}
    for key, name in names.items():
        if name in best.index:
            row = best.loc[name]
            values.update({f"{key}_name": name, f"{key}_accuracy": percent(row["accuracy"]),
                           f"{key}_recall": f"{row['recall']:.2f}", f"{key}_temperature": f"{row['temperature']:g}",
                           f"{key}_meets_rule": row.get("meets rule") == "yes"})
    values["labelled_mixture_components"] = str(mixture)
    values["chosen_is_labelled_baseline"] = latent["chosen"]["sampler"] in names.values()
    for row in latent.get("clustering_k10_starts", []):
        if row.get("metric") == "purity" and row.get("split") == "test":
            values.update(purity_starts_mean=percent(row["mean"]), purity_starts_sd=f"{100 * row['sd']:.1f}",
                          purity_starts=count_word(int(row["starts"])))
    for row in latent.get("data_copying", []):
        if row["generated"] == "copying control":
            key = "judge_features" if row["space"] != "pixels" else "pixels"
            where = "real" if row["reference"].startswith("real") else "recon"
            values[f"control_ct_{key}_{where}"] = signed(row["c_t"], 1)
    values.update(_matched_values(pd.DataFrame(latent.get("matched_recall", []))))
    values.update(_cvae_runs_values(latent.get("conditional_by_run", [])))
    budget_record = run.read_label_budget() if run.has(RunFolder.LABEL_BUDGET) else {}
    values.update(_rule_seeds_values(budget_record.get("rule_over_clustering_seeds"), latent["chosen"]))
    chosen_interval = latent.get("bootstrap", {}).get("ex-post sampler", {}).get("recall")
    if chosen_interval:
        values["chosen_recall_interval"] = f"[{chosen_interval['low']:.2f}, {chosen_interval['high']:.2f}]"
    budget = run.read_label_budget() if run.has(RunFolder.LABEL_BUDGET) else None
    values["budget_done"] = budget is not None
    if budget is not None:
        enough = budget["smallest_sufficient_budget"]
        values.update(budget_kmeans=_budget_word(enough["k-means"]["budget"]),
                      budget_kmeans_all=percent(enough["k-means"]["all_labels_accuracy"]),
                      budget_gaussian=_budget_word(enough["per-digit Gaussian"]["budget"]),
                      budget_rule=budget["naming_rule"]["chosen"].replace("_", " "),
                      budget_k=str(budget["clusters"]["k"]))
        one = next((row for row in budget["summary"] if row["family"] == "k-means" and row["budget"] == 1), None)
        if one is not None:
            values.update(budget_one_accuracy=percent(one["accuracy_mean"]),
                          budget_one_worst=percent(one["min_accuracy_mean"]))
    return values


def paper_values(main_dir: str | os.PathLike, protocol_dir: str | os.PathLike | None,
                 seed_dirs: Sequence[str | os.PathLike], cvae_dir: str | os.PathLike | None,
                 commit: str = "unknown") -> dict[str, Any]:
    """Every value the paper names, from the main run, the course-protocol run, the other seeds and the conditional
    VAE (a run that has not finished contributes only its ``*_done`` flag, so the text can say it is pending)."""
    main = RunFolder(main_dir)
    values = {"commit": commit, **_main_values(main), **_seed_values(main, seed_dirs), **_fair_values(main),
              **_stopping_values(main_results(main))}
    analysed = [run for run in (main, *(RunFolder(folder) for folder in seed_dirs))
                if run.finished and run.has(RunFolder.LATENT_METRICS)]
    rival = sum(run.read_latent_metrics()["chosen"]["sampler"].startswith("per-digit") for run in analysed)
    values.update(rival_chosen_runs=count_word(rival), analysed_runs=count_word(len(analysed)))
    requirements = Path(__file__).resolve().parent.parent / "requirements.txt"
    values["software"] = software_versions(requirements, main.read_metrics().get("environment", {}))
    values.update(_protocol_values(RunFolder(protocol_dir), main_results(main)) if protocol_dir
                  else {"protocol_done": False})
    values.update(_cvae_values(RunFolder(cvae_dir), main_results(main)) if cvae_dir
                  else {"cvae_done": False})
    other_hours = values.get("seeds_hours", []) + values.get("cvae_runs_hours", [])
    if other_hours:  # the other training runs of both models, as one range
        values["other_runs_hours"] = f"{min(other_hours):.1f} to {max(other_hours):.1f}"
    return values

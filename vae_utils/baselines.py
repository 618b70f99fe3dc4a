"""What the ex-post samplers are measured against: the conditional VAE, trained with the labels, and the decoder's
reconstructions of real test digits, the most this decoder can draw. Used by notebook 04.

The conditional VAE is scored exactly like the samplers: the same judge, metrics, temperatures, tuning seed and rule,
500 images per digit on a fresh seed; its results go to its own run folder in the main run's file layout.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import pandas as pd
import torch
from torch import nn

from .data import IMAGE_SHAPE, MNISTTensors, images_per_digit
from .judge import DigitClassifier, RealFeatures, generation_quality
from .latent import decode_probabilities, encode_gaussian
from .model import VAE
from .run import RunFolder
from .sampling import ConditionalPriorSampler, generate_digits
from .second_judge import second_opinion
from .selection import choose_sampler, seed_spread, spread_record, summarise_quality
from .training import evaluate

__all__ = ["ConditionalResult", "analyse_conditional", "reconstructions_by_digit"]


def reconstructions_by_digit(model: VAE, data: MNISTTensors, n_per_digit: int, seed: int) -> torch.Tensor:
    """Decoded posterior means of ``n_per_digit`` real images of every digit, [10, n, 1, 28, 28] in 256 grey levels.

    sigmoid(decode(mu(x))) is what the decoder draws when it is told exactly which code to use: the upper
    reference for generated digits. The conditional VAE is given each image's own label on both sides.
    """
    images = images_per_digit(data, n_per_digit, seed)
    rows, n = images.shape[:2]
    labels = torch.arange(rows).repeat_interleave(n)
    flat = images.reshape(-1, *IMAGE_SHAPE)
    means = encode_gaussian(model, flat, labels=labels)[0]
    decoded = decode_probabilities(model, means, labels=labels).reshape(rows, n, *IMAGE_SHAPE)
    return torch.round(decoded * 255) / 255


class ConditionalResult(NamedTuple):
    """The conditional VAE scored like the samplers: every temperature on the tuning seed, the rule's choice, its
    digits on the reporting seed with their per-digit quality, the spread over fresh seeds, and the JSON record."""

    comparison: pd.DataFrame
    chosen: pd.Series
    generated: torch.Tensor
    quality: pd.DataFrame
    spread: pd.DataFrame
    results: dict[str, Any]
    model: VAE  # the conditional VAE itself, for reconstructions of its own
    run: str  # its run folder, as shown

    @property
    def seed(self) -> int:
        """Its training seed (initialisation and batch order): what names the run in the paper's tables."""
        return int(RunFolder(self.run).read_metrics()["config"]["seed"])


def analyse_conditional(
    run: RunFolder, judge: DigitClassifier, reference: RealFeatures, test_set: MNISTTensors, *,
    temperatures: Sequence[float], n_judged: int, tuning_seed: int, seed: int, spread_seeds: Sequence[int],
    rule: Mapping[str, float], likelihood_images: int | None, eval_seed: int,
    second_judge: nn.Module | None = None, choice_reference: RealFeatures | None = None,
) -> ConditionalResult:
    """Score the conditional VAE in ``run`` as the ex-post samplers are scored, and keep the results in ``run``.

    Writes ``generated_digits.npz`` (the chosen temperature, reporting seed) and ``latent_metrics.json`` (the
    same keys as the main analysis where they mean the same). Its likelihood is the negative ELBO of x given its
    label on the first ``likelihood_images`` test digits (None: all): a number about another distribution than
    the unconditional model's, so no importance-weighted estimate is spent on it (100 s of the analysis on a CPU).
    ``choice_reference``: the real digits the temperature is chosen against (the main run's validation digits);
    ``reference`` scores what was chosen. None: ``reference`` does both (only for tests).
    """
    trained = run.load_trained()
    model = trained.model
    if not model.conditional:
        raise ValueError(f"'{run.shown}' holds an unconditional VAE; cvae_run_dir must name a run trained with "
                         "model_name='cvae'")
    sampler = ConditionalPriorSampler(model.z_dim)
    comparison, chosen = choose_sampler(model, judge, [sampler], temperatures, n_judged, tuning_seed,
                                        choice_reference or reference, rule, second_judge=second_judge)
    generated = generate_digits(model, sampler, n_judged, seed, float(chosen["temperature"]))
    quality = generation_quality(judge, generated, reference)
    spread = seed_spread(model, judge, sampler, float(chosen["temperature"]), n_judged, spread_seeds, reference)
    likelihood_set = test_set.images[:likelihood_images], test_set.labels[:likelihood_images]
    elbo = evaluate(model, likelihood_set[0], seed=eval_seed, labels=likelihood_set[1])
    state = trained.state
    opinion = second_opinion(second_judge, generated) if second_judge is not None else {}
    results = {
        "model": {"epoch": state.epoch, "best_epoch": state.best_epoch, "stop_reason": state.stop_reason,
                  "wall_seconds": state.wall_seconds, "conditional": True},
        "judge_test_accuracy": reference.accuracy,
        "rule": dict(rule),
        "sampler_comparison": comparison.to_dict(orient="records"),
        "chosen": {"sampler": chosen["sampler"], "temperature": float(chosen["temperature"]),
                   "meets_rule": bool(chosen["meets_rule"]), **summarise_quality(quality), **opinion},
        "chosen_per_digit": quality.to_dict(orient="records"),
        "n_judged": n_judged,
        "test_negative_elbo": elbo["loss"], "likelihood_images": len(likelihood_set[0]),
        "likelihood_given_label": True,
        "seed_spread": spread_record(spread, rule),
    }
    run.save_generated(generated)
    run.write_latent_metrics(results)
    return ConditionalResult(comparison, chosen, generated, quality, spread, results, model, run.shown)

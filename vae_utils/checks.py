"""Parameter checks at the door: every notebook parameter is checked before any data is loaded or file written.

A bad value raises TypeError (wrong type) or ValueError (out of range), naming the parameter as the user typed it.
"""

from __future__ import annotations

import ast
import difflib
import numbers
import os
import re
import types
from functools import partial
from typing import Any, Callable, Mapping

import torch

from .data import N_DIGITS, N_TEST_IMAGES, N_TRAIN_IMAGES
from .model import MODELS

__all__ = ["check_parameters"]


def _fail(error: type[Exception], name: str, allowed: str, value: Any) -> None:
    """Raise ``error`` with the one message format every check uses: 'epochs must be an integer >= 1, got 0'."""
    shown = f"{value!r} ({type(value).__name__})" if error is TypeError else repr(value)
    raise error(f"{name} must be {allowed}, got {shown}")


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    """'>= 1', '> 0', 'in [0, 1)' and the like, for messages."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"<= {high:g}" if high is not None else ""


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, optional: bool = False) -> None:
    """An integer (not a bool, not a float) within [low, high]; None allowed when ``optional``."""
    if optional and value is None:
        return
    allowed = " ".join(filter(None, ["None or an integer" if optional else "an integer", _range_text(low, high)]))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(TypeError, name, allowed, value)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(ValueError, name, allowed, value)


def check_number(
    name: str, value: Any, low: float | None = None, high: float | None = None,
    low_open: bool = False, optional: bool = False,
) -> None:
    """A finite real number within the range (``low_open``: strictly above ``low``); None allowed when ``optional``."""
    if optional and value is None:
        return
    allowed = " ".join(filter(None, ["None or a number" if optional else "a number", _range_text(low, high, low_open)]))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(TypeError, name, allowed, value)
    too_low = low is not None and (value <= low if low_open else value < low)
    if value != value or too_low or (high is not None and value > high) or abs(value) == float("inf"):
        _fail(ValueError, name, allowed, value)


def check_bool(name: str, value: Any) -> None:
    """True or False (papermill passes -p flag True as a bool)."""
    if not isinstance(value, bool):
        _fail(TypeError, name, "True or False", value)


def check_path(name: str, value: Any, optional: bool = False) -> None:
    """A non-empty path string (None allowed when ``optional``)."""
    if optional and value is None:
        return
    allowed = "None or a folder path" if optional else "a folder path"
    if not isinstance(value, (str, os.PathLike)):
        _fail(TypeError, name, allowed, value)
    if not str(value).strip():
        _fail(ValueError, name, allowed, value)


def check_path_list(name: str, value: Any) -> None:
    """A list of non-empty path strings (empty allowed: nothing to compare)."""
    if not isinstance(value, (list, tuple)):
        _fail(TypeError, name, "a list of folder paths", value)
    for item in value:
        check_path(name, item)


def check_device(name: str, value: Any) -> None:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', and only a device this machine has."""
    allowed = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    if not isinstance(value, str):
        _fail(TypeError, name, allowed, value)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
        _fail(ValueError, name, allowed, value)
    cuda_missing = value.startswith("cuda") and not torch.cuda.is_available()
    mps_missing = value == "mps" and not torch.backends.mps.is_available()
    if cuda_missing or mps_missing:
        _fail(ValueError, name, f"a device this machine has ('auto' or 'cpu'; no {value} here)", value)


def check_betas(name: str, value: Any) -> None:
    """Adam's two decay rates, each in [0, 1)."""
    allowed = "a pair of numbers in [0, 1), e.g. (0.9, 0.99)"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        _fail(TypeError, name, allowed, value)
    for beta in value:
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            _fail(TypeError, name, allowed, value)
        if not 0 <= beta < 1:
            _fail(ValueError, name, allowed, value)


def check_int_list(name: str, value: Any, low: int) -> None:
    """A non-empty list of integers, each >= ``low``."""
    allowed = f"a non-empty list of integers >= {low}"
    if not isinstance(value, (list, tuple)) or not value:
        _fail(TypeError if not isinstance(value, (list, tuple)) else ValueError, name, allowed, value)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            _fail(TypeError, name, allowed, value)
        if item < low:
            _fail(ValueError, name, allowed, value)


def check_number_list(name: str, value: Any, low: float) -> None:
    """A non-empty list of numbers, each strictly above ``low``."""
    allowed = f"a non-empty list of numbers > {low:g}"
    if not isinstance(value, (list, tuple)):
        _fail(TypeError, name, allowed, value)
    if not value:
        _fail(ValueError, name, allowed, value)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            _fail(TypeError, name, allowed, value)
        if not item > low or abs(item) == float("inf"):
            _fail(ValueError, name, allowed, value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """One of a few named options (a string)."""
    allowed = "one of " + ", ".join(repr(choice) for choice in choices)
    if not isinstance(value, str):
        _fail(TypeError, name, allowed, value)
    if value not in choices:
        _fail(ValueError, name, allowed, value)


# Early stopping: "validation" watches the held-out loss (ours); "course_report" counts consecutive rises of the
# training loss and stops when the count exceeds the patience (the course report's notebook).
STOPPING_RULES = ("validation", "course_report")

Rule = Callable[[str, Any], None]
SEED: Rule = partial(check_int, low=0)
COUNT: Rule = partial(check_int, low=1)
FOLDER: Rule = partial(check_path, optional=True)
UNIT: Rule = partial(check_number, low=0, high=1)
COMMON: dict[str, Rule] = {"data_dir": FOLDER, "seed": SEED, "smoke_test": check_bool}

PARAMETER_RULES: dict[str, dict[str, Rule]] = {
    "01_data_exploration": {**COMMON, "figures_dir": FOLDER},
    "02_model_summary": {**COMMON, "z_dim": COUNT, "batch_size": partial(check_int, low=1, high=N_TRAIN_IMAGES)},
    "03_train": {
        **COMMON, "epochs": COUNT, "batch_size": COUNT, "lr": partial(check_number, low=0, low_open=True),
        "betas": check_betas, "z_dim": COUNT, "patience": COUNT, "val_size": partial(check_int, low=0),
        "split_seed": SEED, "model_name": partial(check_choice, choices=tuple(MODELS)),
        "train_limit": partial(check_int, low=2, high=N_TRAIN_IMAGES, optional=True),
        "test_limit": partial(check_int, low=1, high=N_TEST_IMAGES, optional=True),
        "device": check_device, "run_dir": check_path, "figures_dir": FOLDER, "retrain": check_bool,
        "max_minutes": partial(check_number, low=0, low_open=True, optional=True), "eval_seed": SEED,
        "stopping": partial(check_choice, choices=STOPPING_RULES), "test_every": partial(check_int, low=0),
        "noise_seeds": partial(check_int, low=2), "trend_epochs": partial(check_int, low=3),
    },
    "04_latent_space": {
        **COMMON, "run_dir": check_path, "figures_dir": FOLDER,
        "k_values": partial(check_int_list, low=N_DIGITS), "sampler_clusters": partial(check_int_list, low=N_DIGITS),
        "mixture_components": partial(check_int, low=N_DIGITS), "min_purity": UNIT,
        "temperatures": partial(check_number_list, low=0),
        "min_digit_accuracy": UNIT, "min_mean_accuracy": UNIT, "tuning_seed": SEED,
        "spread_seeds": partial(check_int_list, low=0), "comparison_run_dir": partial(check_path, optional=True),
        "n_per_digit": COUNT, "n_judged": partial(check_int, low=7),  # PRDC's k = 5: 5 neighbours + itself + 1
        "iw_samples": COUNT, "iw_images": partial(check_int, low=1, high=N_TEST_IMAGES, optional=True),
        "tsne_images": partial(check_int, low=100, high=N_TEST_IMAGES),
        "train_limit": partial(check_int, low=N_DIGITS, high=N_TRAIN_IMAGES, optional=True),
        "judge_epochs": COUNT, "judge_dir": partial(check_path, optional=True),
        "judge_min_accuracy": partial(check_number, low=0, high=1, low_open=True, optional=True),
        "eval_seed": SEED, "second_judge_epochs": COUNT, "copying_cells": partial(check_int, low=2),
        "cvae_run_dir": partial(check_path, optional=True), "seed_run_dirs": check_path_list,
    },
    "05_explore": {**COMMON, "run_dir": check_path, "n_images": partial(check_int, low=1, high=N_TEST_IMAGES),
                   "cvae_run_dir": partial(check_path, optional=True)},
}


def check_val_size(val_size: int, train_limit: int | None) -> None:
    """The validation set must leave training images: ``val_size`` below the images used (``train_limit``)."""
    n_train = train_limit or N_TRAIN_IMAGES
    if val_size >= n_train:
        raise ValueError(
            f"val_size must be below the number of training images ({n_train:,}, from train_limit), "
            f"got {val_size:,}; lower val_size or raise train_limit"
        )


def _check_relations(notebook: str, p: Mapping[str, Any]) -> None:
    """Checks that involve two parameters at once (each message names both)."""
    if notebook == "03_train":
        check_val_size(p["val_size"], p["train_limit"])
    if notebook == "04_latent_space":
        n_train = p["train_limit"] or N_TRAIN_IMAGES
        largest = max([*p["k_values"], *p["sampler_clusters"], p["mixture_components"]])
        if largest > n_train:
            raise ValueError(
                f"k_values, sampler_clusters and mixture_components must not exceed the training images "
                f"clustered ({n_train:,}, from train_limit), got {largest:,}; lower them or raise train_limit"
            )
        if p["n_per_digit"] > p["n_judged"]:
            raise ValueError(f"n_per_digit must be at most n_judged ({p['n_judged']}), got {p['n_per_digit']}: "
                             "the figures show the first n_per_digit of the judged samples")
        if p["tuning_seed"] in p["spread_seeds"]:
            raise ValueError(f"spread_seeds must not contain tuning_seed ({p['tuning_seed']}): the spread of the "
                             "chosen sampler is measured on seeds the rule never saw")
        if p["tuning_seed"] == p["seed"]:
            raise ValueError(f"tuning_seed must differ from seed (both {p['seed']}): the reported samples must "
                             "come from a seed the rule never saw")


def check_values(notebook: str, values: Mapping[str, Any]) -> None:
    """Apply ``notebook``'s rules to the parameters in ``values`` (``TrainConfig`` checks its fields this way)."""
    rules = PARAMETER_RULES[notebook]
    for name, value in values.items():
        if name in rules:
            rules[name](name, value)
    _check_relations(notebook, {name: values.get(name) for name in rules})


def _injected_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names that papermill's injected cell assigned (it starts with '# Parameters'), from IPython's input history.

    Only these can be misspelled parameters: names the notebook itself defines later
    (when a cell is re-run in JupyterLab) are not parameters at all.
    """
    for source in reversed(namespace.get("In") or []):
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)]
    return []


def _refuse_unknown(notebook: str, namespace: Mapping[str, Any]) -> None:
    """A parameter passed with ``-p`` that the notebook does not declare would be ignored: refuse it, with a guess."""
    declared = PARAMETER_RULES[notebook]
    for name in _injected_names(namespace):
        if name in declared or isinstance(namespace.get(name), types.ModuleType):
            continue
        guess = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        raise ValueError(
            f"{name} is not a parameter of {notebook}: {hint}It would be ignored and the notebook would run on its "
            f"defaults. Its parameters are: {', '.join(declared)}"
        )


def check_parameters(notebook: str, namespace: Mapping[str, Any]) -> None:
    """Check every parameter of ``notebook`` (e.g. '03_train') in ``namespace`` (a notebook's globals()).

    Called in the cell right after ``parameters``, so a bad or misspelled ``-p`` value
    fails in seconds, before any data is loaded or any file is written.
    """
    if notebook not in PARAMETER_RULES:
        raise ValueError(f"notebook must be one of {sorted(PARAMETER_RULES)}, got {notebook!r}")
    missing = [name for name in PARAMETER_RULES[notebook] if name not in namespace]
    if missing:
        raise NameError(f"the parameters cell of {notebook} must define {', '.join(missing)}")
    _refuse_unknown(notebook, namespace)
    check_values(notebook, {name: namespace[name] for name in PARAMETER_RULES[notebook]})

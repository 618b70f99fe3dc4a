"""Check primitives: each checks one value and raises TypeError (wrong type) or ValueError (out of range).

Every message names the value as the user typed it, in one format ('epochs must be an integer >= 1, got 0'). The
notebook configs (``config.py``) attach them to their fields; public functions (latent, sampling) check at the door.
"""

from __future__ import annotations

import numbers
import os
import re
from typing import Any

import torch

__all__ = [
    "check_betas", "check_bool", "check_choice", "check_device", "check_int", "check_int_list", "check_number",
    "check_number_list", "check_path", "check_path_list",
]


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


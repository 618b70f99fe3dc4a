"""Every number as the report writes it: one set of formatters for the notebooks' tables and the paper's values.

Used by ``tables`` and ``comparison_tables`` (the notebooks' tables) and by ``report_tools.paper`` (the paper's
values), so that 98.9% or −40.37 reads the same in a table and in a sentence.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

__all__ = ["MINUS", "count", "count_word", "interval", "judged_accuracy", "mean_sd", "nats", "percent", "signed",
           "with_interval"]

MINUS = "\u2212"  # a typeset minus, not a hyphen


def signed(value: float, digits: int = 2, plus: bool = True) -> str:
    """A difference with its sign: +0.44, −0.02 (typeset minus, in the paper's prose and its tables alike)."""
    text = f"{abs(value):,.{digits}f}"
    return (MINUS if value < 0 else "+" if plus else "") + text


def percent(value: float, digits: int = 1) -> str:
    """A share as a percentage: 0.989 -> '98.9%'."""
    return f"{100 * value:.{digits}f}%"


def interval(low: float, high: float, digits: int = 1) -> str:
    """A 95% interval of a share, in percent: [98.6, 99.2]."""
    return f"[{100 * low:.{digits}f}, {100 * high:.{digits}f}]"


def with_interval(value: float, low: float, high: float, digits: int = 1) -> str:
    """A judged accuracy with its 95% Wilson interval: '98.9% [98.6, 99.2]'."""
    return f"{percent(value, digits)} {interval(low, high, digits)}"


def judged_accuracy(row: Mapping[str, Any]) -> str:
    """The judged accuracy of a result row (``accuracy``, ``accuracy_low``, ``accuracy_high``) with its interval."""
    return with_interval(row["accuracy"], row["accuracy_low"], row["accuracy_high"])


def mean_sd(values: pd.Series, digits: int, scale: float = 1.0, unit: str = "") -> str:
    """Mean ± sample standard deviation over seeds: '98.9 ± 0.1%'."""
    return f"{scale * values.mean():.{digits}f} ± {scale * values.std(ddof=1):.{digits}f}{unit}"


def nats(value: float, digits: int = 2) -> str:
    """A loss in nats per image: 93.17 (a negative value with a typeset minus)."""
    return signed(value, digits, plus=False)


_COUNT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def count_word(value: int) -> str:
    """A small count in running text as a word ('four runs', 'three of the four'); from 11 on, digits."""
    return _COUNT_WORDS[value] if 0 <= value < len(_COUNT_WORDS) else f"{value:,}"


def count(value: float) -> str:
    """A whole number with thousands separators: 1,234,143."""
    return f"{int(round(value)):,}"

#!/usr/bin/env python
"""Compare two sets of result files value by value, within float noise: what a refactoring must leave unchanged.

    python scripts/compare_results.py OLD.json NEW.json [MORE_NEW.json ...]

The new files are merged in order (notebook 04's ``latent_metrics.json`` and notebook 05's ``comparisons.json``
together hold what one file held before the analysis was split). Each difference is printed as ``+`` (only in the
new), ``-`` (only in the old) or ``~`` (changed); numbers agree when within a relative 1e-6. Exit status 1 when any
value differs or is missing from the new files.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Every place where ``new`` differs from ``old``, as one line each."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new)):
            if key not in old:
                lines.append(f"+ {path}/{key}")
            elif key not in new:
                lines.append(f"- {path}/{key}")
            else:
                lines += differences(old[key], new[key], f"{path}/{key}")
        return lines
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"~ {path}: {len(old)} items, now {len(new)}"]
        return [line for i, (a, b) in enumerate(zip(old, new)) for line in differences(a, b, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        same = old == new or (math.isnan(old) and math.isnan(new)) or math.isclose(old, new, rel_tol=1e-6)
        return [] if same else [f"~ {path}: {old} -> {new}"]
    return [] if old == new else [f"~ {path}: {old!r} -> {new!r}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new", nargs="+")
    args = parser.parse_args(argv)
    with open(args.old, encoding="utf-8") as handle:
        old = json.load(handle)
    new: dict[str, Any] = {}
    for name in args.new:
        with open(name, encoding="utf-8") as handle:
            new.update(json.load(handle))
    lines = differences(old, new)
    print("\n".join(lines) if lines else "no differences")
    return int(any(not line.startswith("+") for line in lines))


if __name__ == "__main__":
    sys.exit(main())

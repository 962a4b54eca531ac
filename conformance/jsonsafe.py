"""Non-finite numbers as data: JSON has no NaN or infinity, and an error can be either.

A NaN output, an infinite error or an infinite reference value is a finding, not a reason to lose
the record. Wherever the suite writes JSON (results files, `reports compare --json`, the report's
embedded data) a non-finite float is written as one of the strings below, and readers turn those
strings back into floats in the fields that hold numbers (NUMBER_FIELDS). JavaScript's
`Number("NaN")`, `Number("Infinity")` and `Number("-Infinity")` read them back as well.
"""

from __future__ import annotations

import math
from typing import Any

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# The fields of the results file and of `compare --json` whose value is a number (or null).
NUMBER_FIELDS = frozenset(
    {
        "max_abs_err",
        "max_rel_err",
        "tolerance_ratio",
        "got",
        "expected",
        "max_abs_diff",
        "max_rel_diff",
        "old_value",
        "new_value",
        "duration_s",
    }
)


def number_to_json(value: float) -> float | str:
    """A finite float as itself, a non-finite one as "NaN", "Infinity" or "-Infinity"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def to_json_safe(value: Any) -> Any:
    """`value` with every non-finite float (at any depth) replaced by its string."""
    if isinstance(value, float):
        return number_to_json(value)
    if isinstance(value, dict):
        return {key: to_json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(item) for item in value]
    return value


def from_json_safe(value: Any) -> Any:
    """The inverse, for a document just read: strings back to floats in NUMBER_FIELDS only, so a
    reason or a name that happens to read "NaN" stays a string."""
    if isinstance(value, dict):
        return {
            key: NON_FINITE[item]
            if key in NUMBER_FIELDS and isinstance(item, str) and item in NON_FINITE
            else from_json_safe(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [from_json_safe(item) for item in value]
    return value

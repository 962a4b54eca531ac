"""The grid, generated in one place from the check registry: every check kind x its axes x
implementation x dtype, and the index from a case id back to its case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from functools import lru_cache

import adapters

from .axes import DTYPES, MODE_LABELS
from .cases import Case
from .checks import CHECKS, CheckKind

CASE_FIELDS = {f.name for f in fields(Case)}


def settings(kind: CheckKind) -> list[dict]:
    """Every combination of the check's axes, each axis given the values before it."""
    combinations: list[dict] = [{}]
    for axis in kind.axes:
        combinations = [
            {**earlier, axis.name: value}
            for earlier in combinations
            for value in axis.values_given(earlier)
        ]
    return combinations


def all_cases(
    implementations: Iterable[str] | None = None,
    dtypes: Iterable[str] = DTYPES,
    mode_labels: Iterable[str] = tuple(MODE_LABELS),
    checks: Iterable[str] | None = None,
) -> list[Case]:
    checks = list(CHECKS) if checks is None else list(checks)
    implementations = list(adapters.IMPLEMENTATIONS if implementations is None else implementations)
    dtypes, mode_labels = list(dtypes), set(mode_labels)
    cases = []
    for name in checks:
        for setting in settings(CHECKS[name]):
            if setting["mode_label"] not in mode_labels:
                continue
            for impl in implementations:
                for dtype in dtypes:
                    cases.append(Case(check=name, implementation=impl, dtype=dtype, **setting))
    return cases


@lru_cache(maxsize=1)
def cases_by_id() -> dict[str, Case]:
    """Every case of every check kind and registered implementation, by id (built once)."""
    return {case.id: case for case in all_cases()}


def case_from_id(case_id: str) -> Case:
    """The case of a case id, or of the pytest node id or parameter that names it."""
    if "[" in case_id and case_id.endswith("]"):
        case_id = case_id[case_id.index("[") + 1 : -1]
    try:
        return cases_by_id()[case_id]
    except KeyError:
        example = next(iter(cases_by_id()))
        raise ValueError(f"no case with id {case_id!r}; ids look like {example!r}") from None

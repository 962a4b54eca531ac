"""The grid, generated in one place from the check registry: every check kind x its axes x
implementation x dtype, and the index from a case id back to its case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from functools import cache, lru_cache

import adapters

from .axes import ALL_DTYPES, MODE_LABELS
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


def all_pairs(settings: list[dict]) -> list[dict]:
    """A subset of `settings` in which every pair of values of two axes that occurs in
    `settings` occurs at least once (pairwise coverage), chosen greedily and deterministically:
    the settings are taken in grid order, each time the one covering most uncovered pairs."""

    def pairs(setting: dict) -> set:
        items = sorted(setting.items(), key=lambda item: item[0])
        return {(a, b) for i, a in enumerate(items) for b in items[i + 1 :]}

    uncovered = set().union(*(pairs(s) for s in settings)) if settings else set()
    chosen = []
    while uncovered:
        best = max(settings, key=lambda s: len(pairs(s) & uncovered))
        chosen.append(best)
        uncovered -= pairs(best)
    return sorted(chosen, key=settings.index)


def all_cases(
    implementations: Iterable[str] | None = None,
    dtypes: Iterable[str] = ALL_DTYPES,
    mode_labels: Iterable[str] = tuple(MODE_LABELS),
    checks: Iterable[str] | None = None,
    sampled: bool = True,
) -> list[Case]:
    """The grid; with `sampled`, an implementation whose registry entry samples a check kind
    (`pairwise=`) runs that check on its pairwise-covering sample only. Each check kind runs in
    those of `dtypes` it declares (CheckKind.dtypes)."""
    checks = list(CHECKS) if checks is None else list(checks)
    implementations = list(adapters.IMPLEMENTATIONS if implementations is None else implementations)
    dtypes, mode_labels = list(dtypes), set(mode_labels)
    cases = []
    for name in checks:
        for setting in (s for s in settings(CHECKS[name]) if s["mode_label"] in mode_labels):
            for impl in implementations:
                case = Case(check=name, implementation=impl, **setting)
                if sampled and sampled_out(case):
                    continue
                kind_dtypes = [d for d in dtypes if d in CHECKS[name].dtypes]
                cases.extend(replace(case, dtype=dtype) for dtype in kind_dtypes)
    return cases


@cache
def pairwise_sample(check: str) -> frozenset[tuple]:
    """The check's pairwise-covering sample, of its whole grid (so that a case id means one case
    whatever the selection), as the items of each setting."""
    return frozenset(tuple(s.items()) for s in all_pairs(settings(CHECKS[check])))


def sampled_out(case: Case) -> bool:
    """The case's implementation samples its check kind (`pairwise=` in the registry) and the
    case's configuration is not in the sample: it runs only with --every-configuration."""
    if case.check not in adapters.IMPLEMENTATIONS[case.implementation].pairwise:
        return False
    setting = tuple((axis.name, getattr(case, axis.name)) for axis in CHECKS[case.check].axes)
    return setting not in pairwise_sample(case.check)


def quick_selection(cases: list[Case]) -> list[Case]:
    """Of `cases`, for each check kind, implementation and mode, the first float32 case (in grid
    order) that the implementation supports, or the first of all when it supports none (so the
    run still says `unsupported` with the reason, or `skipped` where it is not installed)."""
    chosen: dict[tuple, tuple] = {}
    for case in cases:
        key = (case.check, case.implementation, case.mode_label)
        supported = not adapters.IMPLEMENTATIONS[case.implementation].unsupported_reason(
            case.setting
        )
        rank = (not supported, case.dtype != "float32")
        if key not in chosen or rank < chosen[key][0]:
            chosen[key] = (rank, case)
    picked = {id(case) for _, case in chosen.values()}
    return [case for case in cases if id(case) in picked]


@lru_cache(maxsize=1)
def cases_by_id() -> dict[str, Case]:
    """Every case of every check kind and registered implementation, sampled out or not, by id
    (built once)."""
    return {case.id: case for case in all_cases(sampled=False)}


def case_from_id(case_id: str) -> Case:
    """The case of a case id, or of the pytest node id or parameter that names it."""
    if "[" in case_id and case_id.endswith("]"):
        case_id = case_id[case_id.index("[") + 1 : -1]
    try:
        return cases_by_id()[case_id]
    except KeyError:
        example = next(iter(cases_by_id()))
        raise ValueError(f"no case with id {case_id!r}; ids look like {example!r}") from None

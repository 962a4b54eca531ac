"""The grid, generated in one place from the check registry: every check kind x its axes x
implementation x dtype, and the index from a case id back to its case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from functools import cache, lru_cache
from itertools import combinations

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
    """Of `cases`, per implementation, the fewest that run every check kind and every mode of
    the selection at least once (`quick_cover`), each pair of check kind and mode being its first
    case in grid order that the implementation supports, float32 first; where it supports none
    of the pair, its first float32 case (so the run still says `unsupported` with the reason, or
    `skipped` where it is not installed). Derived from the cases alone: a new check kind is
    covered as soon as the registry lists it."""
    best: dict[tuple, tuple] = {}  # (implementation, check, mode) -> (rank, case)
    for case in cases:
        key = (case.implementation, case.check, case.mode_label)
        impl = adapters.IMPLEMENTATIONS[case.implementation]
        # a case our adapter's gap skips runs nothing either
        supported = not impl.unsupported_reason(case.setting) and not impl.gap_reason(case.setting)
        rank = (int(not supported), int(case.dtype != "float32"))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, case)
    picked = set()
    for impl in dict.fromkeys(case.implementation for case in cases):
        ranks = {(check, mode): rank for (i, check, mode), (rank, _) in best.items() if i == impl}
        for check, mode in quick_cover(ranks):
            picked.add(id(best[impl, check, mode][1]))
    return [case for case in cases if id(case) in picked]


def quick_cover(ranks: dict[tuple[str, str], tuple[int, ...]]) -> list[tuple[str, str]]:
    """The pairs (check kind, mode) of `ranks` (each with the rank of its best case: unsupported,
    not float32) that cover every check kind and every mode: first, every check kind the
    implementation supports in some mode gets a supported case (jax, LSTM only, runs forward on
    an LSTM, and shows the other modes unsupported besides); then the fewest pairs; then the
    lowest summed rank (supported float32 cases first); among those, the modes spread in turn
    (the i-th check kind prefers the (i mod modes)-th mode: forward RNN_TANH, lengths RNN_RELU,
    gradients LSTM, ...); remaining ties go to the first found, in grid order. Exact, by dynamic
    programming over the check kinds and the set of modes covered so far (modes are few)."""
    checks = list(dict.fromkeys(check for check, _ in ranks))
    modes = list(dict.fromkeys(mode for _, mode in ranks))
    everything = (1 << len(modes)) - 1
    # mask of covered modes -> (cost, chosen pairs); costs add up pair by pair, so the optimum
    # of the prefix of check kinds extends to the optimum of the whole
    states: dict[int, tuple[tuple, tuple]] = {0: ((), ())}
    for position, check in enumerate(checks):
        options = [m for m in range(len(modes)) if (check, modes[m]) in ranks]
        runnable = any(not ranks[check, modes[m]][0] for m in options)
        following: dict[int, tuple[tuple, tuple]] = {}
        for mask, (cost, chosen) in states.items():
            for size in range(1, len(options) + 1):
                for subset in combinations(options, size):
                    pairs = tuple((check, modes[m]) for m in subset)
                    # a check kind the implementation supports somewhere runs supported
                    unrun = int(runnable and all(ranks[pair][0] for pair in pairs))
                    added = [
                        (0, 1, *ranks[pair], (m - position) % len(modes))
                        for pair, m in zip(pairs, subset)
                    ]
                    total = tuple(map(sum, zip(cost or (0,) * 5, (unrun, 0, 0, 0, 0), *added)))
                    covered = mask | sum(1 << m for m in subset)
                    if covered not in following or total < following[covered][0]:
                        following[covered] = (total, chosen + pairs)
        states = following
    return list(states[everything][1]) if checks else []


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

"""The grid: pairwise samples for implementations whose every case costs an export or a compile."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import pytest

import adapters
from conformance.axes import MODE_LABELS
from conformance.checks import CHECKS
from conformance.grid import (
    all_cases,
    all_pairs,
    case_from_id,
    quick_cover,
    quick_selection,
    settings,
)


def value_pairs(setting: dict) -> set:
    return {frozenset(pair) for pair in combinations(setting.items(), 2)}


@pytest.mark.parametrize("check", [name for name, kind in CHECKS.items() if len(kind.axes) > 1])
def test_a_pairwise_sample_covers_every_pair_of_values_with_far_fewer_cases(check):
    every = settings(CHECKS[check])
    sample = all_pairs(every)
    assert all(s in every for s in sample)
    assert set().union(*map(value_pairs, sample)) == set().union(*map(value_pairs, every))
    # No pairwise cover is smaller than the two axes with most values make together; a small grid
    # (a relation's 20 or 40 configurations) cannot shrink tenfold, but stays near that bound.
    values = sorted(len({s[name] for s in every}) for name in every[0])
    assert len(sample) <= max(len(every) / 10, 1.2 * values[-1] * values[-2])
    assert all_pairs(every) == sample  # deterministic: a case id names the same case every run


def test_only_a_grid_of_two_axes_or_more_is_sampled():
    """A single axis has no pairs to cover: its sample would be empty, so no implementation may
    sample such a check kind (sizes, whose one axis is the mode)."""
    for impl in adapters.IMPLEMENTATIONS.values():
        assert all(len(CHECKS[check].axes) > 1 for check in impl.pairwise), impl.name


def test_a_sample_is_the_same_whatever_the_mode_selection():
    impl = next(name for name, i in adapters.IMPLEMENTATIONS.items() if i.pairwise)
    check = adapters.IMPLEMENTATIONS[impl].pairwise[0]
    whole = {c.id for c in all_cases([impl], checks=(check,))}
    for mode in ("GRU", "LSTM"):
        part = {c.id for c in all_cases([impl], checks=(check,), mode_labels=(mode,))}
        assert part and part <= whole
        assert all(case_from_id(case_id).mode_label == mode for case_id in part)


def test_only_the_declared_checks_are_sampled():
    sampled = {
        (name, check) for name, i in adapters.IMPLEMENTATIONS.items() for check in i.pairwise
    }
    assert sampled, "no implementation is sampled: this test would check nothing"
    for name, check in sampled:
        full = len(settings(CHECKS[check]))
        got = len(all_cases([name], dtypes=("float32",), checks=(check,)))
        assert got < full
    full_torch = len(all_cases(["torch"], dtypes=("float32",), checks=("forward",)))
    assert full_torch == len(settings(CHECKS["forward"]))


def test_every_configuration_runs_the_sampled_checks_whole_and_their_ids_resolve():
    impl = next(name for name, i in adapters.IMPLEMENTATIONS.items() if i.pairwise)
    check = adapters.IMPLEMENTATIONS[impl].pairwise[0]
    sample = all_cases([impl], dtypes=("float32",), checks=(check,))
    every = all_cases([impl], dtypes=("float32",), checks=(check,), sampled=False)
    assert len(every) == len(settings(CHECKS[check])) and set(sample) < set(every)
    outside = next(c for c in every if c not in sample)
    assert case_from_id(outside.id) == outside  # rerun and repro work for it too


def pairs_of(cases, impl: str) -> set[tuple[str, str]]:
    return {(c.check, c.mode_label) for c in cases if c.implementation == impl}


def supported(case) -> bool:
    """Runs: neither unsupported nor our adapter's gap."""
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    return not impl.unsupported_reason(case.setting) and not impl.gap_reason(case.setting)


def test_quick_covers_every_check_kind_and_every_mode_of_each_implementation_with_fewest_cases():
    grid = all_cases()
    quick = quick_selection(grid)
    assert {c.implementation for c in quick} == set(adapters.IMPLEMENTATIONS)
    for impl in adapters.IMPLEMENTATIONS:
        chosen = pairs_of(quick, impl)
        assert {check for check, _ in chosen} == set(CHECKS), impl  # from the registry
        assert {mode for _, mode in chosen} == set(MODE_LABELS), impl
        count = len([c for c in quick if c.implementation == impl])
        ours = [c for c in grid if c.implementation == impl]
        if all(any(supported(c) for c in ours if c.check == check) for check in CHECKS) and all(
            any(supported(c) for c in ours if c.mode_label == mode) for mode in MODE_LABELS
        ):  # every check kind and mode runs somewhere: the fewest is one case per check kind
            assert count == max(len(CHECKS), 4), impl
        else:  # a mode it cannot run is shown unsupported besides each kind's supported case
            assert count <= len(CHECKS) + len(MODE_LABELS) - 1, impl
    # float32 for every kind that runs it; low_precision runs float16 and bfloat16 only
    assert {c.dtype for c in quick if "float32" in CHECKS[c.check].dtypes} == {"float32"}
    assert {c.dtype for c in quick if c.check == "low_precision"} <= {"float16", "bfloat16"}
    by_pair = {}
    for case in grid:
        by_pair.setdefault((case.implementation, case.check, case.mode_label), []).append(case)
    for case in quick:  # the pair's first case in grid order, supported ones first, then float32
        candidates = by_pair[case.implementation, case.check, case.mode_label]
        assert case == min(candidates, key=lambda c: (not supported(c), c.dtype != "float32"))


def test_quick_prefers_pairs_the_implementation_supports():
    quick = quick_selection(all_cases(["jax"]))  # LSTM only: three modes can only be unsupported
    unsupported = sorted(c.mode_label for c in quick if not supported(c))
    assert unsupported == ["GRU", "RNN_RELU", "RNN_TANH"]
    assert all(c.mode_label == "LSTM" for c in quick if supported(c))
    # neither gradients nor a training mode are expressible at all in an ONNX inference graph
    onnx = quick_selection(all_cases(["onnxruntime"]))
    assert sorted(c.check for c in onnx if not supported(c)) == ["dropout", "gradients"]


def test_quick_spreads_the_modes_in_turn_and_is_deterministic():
    quick = quick_selection(all_cases(["numpy"]))
    modes = list(MODE_LABELS)
    assert [(c.check, c.mode_label) for c in quick] == [
        (check, modes[i % len(modes)]) for i, check in enumerate(CHECKS)
    ]
    assert quick_selection(all_cases(["numpy"])) == quick


def test_quick_of_a_narrower_selection_still_covers_it():
    forward = quick_selection(all_cases(["torch"], checks=["forward"]))
    assert sorted(c.mode_label for c in forward) == sorted(MODE_LABELS)  # one check, four modes
    gru = quick_selection(all_cases(["torch"], mode_labels=["GRU"]))
    assert [c.check for c in gru] == list(CHECKS) and {c.mode_label for c in gru} == {"GRU"}
    # an implementation's cover does not depend on which others are selected
    assert quick_selection(all_cases(["torch"])) == [
        c for c in quick_selection(all_cases()) if c.implementation == "torch"
    ]


def test_a_new_check_kind_is_covered_without_listing_it(monkeypatch):
    from conformance import grid

    extra = replace(CHECKS["claims"], name="planted_kind")
    monkeypatch.setitem(grid.CHECKS, "planted_kind", extra)
    quick = quick_selection(all_cases(["numpy"]))
    assert {c.check for c in quick} == {*CHECKS, "planted_kind"}
    assert {c.mode_label for c in quick} == set(MODE_LABELS)


@pytest.mark.parametrize(
    "ranks, expected",
    [
        # the fewest pairs: 3 check kinds and 2 modes need 3, not 4
        (
            {(k, m): (0, 0) for k in "abc" for m in "xy"},
            [("a", "x"), ("b", "y"), ("c", "x")],
        ),
        # a supported pair wins over the turn of the modes; an unsupported mode still appears
        (
            {("a", "x"): (1, 0), ("a", "y"): (0, 0), ("b", "x"): (1, 0), ("b", "y"): (1, 0)},
            [("a", "y"), ("b", "x")],
        ),
        # fewer check kinds than modes: one check kind takes several
        ({("a", "x"): (0, 0), ("a", "y"): (0, 0)}, [("a", "x"), ("a", "y")]),
        ({}, []),
    ],
)
def test_quick_cover_is_the_fewest_best_ranked_pairs(ranks, expected):
    assert quick_cover(ranks) == expected


def test_quick_cover_is_exact_where_taking_the_modes_in_turn_is_not():
    # greedy in turn would give a->x (supported) then b must take x or y: b->y unsupported; the
    # exact cover gives a->y, b->x, both supported
    ranks = {("a", "x"): (0, 0), ("a", "y"): (0, 0), ("b", "x"): (0, 0), ("b", "y"): (1, 0)}
    assert quick_cover(ranks) == [("a", "y"), ("b", "x")]


def test_quick_runs_every_check_kind_supported_where_the_implementation_supports_it():
    grid = all_cases()
    quick = quick_selection(grid)
    for impl in adapters.IMPLEMENTATIONS:
        for check in CHECKS:
            ours = [c for c in grid if c.implementation == impl and c.check == check]
            if any(supported(c) for c in ours):
                chosen = [c for c in quick if c.implementation == impl and c.check == check]
                assert any(supported(c) for c in chosen), (impl, check)

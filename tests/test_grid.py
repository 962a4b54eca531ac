"""The grid: pairwise samples for implementations whose every case costs an export or a compile."""

from __future__ import annotations

from itertools import combinations

import pytest

import adapters
from conformance.checks import CHECKS
from conformance.grid import all_cases, all_pairs, case_from_id, quick_selection, settings


def value_pairs(setting: dict) -> set:
    return {frozenset(pair) for pair in combinations(setting.items(), 2)}


# a check kind of one axis (sizes: mode only) has no pairs to cover
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


def test_quick_covers_every_check_implementation_and_mode_once_in_float32():
    grid = all_cases()
    quick = quick_selection(grid)
    assert {(c.check, c.implementation, c.mode_label) for c in quick} == {
        (c.check, c.implementation, c.mode_label) for c in grid
    }
    assert len(quick) == len({(c.check, c.implementation, c.mode_label) for c in quick})
    assert {c.dtype for c in quick} == {"float32"}
    for case in quick:  # a supported case wherever the implementation supports one
        impl = adapters.IMPLEMENTATIONS[case.implementation]
        if impl.unsupported_reason(case.setting):
            assert all(
                impl.unsupported_reason(c.setting)
                for c in grid
                if (c.check, c.implementation, c.mode_label)
                == (case.check, case.implementation, case.mode_label)
            )
    assert quick_selection(all_cases(["torch"], checks=["forward"])) == [
        c for c in quick if c.implementation == "torch" and c.check == "forward"
    ]

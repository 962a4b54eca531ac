"""The grid: pairwise samples for implementations whose every case costs an export or a compile."""

from __future__ import annotations

from itertools import combinations

import pytest

import adapters
from conformance.checks import CHECKS
from conformance.grid import all_cases, all_pairs, case_from_id, settings


def value_pairs(setting: dict) -> set:
    return {frozenset(pair) for pair in combinations(setting.items(), 2)}


@pytest.mark.parametrize("check", list(CHECKS))
def test_a_pairwise_sample_covers_every_pair_of_values_with_far_fewer_cases(check):
    every = settings(CHECKS[check])
    sample = all_pairs(every)
    assert all(s in every for s in sample)
    assert set().union(*map(value_pairs, sample)) == set().union(*map(value_pairs, every))
    assert len(sample) <= len(every) / 10
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

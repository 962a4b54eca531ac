"""adapters/heap.py: the long-lived objects are frozen once per implementation and process."""

from __future__ import annotations

import gc
import weakref

import pytest

from adapters import heap
from conformance.check import CaseResult, declared_outcome, run_case
from conformance.grid import all_cases
from conformance.plugin import settle_heap


class Node:
    pass


@pytest.fixture
def unsettled():
    """heap's record of what this process has settled, emptied for the test and put back."""
    saved = set(heap._settled)
    heap._settled.clear()
    gc.unfreeze()
    yield heap._settled
    heap._settled.clear()
    heap._settled.update(saved)
    gc.unfreeze()


def test_the_first_case_of_an_implementation_freezes_what_is_alive_and_later_ones_do_not(
    unsettled,
):
    key = "an-implementation-of-this-test"
    assert heap.settle(key)
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the interpreter's and pytest's objects at least
    survivors = [[object()] for _ in range(100)]  # made after: not frozen
    assert not heap.settle(key)
    assert gc.get_freeze_count() == frozen
    assert survivors and heap.settle("another-implementation-of-this-test")
    assert gc.get_freeze_count() >= frozen + 100


def test_garbage_is_collected_before_the_freeze_not_frozen(unsettled):
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector reclaims it
    gone = weakref.ref(a)
    del a, b
    assert heap.settle("an-implementation-of-this-test")
    assert gone() is None


def test_a_case_the_declarations_settled_does_not_use_up_its_implementations_freeze(unsettled):
    cases = all_cases(implementations=["onnxruntime"], checks=["forward"])
    declared = next(c for c in cases if declared_outcome(c) is not None)
    ran = next(c for c in cases if declared_outcome(c) is None)
    settle_heap(declared_outcome(declared))  # unsupported or skipped, duration 0: ran nothing
    settle_heap(CaseResult(ran, "unsupported", "raised by the framework", duration_s=0.5))
    assert "onnxruntime" not in unsettled and gc.get_freeze_count() == 0
    result = run_case(ran)
    assert result.duration_s > 0
    settle_heap(result)
    assert "onnxruntime" in unsettled and gc.get_freeze_count() > 0

"""adapters/heap.py: the long-lived objects are frozen once per implementation and process."""

from __future__ import annotations

import gc

from adapters import heap


def test_the_first_case_of_an_implementation_freezes_what_is_alive_and_later_ones_do_not():
    key = "an-implementation-of-this-test"
    heap._settled.discard(key)
    gc.unfreeze()
    try:
        assert heap.settle(key)
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the interpreter's and pytest's objects at least
        survivors = [[object()] for _ in range(100)]  # made after: not frozen
        assert not heap.settle(key)
        assert gc.get_freeze_count() == frozen
        assert survivors and heap.settle("another-implementation-of-this-test")
        assert gc.get_freeze_count() >= frozen + 100
    finally:
        heap._settled.difference_update({key, "another-implementation-of-this-test"})
        gc.unfreeze()

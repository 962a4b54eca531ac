"""What the relation check kinds share: running the same implementation again on a changed
request, and turning one side of a relation into expected tensors.

A relation compares two sides computed by the SAME implementation (chunked, batch_rows,
reversed; docs/TOLERANCES.md, "Relations"): no NumPy reference is involved, so it judges every
implementation, those without a reference on their device included. Each side is one of the
implementation's answers, or its answers composed (chunks joined in time, rows put back in
order); an answer that cannot be composed (not named tensors, a tensor missing or of the wrong
rank) is an error that says so, not a harness crash.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters import Request
from adapters.layout import to_time_major
from adapters.request import Tensors
from adapters.spec import Spec

from ..cases import Case
from .kind import Runner

SEQUENCES = ("output",)  # laid out as the case asks (batch_first); every other tensor is a state


class RelationError(Exception):
    """An answer of the implementation that the relation cannot compose."""


def answer(runner: Runner, case: Case, request: Request, what: str, strict: bool = True) -> Tensors:
    """The implementation's named tensors for `request`; `strict`: output, h_n (and c_n) are
    numpy arrays of rank 3, as a side the relation composes or expects must be. Otherwise they
    are compared as they came, and a wrong shape or kind is reported as the case's failure."""
    tensors = runner(case.implementation, request)
    if not isinstance(tensors, Mapping):
        raise RelationError(f"{what}: returned a {type(tensors).__name__}, not named tensors")
    if not strict:
        return dict(tensors)
    states = ("h_n", "c_n") if request.spec.has_cell_state else ("h_n",)
    for name in ("output", *states):
        value = tensors.get(name)
        if not isinstance(value, np.ndarray) or value.ndim != 3:
            got = type(value).__name__ if not isinstance(value, np.ndarray) else value.shape
            raise RelationError(f"{what}: {name} is {got}, not an array of rank 3")
    return dict(tensors)


def is_sequence(name: str) -> bool:
    return name.split("_alone")[0] in SEQUENCES


def expected_side(spec: Spec, tensors: Mapping[str, np.ndarray]) -> Tensors:
    """One side as expected tensors: float64 and time-major, whatever the case's layout."""
    return {
        name: to_time_major(np.asarray(value), spec.batch_first and is_sequence(name)).astype(
            np.float64
        )
        for name, value in tensors.items()
        if value is not None
    }


def time_axis(spec: Spec) -> int:
    return 1 if spec.batch_first else 0


def batch_axis(spec: Spec, name: str) -> int:
    return 0 if spec.batch_first and is_sequence(name) else 1

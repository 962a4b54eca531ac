"""reversed: a bidirectional layer is two unidirectional runs of its own weights.

Its forward direction must equal a unidirectional run of the forward weights on x; its backward
direction a unidirectional run of the `_reverse` weights (renamed: weight_ih_l0_reverse is that
run's weight_ih_l0) on x reversed in time, whose output, reversed back, is the backward half of
`output`. Each run gets its direction's h0 and c0. All three runs are the same implementation.
One layer only: a second layer's input is both directions of the first, which no
unidirectional stack reproduces. Judged with the dtype's tolerance: a fused bidirectional kernel
may compute both directions' input projections in one matrix product, summed in another order
than one direction's (docs/TOLERANCES.md, "Relations").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters import Request
from adapters.request import Tensors

from ..axes import DIRECTIONS, INITIAL_STATE, LAYOUT, MODE, PROJECTION
from ..cases import Case
from . import forward
from .kind import CheckKind, Runner
from .relations import RelationError, answer, expected_side, time_axis

REVERSE = "_reverse"


def direction(request: Request, backward: bool) -> Request:
    """One direction of a one-layer bidirectional request, as a unidirectional request."""

    def state(a):
        return None if a is None else np.ascontiguousarray(a[int(backward) : int(backward) + 1])

    params = {
        name.removesuffix(REVERSE): value
        for name, value in request.params.items()
        if name.endswith(REVERSE) == backward
    }
    x = np.ascontiguousarray(np.flip(request.x, time_axis(request.spec))) if backward else request.x
    spec = replace(request.spec, bidirectional=False)
    return replace(
        request, spec=spec, params=params, x=x, h0=state(request.h0), c0=state(request.c0)
    )


def sides(runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    got = runner(case.implementation, request)  # the bidirectional layer, as the case asks
    forward_run, backward_run = (
        expected_side(case.spec, answer(runner, case, direction(request, backward), what))
        for backward, what in ((False, "the forward weights on x"), (True, "the _reverse weights"))
    )
    backward_run["output"] = backward_run["output"][::-1]  # time-major: back in x's order
    states = ("h_n", "c_n") if case.spec.has_cell_state else ("h_n",)
    try:
        expected = {
            name: np.concatenate([forward_run[name], backward_run[name]], axis=axis)
            for name, axis in (("output", 2), *((state, 0) for state in states))
        }
    except ValueError as error:
        raise RelationError(f"the two directions cannot be joined: {error}") from None
    return got, expected


CHECK = CheckKind(
    name="reversed",
    description=(
        "a one-layer bidirectional layer's forward half equals a unidirectional run of its "
        "forward weights, its backward half a unidirectional run of its _reverse weights on x "
        "reversed in time (output reversed back; h_n, c_n)"
    ),
    axes=(MODE, replace(DIRECTIONS, values=(True,)), LAYOUT, PROJECTION, INITIAL_STATE),
    compared=forward.compared,
    sides=sides,
    expected_from="two unidirectional runs of the same implementation, one per direction",
)

"""batch_rows: each batch row's result is independent of the other rows.

The batch run with its rows permuted (x, h0 and c0 alike) must give the same rows, permuted; and
row 0 run alone, as a batch of one, must give row 0. Both against the batch run in order, of
the same implementation. Catches rows mixed up (an h0 laid out batch-first, a state taken from
the wrong row) and a batch of one mishandled (an axis of length 1 squeezed away). The `_alone`
tensors are (seq, 1, features) and (rows, 1, features): their batch row 0 is row 0 of the
case. Judged with the dtype's tolerance: a matrix product of 1 row or of 5 may take other
kernels, summing in another order (docs/TOLERANCES.md, "Relations").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters import Request
from adapters.request import Tensors

from ..axes import DIRECTIONS, LAYERS, LAYOUT, MODE, PROJECTION
from ..cases import Case
from ..compare import Compared
from . import forward
from .kind import CheckKind, Runner
from .relations import answer, batch_axis, expected_side

ORDER = (3, 0, 4, 1, 2)  # no row keeps its place
ALONE = 0  # the row run as a batch of one


def with_rows(request: Request, rows: tuple[int, ...]) -> Request:
    """The request of those batch rows, in that order."""

    def take(a, axis):
        return None if a is None else np.ascontiguousarray(np.take(a, rows, axis=axis))

    x_axis = 0 if request.spec.batch_first else 1
    return replace(
        request, x=take(request.x, x_axis), h0=take(request.h0, 1), c0=take(request.c0, 1)
    )


def in_order(case: Case, name: str, value, order: np.ndarray):
    axis = batch_axis(case.spec, name)
    if isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[axis] == len(order):
        return np.take(value, order, axis=axis)
    return value  # compared as it came, so that its shape or kind is reported


def sides(runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    whole = answer(runner, case, request, "the batch in order")
    permuted = answer(runner, case, with_rows(request, ORDER), f"rows {ORDER}", strict=False)
    alone = answer(runner, case, with_rows(request, (ALONE,)), f"row {ALONE}", strict=False)
    back = np.argsort(ORDER)
    got = {name: in_order(case, name, value, back) for name, value in permuted.items()}
    got |= {f"{name}_alone": value for name, value in alone.items()}
    expected = expected_side(case.spec, whole)  # time-major: the batch is axis 1 of each
    expected |= {f"{name}_alone": value[:, [ALONE]] for name, value in expected.items()}
    return got, expected


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    rows = forward.compared(case, request)
    return (*rows, *(Compared(f"{c.name}_alone", f"{c.source}_alone", c.layout) for c in rows))


CHECK = CheckKind(
    name="batch_rows",
    description=(
        f"the batch rows permuted {ORDER} give the same rows permuted, and row {ALONE} run as a "
        "batch of one gives the same row (output, h_n, c_n; the latter named *_alone)"
    ),
    axes=(MODE, replace(LAYERS, values=(1, 2)), DIRECTIONS, LAYOUT, PROJECTION),
    compared=compared,
    sides=sides,
    expected_from="the same implementation's run of the batch in order",
)

"""chunked: a sequence run in two chunks, the state carried over, equals the whole run.

Steps 0..2 run first; steps 3..6 then run from its h_n (and c_n) as h0 (and c0). Their outputs
joined in time and the second chunk's final states must equal one run of all 7 steps, of the
same implementation: what streaming inference and truncated backpropagation rely on. Only
unidirectional layers: a backward direction starts at the end of the sequence, so a chunk's
state cannot carry it. Judged with the dtype's tolerance, not exactly: a kernel may compute the
input projection of all steps in one matrix product whose blocking depends on the number of
steps (docs/TOLERANCES.md, "Relations").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters import Request
from adapters.request import Tensors

from ..axes import INITIAL_STATE, LAYERS, LAYOUT, MODE, PROJECTION, SEQ_LEN
from ..cases import Case
from . import forward
from .kind import CheckKind, Runner
from .relations import RelationError, answer, expected_side, time_axis

SPLIT = 3  # chunks of 3 and 4 steps: a chunk taken for the other has the wrong length


def steps(request: Request, start: int, stop: int) -> np.ndarray:
    index = (slice(None), slice(start, stop)) if request.spec.batch_first else (slice(start, stop),)
    return np.ascontiguousarray(request.x[index])


def sides(runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    whole = answer(runner, case, request, "the whole sequence")
    first = answer(
        runner, case, replace(request, x=steps(request, 0, SPLIT)), f"steps 0..{SPLIT - 1}"
    )
    carried = replace(
        request,
        x=steps(request, SPLIT, SEQ_LEN),
        h0=first["h_n"],
        c0=first["c_n"] if case.spec.has_cell_state else None,
    )
    second = answer(runner, case, carried, f"steps {SPLIT}..{SEQ_LEN - 1} from the first's state")
    try:
        output = np.concatenate([first["output"], second["output"]], axis=time_axis(case.spec))
    except ValueError as error:
        raise RelationError(f"the chunks' outputs cannot be joined in time: {error}") from None
    return {**second, "output": output}, expected_side(case.spec, whole)


CHECK = CheckKind(
    name="chunked",
    description=(
        f"steps 0..{SPLIT - 1} and then {SPLIT}..{SEQ_LEN - 1} from the first chunk's final "
        "states give the whole run's output (joined in time), h_n and c_n"
    ),
    axes=(MODE, replace(LAYERS, values=(1, 2)), LAYOUT, PROJECTION, INITIAL_STATE),
    compared=forward.compared,
    sides=sides,
    expected_from="the same implementation's run of the whole sequence",
)

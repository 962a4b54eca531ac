"""lengths: variable-length sequences with PyTorch's packed-sequence semantics.

Each batch row has its own length (unsorted, with a tie, the full length and length 1; and, on a
few configurations, rows of length 0). Valid steps of `output` and the final states must equal
the reference; padded steps are compared on their own, as `output_padding`, against PyTorch's
padding value 0, so a framework whose convention differs there is named as such (a declared
divergence on output_padding alone) while its valid steps and states stay strictly checked.
"""

from __future__ import annotations

from adapters import Request

from ..axes import LAYER_AXES, SEQUENCE_LENGTHS
from ..cases import Case
from ..compare import SEQUENCE, STATE, Compared
from .kind import CheckKind


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    valid = request.valid_steps()
    states = ("h_n", "c_n") if case.spec.has_cell_state else ("h_n",)
    return (
        Compared("output", "output", SEQUENCE, steps=valid),
        Compared("output_padding", "output", SEQUENCE, steps=~valid),
        *(Compared(s, s, STATE) for s in states),
    )


CHECK = CheckKind(
    name="lengths",
    description=(
        "with per-row lengths, valid steps of output and the final states equal the "
        "reference (PyTorch's packed sequences) and padded steps are 0"
    ),
    axes=(*LAYER_AXES, SEQUENCE_LENGTHS),
    compared=compared,
)

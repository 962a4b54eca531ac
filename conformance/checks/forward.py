"""forward: on full-length sequences, output, h_n and c_n equal the float64 reference."""

from __future__ import annotations

from adapters import Request

from ..axes import LAYER_AXES
from ..cases import Case
from ..compare import SEQUENCE, STATE, Compared
from .kind import CheckKind


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    states = ("h_n", "c_n") if case.spec.has_cell_state else ("h_n",)
    return (Compared("output", "output", SEQUENCE), *(Compared(s, s, STATE) for s in states))


CHECK = CheckKind(
    name="forward",
    description="on full-length sequences, output, h_n and c_n equal the float64 reference",
    axes=LAYER_AXES,
    compared=compared,
)

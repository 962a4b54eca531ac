"""gradients: the vector-Jacobian product of fixed cotangents equals backpropagation through time.

With random cotangents for output, h_n and c_n, the gradients with respect to x, the given
initial states and every parameter (named as in the state_dict: grad_weight_ih_l0, ...) must
equal the NumPy reference's BPTT of the documented equations, itself validated against finite
differences (tests/test_reference_gradients.py). The forward tensors of the same call are
compared too: a gradient is only meaningful for the forward it differentiates.
"""

from __future__ import annotations

from adapters import Request
from adapters.request import gradient_names

from ..axes import GRADIENT_LENGTHS, LAYER_AXES
from ..cases import Case, request_with_cotangents
from ..compare import INPUT, SEQUENCE, STATE, WEIGHT, Compared
from .kind import CheckKind


def layout_of(gradient: str) -> str:
    if gradient == "grad_x":
        return INPUT
    return STATE if gradient in ("grad_h0", "grad_c0") else WEIGHT


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    valid = None if request.lengths is None else request.valid_steps()
    states = ("h_n", "c_n") if case.spec.has_cell_state else ("h_n",)
    return (
        Compared("output", "output", SEQUENCE, steps=valid),
        *(Compared(s, s, STATE) for s in states),
        *(Compared(g, g, layout_of(g)) for g in gradient_names(request)),
    )


CHECK = CheckKind(
    name="gradients",
    description=(
        "with fixed cotangents, the gradients of x, h0, c0 and every parameter equal "
        "backpropagation through time of the reference"
    ),
    axes=(*LAYER_AXES, GRADIENT_LENGTHS),
    compared=compared,
    request=request_with_cotangents,
    gradients=True,
)

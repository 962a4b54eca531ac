"""claims: what PyTorch's documentation says of the returned tensors, checked on every
implementation against its own tensors (no reference).

- `h_n` of the last layer is `output` at its last step, exactly: for a unidirectional layer
  h_n[-1] == output[-1]; for a bidirectional one the forward half h_n[-2] == output[-1, :, :F]
  and the backward half h_n[-1] == output[0, :, F:] (the backward direction ends at step 0).
  Exact because both are the same values in PyTorch (h_n is the last step's h, not computed
  again); a framework that computes them separately is a finding, declared in
  conformance/divergences.py, never a tolerance.
- Shapes: `output` is (seq, batch, D*H_out) (batch-first with batch_first), `h_n` is
  (num_layers*D, batch, H_out) with H_out = proj_size when it is set, `c_n` is
  (num_layers*D, batch, hidden_size). `output` and `c_n` are compared for their shape only
  (`size` 0: none of their values is claimed).

The parameter shapes the documentation gives are the canonical layout's, checked against
`adapters.param_shapes` in tests/test_param_shapes.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from adapters import Request
from adapters.layout import to_time_major
from adapters.request import Tensors
from adapters.spec import Spec

from ..axes import DIRECTIONS, LAYERS, LAYOUT, MODE, PROJECTION
from ..cases import Case
from ..compare import SEQUENCE, STATE, Compared
from ..tolerances import Tolerance
from .kind import CheckKind, Runner

EXACT = Tolerance(atol=0.0, rtol=0.0)


def documented_shapes(spec: Spec, seq: int, batch: int) -> dict[str, tuple[int, int, int]]:
    """Time-major, as PyTorch's documentation gives them."""
    rows = spec.num_layers * spec.num_directions
    shapes = {
        "output": (seq, batch, spec.num_directions * spec.output_size),
        "h_n": (rows, batch, spec.output_size),
    }
    if spec.has_cell_state:
        shapes["c_n"] = (rows, batch, spec.hidden_size)
    return shapes


def own_values(spec: Spec, name: str, value, shape: tuple[int, ...]) -> np.ndarray | None:
    """The implementation's tensor, float64 and time-major, if it has the documented shape."""
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        return None
    value = (
        to_time_major(value, spec.batch_first and name == "output") if value.ndim == 3 else value
    )
    return value.astype(np.float64) if value.shape == shape else None


def sides(runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    got = runner(case.implementation, request)
    spec = case.spec
    tensors = got if isinstance(got, Mapping) else {}
    shapes = documented_shapes(spec, request.seq_len, request.batch)
    own = {name: own_values(spec, name, tensors.get(name), shape) for name, shape in shapes.items()}
    # what is not the documented shape is reported as such; its values are never compared
    expected = {
        name: np.zeros(shape) if own[name] is None else own[name] for name, shape in shapes.items()
    }
    output, h_n = own["output"], expected["h_n"]
    if output is not None:
        features, last = spec.output_size, (spec.num_layers - 1) * spec.num_directions
        h_n[last] = output[-1, :, :features]
        if spec.bidirectional:
            h_n[last + 1] = output[0, :, features:]
    return got, expected


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    spec = case.spec
    rows, batch = spec.num_layers * spec.num_directions, request.batch
    last_layer = np.arange(rows)[:, None] >= rows - spec.num_directions
    shape_only = np.zeros((rows, batch), dtype=bool)
    tensors = [
        Compared("output", "output", SEQUENCE, steps=np.zeros((request.seq_len, batch), bool)),
        Compared("h_n", "h_n", STATE, steps=np.broadcast_to(last_layer, (rows, batch))),
    ]
    if spec.has_cell_state:
        tensors.append(Compared("c_n", "c_n", STATE, steps=shape_only))
    return tuple(tensors)


CHECK = CheckKind(
    name="claims",
    description=(
        "the last layer's h_n is output's last step exactly (bidirectional: forward half at the "
        "last step, backward half at step 0), and output, h_n (proj_size wide) and c_n have the "
        "documented shapes"
    ),
    axes=(MODE, replace(LAYERS, values=(1, 2)), DIRECTIONS, LAYOUT, PROJECTION),
    compared=compared,
    sides=sides,
    expected_from="the same call's output at its last (backward half: first) step",
    tolerance=lambda dtype: EXACT,
)

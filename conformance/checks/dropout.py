"""dropout: training-mode semantics of each dropout rate an implementation has.

Dropout masks come from each framework's own RNG, so no mask is compared across frameworks;
each case is one property of one rate, judged on the implementation's own runs (a relation,
docs/TOLERANCES.md "Relations") or, where the result is determined, against the NumPy
reference of what the documentation says it is:

- inference_ignores: inference with a non-zero rate equals inference with every rate 0;
- training_rate0: training with every rate 0 equals inference;
- training_changes: training with a non-zero rate changes the output. A property of difference:
  the compared tensor, `output_changed`, is 1 at each (step, row) whose output differs from
  inference beyond the dtype's tolerance, 0 where it does not, against an expected 1 everywhere,
  so a rate ignored in training fails and the report names the unchanged steps and rows;
- training_rate1: training with rate 1 gives the documented result. PyTorch's between-layer
  dropout drops every layer's output but the last's: layers after the first get zero input
  (the reference with their weight_ih zeroed, their b_ih kept), and the last layer's output is
  not dropped (it would be 0). Keras' `dropout` drops each layer's input (the reference with
  every weight_ih zeroed), its `recurrent_dropout` the state in the recurrent product only (every
  weight_hh zeroed: LSTM's c and GRU's z*h term keep the undropped state);
- one_layer_ignores: a one-layer PyTorch module ignores its between-layer dropout in training
  (there is no layer after it; PyTorch warns at construction).

Two layers (one for one_layer_ignores), unidirectional, seq-first, bias, given h0, the rate
`axes.DROPOUT_RATE` unless the property says 0 or 1. `Limit`s say which implementation has
which rate and a training mode (adapters/registry.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters import Request, numpy_reference
from adapters.layout import to_time_major
from adapters.request import Tensors

from ..axes import DROPOUT, DROPOUT_PROPERTY, DROPOUT_RATE, LAYERS, MODE
from ..cases import Case, request_for, widened
from ..compare import SEQUENCE, Compared, element_errors
from ..tolerances import tolerance_for
from . import forward
from .kind import CheckKind, Runner
from .relations import RelationError, answer, expected_side

CHANGED = "output_changed"
RATE_OF_PROPERTY = {"training_rate0": 0.0, "training_rate1": 1.0}


def with_rate(request: Request, kind: str, rate: float) -> Request:
    """`request` with the rate of `kind` (a key of axes.DROPOUT_KINDS) set to `rate`."""
    if kind == "between":
        return replace(request, spec=replace(request.spec, dropout=rate))
    return replace(request, **{f"{kind}_dropout": rate})


def inference(request: Request) -> Request:
    """The same call in inference with every rate 0: the side each property is measured from."""
    spec = replace(request.spec, dropout=0.0)
    return replace(request, spec=spec, training=False, input_dropout=0.0, recurrent_dropout=0.0)


def request(case: Case) -> Request:
    """The run the property is about: the case's rate (0, 1 or DROPOUT_RATE), in training for
    every property but inference_ignores."""
    rate = RATE_OF_PROPERTY.get(case.dropout_property, DROPOUT_RATE)
    return replace(with_rate(request_for(case), case.dropout, rate), training=case.training)


def dropped_weights(kind: str) -> tuple[str, ...]:
    """The parameters that rate 1 of `kind` multiplies by zeros (prefixes of their names)."""
    if kind == "between":  # the input of every layer after the first
        return ("weight_ih_l",)
    return ("weight_ih_l",) if kind == "input" else ("weight_hh_l",)


def documented_rate_one(case: Case, request: Request) -> Tensors:
    """The reference of rate 1 as documented: the dropped products' weights zeroed."""
    wide = widened(request)
    params = dict(wide.params)
    for name, value in wide.params.items():
        first_layer = name.split("_l")[1].startswith("0")
        if name.startswith(dropped_weights(case.dropout)) and not (
            case.dropout == "between" and first_layer
        ):
            params[name] = np.zeros_like(value)
    return numpy_reference.run(replace(inference(wide), params=params))


def output_changed(case: Case, trained: Tensors, inferred: Tensors) -> np.ndarray:
    """1 at each (step, row) whose training output differs from inference beyond the dtype's
    tolerance, else 0; in the case's layout and dtype, one feature wide."""
    spec = case.spec
    got, base = (to_time_major(t["output"], spec.batch_first) for t in (trained, inferred))
    if got.shape != base.shape:
        raise RelationError(
            f"training's output has shape {got.shape}, inference's {base.shape}: not comparable"
        )
    _, ratio = element_errors(
        got.astype(np.float64), base.astype(np.float64), tolerance_for(case.dtype)
    )
    changed = np.any(ratio > 1.0, axis=2, keepdims=True).astype(case.dtype)
    return np.ascontiguousarray(np.swapaxes(changed, 0, 1)) if spec.batch_first else changed


def sides(runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    prop = case.dropout_property
    if prop == "training_rate1":
        return runner(case.implementation, request), documented_rate_one(case, request)
    inferred = answer(runner, case, inference(request), "inference with every rate 0")
    if prop == "training_changes":
        trained = answer(runner, case, request, f"training with rate {DROPOUT_RATE}")
        changed = output_changed(case, trained, inferred)
        steps, batch = request.seq_len, request.batch
        return {CHANGED: changed}, {CHANGED: np.ones((steps, batch, 1))}
    return runner(case.implementation, request), expected_side(case.spec, inferred)


def compared(case: Case, request: Request) -> tuple[Compared, ...]:
    if case.dropout_property == "training_changes":
        return (Compared(CHANGED, CHANGED, SEQUENCE),)
    return forward.compared(case, request)


def _layers(c) -> tuple:
    return (1,) if c["dropout_property"] == "one_layer_ignores" else (2,)


CHECK = CheckKind(
    name="dropout",
    description=(
        "inference ignores a non-zero dropout rate; training with rate 0 equals inference; "
        "training with a non-zero rate changes the output; rate 1 gives the documented result "
        "(PyTorch: zero input to every layer after the first, the last layer's output kept; "
        "Keras: zero input, or no recurrent product); a one-layer PyTorch module ignores its "
        "dropout"
    ),
    axes=(MODE, DROPOUT, DROPOUT_PROPERTY, replace(LAYERS, values_for=_layers)),
    compared=compared,
    request=request,
    sides=sides,
    expected_from=(
        "the same implementation's inference run with every rate 0 (rate 1: the NumPy "
        "reference of the documented result; training_changes: 1 where training differs)"
    ),
)

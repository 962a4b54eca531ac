"""Compare an implementation's named tensors with the reference's, and say where they differ.

A check kind lists what it compares (`Compared`): a name, the implementation's tensor it reads,
its layout (which says how an element is located) and, for sequences, which steps count. Shapes
are checked in the layout the case asks for; values are then compared time-major, so an index
reads the same way for every case: output[t, n, direction * F + unit] and
state[layer * D + direction, n, unit].
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from adapters.layout import TORCH_GATE_ORDER, layer_direction_of, to_time_major
from adapters.spec import Spec

from .tolerances import Tolerance

DIRECTION_NAMES = ("forward", "backward")
SEQUENCE, STATE = "sequence", "state"  # (seq, batch, D*F) time-major; (L*D, batch, F)
INPUT, WEIGHT = "input", "weight"  # (seq, batch, input) time-major, like x; a parameter's shape
TIME_MAJOR = (SEQUENCE, INPUT)  # laid out as the case asks (batch_first), compared time-major
PARAMETER = re.compile(r"(?P<kind>(weight|bias)_(ih|hh|hr))_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
GATE_NAMES = {"i": "input", "f": "forget", "g": "cell", "o": "output", "r": "reset", "z": "update"}
GATE_NAMES |= {"n": "new", "h": "hidden"}


@dataclass(frozen=True, eq=False)
class Compared:
    """One tensor a check compares."""

    name: str  # as reported: "output", "output_padding", "h_n", ...
    source: str  # the implementation's tensor it reads
    layout: str  # SEQUENCE or STATE: how an element is located
    # the elements compared (None: all), booleans over the first two axes, time-major ((seq,
    # batch) for a SEQUENCE: the steps; (rows, batch) for a STATE), or over every axis
    steps: np.ndarray | None = None


def counted_mask(compared: Compared, ndim: int) -> np.ndarray:
    """`steps` with an axis per dimension of the tensor, to broadcast over its last axes."""
    steps = compared.steps
    return steps.reshape(steps.shape + (1,) * (ndim - steps.ndim))


@dataclass
class TensorComparison:
    name: str
    expected_shape: tuple
    got_shape: tuple | None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance_ratio: float | None = None  # worst |err| / (atol + rtol*|ref|); <= 1 passes
    mismatched: int = 0
    size: int = 0
    worst: dict = field(default_factory=dict)
    problem: str = ""  # set when the tensor should not exist at all

    @property
    def shape_ok(self) -> bool:
        return self.got_shape == self.expected_shape

    @property
    def ok(self) -> bool:
        return self.shape_ok and self.mismatched == 0 and not self.problem

    def metrics(self) -> dict:
        return {
            "shape_ok": self.shape_ok,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "tolerance_ratio": self.tolerance_ratio,
            "mismatched": self.mismatched,
            "size": self.size,
            "expected_shape": list(self.expected_shape),
            "got_shape": None if self.got_shape is None else list(self.got_shape),
            "worst": self.worst,
            **({"problem": self.problem} if self.problem else {}),
        }

    def describe(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        if self.got_shape is None:
            return f"{self.name}: missing (None), expected shape {self.expected_shape}"
        if not self.shape_ok:
            return f"{self.name}: shape {self.got_shape}, expected {self.expected_shape}"
        text = (
            f"{self.name}: max_abs_err {self.max_abs_err:.3g}, max_rel_err {self.max_rel_err:.3g}, "
            f"{self.tolerance_ratio:.3g}x tolerance"
        )
        if self.ok:
            return text + " - ok"
        where = ", ".join(f"{k} {v}" for k, v in self.worst.items() if k not in ("got", "expected"))
        return (
            f"{text} - {self.mismatched} of {self.size} elements out of tolerance\n"
            f"    worst at {where}: got {self.worst['got']!r}, expected {self.worst['expected']!r}"
        )


def locate_in_parameter(spec: Spec, name: str, index: tuple[int, ...]) -> dict:
    """A parameter's element: layer, direction, and for a gated matrix the gate and its unit."""
    parts = PARAMETER.search(name)
    where = {
        "layer": int(parts["layer"]),
        "direction": DIRECTION_NAMES[1 if parts["reverse"] else 0],
    }
    if parts["kind"] == "weight_hr":  # the projection has no gates: row = projected feature
        where.update({"gate": "projection", "unit": index[0]})
    else:
        gate, unit = divmod(index[0], spec.hidden_size)
        letter = TORCH_GATE_ORDER[spec.mode][gate]
        where.update({"gate": f"{GATE_NAMES[letter]} ({letter})", "unit": unit})
    if len(index) == 2:
        where["column"] = index[1]
    return where | {"index": list(index)}


def locate(spec: Spec, compared: Compared, index: tuple[int, ...]) -> dict:
    """Name the worst element: time step, batch row, layer, direction, unit (or gate)."""
    if compared.layout == WEIGHT:
        return locate_in_parameter(spec, compared.source, index)
    if compared.layout == INPUT:
        t, n, feature = index
        return {"time step": t, "batch row": n, "feature": feature, "index": list(index)}
    cell_state = compared.source in ("c_n", "grad_c0")
    features = spec.hidden_size if cell_state else spec.output_size
    if compared.layout == SEQUENCE:
        t, n, f = index
        direction, unit = divmod(f, features)
        layer = spec.num_layers - 1
        where = {"time step": t, "batch row": n}
    else:
        row, n, unit = index
        layer, direction = layer_direction_of(spec, row)
        where = {"batch row": n}
    where.update(
        {
            "layer": layer,
            "direction": DIRECTION_NAMES[direction],
            "unit": unit,
            "index": list(index),
        }
    )
    return where


def element_errors(
    got: np.ndarray, expected: np.ndarray, tolerance: Tolerance
) -> tuple[np.ndarray, np.ndarray]:
    """|got - expected| and its ratio to the tolerance, element by element.

    Equal values (equal infinities included) agree exactly; a NaN on either side is never close,
    so a NaN in the reference cannot let any value pass, and neither can a NaN output."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # exact: a bound of 0
        error = np.where(got == expected, 0.0, np.abs(got - expected))
        error[np.isnan(error)] = np.inf
        ratio = np.where(error == 0.0, 0.0, error / tolerance.bound(np.abs(expected)))
    ratio[np.isnan(ratio)] = np.inf  # an infinite error against an infinite reference
    return error, ratio


def compare_tensor(
    spec: Spec,
    compared: Compared,
    got,
    expected: np.ndarray,
    tolerance: Tolerance,
    dtype: np.dtype | None = None,
) -> TensorComparison:
    """`expected` is time-major; `got` is in the layout the case asks for (batch_first) and, when
    `dtype` is given, must be a plain numpy array of that dtype (the input's, as promised)."""
    name = compared.name
    batch_major = compared.layout in TIME_MAJOR and spec.batch_first
    expected_shape = tuple(expected.shape)
    if batch_major:  # shapes are reported in the layout the user asked for
        expected_shape = (expected_shape[1], expected_shape[0], *expected_shape[2:])
    if got is not None and (not isinstance(got, np.ndarray) or isinstance(got, np.ma.MaskedArray)):
        problem = f"is a {type(got).__name__}, not a plain numpy array"
        return TensorComparison(name, expected_shape, None, problem=problem)
    result = TensorComparison(name, expected_shape, None if got is None else tuple(got.shape))
    if got is not None and dtype is not None and got.dtype != dtype:
        result.problem = f"has dtype {got.dtype}, expected {dtype} (the input's)"
        return result
    if not result.shape_ok:
        return result
    if batch_major:
        got = to_time_major(got, batch_first=True)
    got64 = got.astype(np.float64)
    error, ratio = element_errors(got64, expected, tolerance)
    counted = np.ones(error.shape, dtype=bool)
    if compared.steps is not None:
        counted = np.broadcast_to(counted_mask(compared, error.ndim), error.shape)
        error, ratio = np.where(counted, error, 0.0), np.where(counted, ratio, 0.0)
    # the worst element is one that was compared, even when every compared one agrees exactly
    worst = np.unravel_index(int(np.argmax(np.where(counted, ratio, -1.0))), ratio.shape)
    finite_expected = np.abs(expected[counted & np.isfinite(expected)])
    scale = float(np.max(finite_expected, initial=0.0)) or 1.0
    result.max_abs_err = float(error.max())
    result.max_rel_err = result.max_abs_err / scale
    result.tolerance_ratio = float(ratio.max())
    result.mismatched = int(np.count_nonzero(ratio > 1.0))
    result.size = int(np.count_nonzero(counted))
    result.worst = locate(spec, compared, tuple(int(i) for i in worst))
    result.worst.update({"got": float(got64[worst]), "expected": float(expected[worst])})
    return result


def compare_tensors(
    spec: Spec,
    compared: tuple[Compared, ...],
    got: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    tolerance: Tolerance,
    dtype: np.dtype | None = None,
) -> list[TensorComparison]:
    """Each compared tensor, key by key; a tensor the mode does not have must be absent."""
    if not isinstance(got, Mapping) or not all(isinstance(name, str) for name in got):
        what = f"a {type(got).__name__}" if not isinstance(got, Mapping) else "non-string names"
        problem = f"returned {what}, not named tensors ({{'output': ...}})"
        return [TensorComparison(c.name, (), None, problem=problem) for c in compared]
    comparisons = [
        compare_tensor(spec, c, got.get(c.source), expected[c.source], tolerance, dtype)
        for c in compared
    ]
    read = {c.source for c in compared}
    for name, value in got.items():
        if name not in read and value is not None:
            shape = tuple(np.shape(value))
            problem = f"got an array of shape {shape}; {spec.mode} has no {name}, it must be absent"
            comparisons.append(TensorComparison(name, (), shape, problem=problem))
    return comparisons

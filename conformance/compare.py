"""Compare an implementation's (output, h_n, c_n) with the reference, and say where they differ.

Shapes are checked in the layout the case asks for; values are then compared time-major, so an
index reads the same way for every case: output[t, n, direction * F + unit] and
state[layer * D + direction, n, unit].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adapters.layout import layer_direction_of, to_time_major
from adapters.spec import Spec

from .tolerances import Tolerance

DIRECTION_NAMES = ("forward", "backward")


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


def locate(spec: Spec, name: str, index: tuple[int, ...]) -> dict:
    """Name the worst element: time step, batch row, layer, direction, unit."""
    features = spec.hidden_size if name == "c_n" else spec.output_size
    if name == "output":
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


def compare_tensor(
    spec: Spec, name: str, got: np.ndarray | None, expected: np.ndarray, tolerance: Tolerance
) -> TensorComparison:
    """`expected` is time-major; `got` is in the layout the implementation returns (batch_first)."""
    time_major_output = name == "output" and spec.batch_first
    expected_shape = tuple(expected.shape)
    if time_major_output:  # shapes are reported in the layout the user asked for
        expected_shape = (expected_shape[1], expected_shape[0], *expected_shape[2:])
    result = TensorComparison(name, expected_shape, None if got is None else tuple(got.shape))
    if not result.shape_ok:
        return result
    if time_major_output:
        got = to_time_major(got, batch_first=True)
    got64 = got.astype(np.float64)
    error = np.abs(got64 - expected)
    error[np.isnan(got64)] = np.inf  # a NaN is never close
    ratio = error / tolerance.bound(np.abs(expected))
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    scale = float(np.max(np.abs(expected))) or 1.0
    result.max_abs_err = float(error.max())
    result.max_rel_err = result.max_abs_err / scale
    result.tolerance_ratio = float(ratio.max())
    result.mismatched = int(np.count_nonzero(ratio > 1.0))
    result.size = int(error.size)
    result.worst = locate(spec, name, tuple(int(i) for i in worst))
    result.worst.update({"got": float(got64[worst]), "expected": float(expected[worst])})
    return result


def compare_forward(
    spec: Spec, got: tuple, expected: tuple, tolerance: Tolerance
) -> list[TensorComparison]:
    """(output, h_n, c_n) of the implementation and of the time-major reference; c_n for LSTM."""
    names = ("output", "h_n", "c_n") if spec.has_cell_state else ("output", "h_n")
    comparisons = [
        compare_tensor(spec, name, g, e, tolerance) for name, g, e in zip(names, got, expected)
    ]
    if not spec.has_cell_state and got[2] is not None:
        shape = tuple(np.shape(got[2]))
        problem = f"got an array of shape {shape}; {spec.mode} has no cell state, c_n must be None"
        comparisons.append(TensorComparison("c_n", (), shape, problem=problem))
    return comparisons

"""What goes to an implementation (`Request`) and what comes back (named tensors).

Every implementation has one entry point, `run(request) -> {"output": ..., "h_n": ..., "c_n": ...}`
(`c_n` only for LSTM), plus the `grad_*` tensors of `gradient_names(request)` when the request
carries cotangents. A later check adds a field to `Request` with a default (as `cotangents` was
added for gradients), never another signature. `Setting` is the part of a request that decides
whether an implementation can express it, so capabilities are judged from it without arrays (the
conformance grid asks the same question of cases that have no arrays yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import dtypes as _dtypes  # noqa: F401  registers bfloat16 with NumPy
from .spec import Spec

Tensors = dict[str, np.ndarray]  # "output", "h_n", for LSTM "c_n"; "grad_*" with cotangents


@dataclass(frozen=True)
class Setting:
    """The configuration an implementation must be able to express, without any array."""

    spec: Spec
    dtype: str  # "float32", "float64", ...
    lengths: bool = False  # per-row sequence lengths are given
    zero_length: bool = False  # ... and at least one row has length 0
    gradients: bool = False  # cotangents are given: gradients are asked for
    training: bool = False  # training mode: dropout applies (docs/CONVENTIONS.md, "Dropout")
    input_dropout: bool = False  # a non-zero Keras-style rate on each layer's input
    recurrent_dropout: bool = False  # a non-zero Keras-style rate on the recurrent state


@dataclass(frozen=True)
class Request:
    """One call of a recurrent layer, in the canonical layout.

    `x` is (seq, batch, input), or (batch, seq, input) with `spec.batch_first`; `h0`/`c0` are
    (num_layers * num_directions, batch, features) or None for the implementation's zero default;
    `lengths` is None (every row has the full length) or one int per batch row in [0, seq]:
    PyTorch's packed-sequence semantics, see docs/CONVENTIONS.md.

    `cotangents`, when given, asks for gradients as well: keys "output", "h_n" and, for LSTM,
    "c_n", each shaped like the tensor it weights (`output` in the request's layout, batch-major
    with `spec.batch_first`). The implementation then also returns the vector-Jacobian product
    of those cotangents, named as `gradient_names(self)` lists them (docs/CONVENTIONS.md,
    "Gradients").

    `training` runs the layer in training mode, where dropout applies: PyTorch's between-layer
    `spec.dropout`, and the Keras-style rates `input_dropout` (on each layer's input) and
    `recurrent_dropout` (on the recurrent state in each layer's recurrent product). In inference
    (the default) every rate is ignored. `seed` seeds the framework's dropout RNG for the call,
    so one call is repeatable; streams differ between frameworks, so no check compares masks
    (docs/CONVENTIONS.md, "Dropout").
    """

    spec: Spec
    params: Mapping[str, np.ndarray]
    x: np.ndarray
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None
    lengths: np.ndarray | None = None
    cotangents: Mapping[str, np.ndarray] | None = None
    training: bool = False
    input_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int = 0

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    @property
    def seq_len(self) -> int:
        return self.x.shape[1 if self.spec.batch_first else 0]

    @property
    def batch(self) -> int:
        return self.x.shape[0 if self.spec.batch_first else 1]

    @property
    def setting(self) -> Setting:
        return Setting(
            spec=self.spec,
            dtype=str(self.x.dtype),
            lengths=self.lengths is not None,
            zero_length=self.lengths is not None and bool(np.any(self.lengths == 0)),
            gradients=self.cotangents is not None,
            training=self.training,
            input_dropout=self.input_dropout > 0,
            recurrent_dropout=self.recurrent_dropout > 0,
        )

    def batch_major_x(self) -> np.ndarray:
        """x as (batch, seq, input), what most frameworks take."""
        return self.x if self.spec.batch_first else np.swapaxes(self.x, 0, 1)

    def row_lengths(self) -> np.ndarray:
        """Each row's length: `lengths`, or the full length for every row."""
        return np.full(self.batch, self.seq_len) if self.lengths is None else self.lengths

    def valid_steps(self) -> np.ndarray:
        """(seq, batch) booleans: step t of row n is within its length."""
        return np.arange(self.seq_len)[:, None] < self.row_lengths()[None, :]


def gradient_names(request: Request) -> tuple[str, ...]:
    """The gradients an implementation returns for a request with cotangents: `grad_x` (x's shape
    and layout), `grad_h0`/`grad_c0` only for a state that was given (a default zero state is not
    an input), and `grad_<name>` for every parameter in `request.params` (its shape)."""
    names = ["grad_x"]
    if request.h0 is not None:
        names.append("grad_h0")
    if request.c0 is not None:
        names.append("grad_c0")
    names.extend(f"grad_{name}" for name in request.params)
    return tuple(names)


def given_state_gradients(request: Request, grad_h0, grad_c0) -> Tensors:
    """grad_h0 and grad_c0, each only for a state the request gave (`gradient_names`)."""
    given = {"grad_h0": (request.h0, grad_h0), "grad_c0": (request.c0, grad_c0)}
    return {name: np.asarray(grad) for name, (state, grad) in given.items() if state is not None}


def as_tuple(tensors: Tensors) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(output, h_n, c_n) of named tensors, as `adapters.run` returns them."""
    return tensors["output"], tensors["h_n"], tensors.get("c_n")


def named(spec: Spec, output, h_n, c_n=None) -> Tensors:
    """Named tensors of (output, h_n, c_n); c_n is left out when it is None for a mode without it
    (a c_n returned for RNN or GRU is kept, so the comparison reports it)."""
    tensors = {"output": output, "h_n": h_n}
    if spec.has_cell_state or c_n is not None:
        tensors["c_n"] = c_n
    return tensors

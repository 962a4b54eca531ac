"""Translation helpers shared by every adapter, written once.

Everything here maps from the canonical layout (PyTorch's state_dict and tensor layouts) to what
another framework wants: gate reordering, bias folding, per-(layer, direction) weights and states,
and the time/batch axis order. Gate orders are spelled in PyTorch's letters, so a framework's order
reads as a permutation of PyTorch's ("zrn" is Keras's GRU order: update, reset, new).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .request import Request, Tensors, named
from .spec import Spec, param_name

TORCH_GATE_ORDER = {"RNN": "h", "LSTM": "ifgo", "GRU": "rzn"}


@dataclass(frozen=True)
class GateBlock:
    """Input and recurrent weights and biases in PyTorch's (out, in) layout: one gate's slice."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None
    b_hh: np.ndarray | None

    @property
    def input_bias(self) -> np.ndarray:
        """b_ih, or zeros without bias (for frameworks whose bias cannot be switched off)."""
        return np.zeros(self.w_ih.shape[0], self.w_ih.dtype) if self.b_ih is None else self.b_ih

    @property
    def recurrent_bias(self) -> np.ndarray:
        """b_hh, or zeros without bias."""
        return np.zeros(self.w_hh.shape[0], self.w_hh.dtype) if self.b_hh is None else self.b_hh

    @property
    def folded_bias(self) -> np.ndarray:
        """b_ih + b_hh: the single bias of frameworks that keep one (zeros without bias)."""
        return self.input_bias + self.recurrent_bias


@dataclass(frozen=True)
class LayerWeights(GateBlock):
    """One direction of one layer: every gate, in PyTorch's gate order, and the projection."""

    w_hr: np.ndarray | None


def gate_blocks(mode: str, w: LayerWeights) -> dict[str, GateBlock]:
    """Per-gate weights keyed by PyTorch's gate letters ("i", "f", "g", "o" / "r", "z", "n")."""
    order = TORCH_GATE_ORDER[mode]

    def split(a):
        return [None] * len(order) if a is None else np.split(a, len(order), axis=0)

    return {
        gate: GateBlock(*parts)
        for gate, *parts in zip(order, split(w.w_ih), split(w.w_hh), split(w.b_ih), split(w.b_hh))
    }


def layer_weights(
    spec: Spec, params: Mapping[str, np.ndarray], layer: int, direction: int, dtype: np.dtype
) -> LayerWeights:
    def get(kind: str) -> np.ndarray:
        return np.asarray(params[param_name(kind, layer, direction)], dtype=dtype)

    return LayerWeights(
        w_ih=get("weight_ih"),
        w_hh=get("weight_hh"),
        b_ih=get("bias_ih") if spec.bias else None,
        b_hh=get("bias_hh") if spec.bias else None,
        w_hr=get("weight_hr") if spec.proj_size else None,
    )


def reorder_gates(array: np.ndarray, mode: str, target_order: str, axis: int = 0) -> np.ndarray:
    """Permute the gate blocks along `axis` from PyTorch's order into `target_order`."""
    source_order = TORCH_GATE_ORDER[mode]
    if sorted(source_order) != sorted(target_order):
        raise ValueError(f"{target_order!r} is not a permutation of {mode} gates {source_order!r}")
    blocks = np.split(array, len(source_order), axis=axis)
    return np.concatenate([blocks[source_order.index(g)] for g in target_order], axis=axis)


def state_index(spec: Spec, layer: int, direction: int) -> int:
    """Row of h_n/c_n holding (layer, direction): PyTorch is layer-major."""
    return layer * spec.num_directions + direction


def layer_direction_of(spec: Spec, row: int) -> tuple[int, int]:
    return divmod(row, spec.num_directions)


def split_state(spec: Spec, state: np.ndarray) -> list[list[np.ndarray]]:
    """(L*D, N, F) -> state[layer][direction] of shape (N, F)."""
    return [
        [state[state_index(spec, layer, d)] for d in range(spec.num_directions)]
        for layer in range(spec.num_layers)
    ]


def stack_state(per_layer: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """state[layer][direction] of shape (N, F) -> (L*D, N, F), PyTorch's order."""
    return np.stack([s for directions in per_layer for s in directions])


def to_time_major(x: np.ndarray, batch_first: bool) -> np.ndarray:
    return np.swapaxes(x, 0, 1) if batch_first else x


def from_time_major(y: np.ndarray, batch_first: bool) -> np.ndarray:
    return np.swapaxes(y, 0, 1) if batch_first else y


def zero_state(spec: Spec, batch: int, features: int, dtype: np.dtype) -> np.ndarray:
    return np.zeros((spec.num_layers * spec.num_directions, batch, features), dtype=dtype)


# (h, c) of one direction, framework tensors; c is None without a cell state
DirectionState = tuple[Any, Any]
LayerRunner = Callable[[int, Any, list[DirectionState] | None], tuple[Any, list[DirectionState]]]


def run_stacked(
    request: Request, run_layer: LayerRunner, to_numpy: Callable[[Any], np.ndarray] = np.asarray
) -> Tensors:
    """Drive a framework that runs one layer (all its directions) at a time, batch-major.

    `run_layer(layer, inputs, initial)` gets inputs (N, T, F) (NumPy for the first layer, then
    what the previous layer returned, so the framework's tensors and autodiff flow between
    layers) and, per direction, the initial (h, c) or None when no state was given (so the
    framework's own zero default is used); it returns (outputs (N, T, D*F), the final (h, c) per
    direction). Layer stacking, the time/batch layout and PyTorch's layer-major h_n/c_n are
    assembled here, once for every such framework; `to_numpy` converts at the very end.
    """
    spec, x, h0, c0 = request.spec, request.x, request.h0, request.c0
    rows, batch = spec.num_layers * spec.num_directions, request.batch
    given = h0 is not None or c0 is not None
    if given:
        h = split_state(spec, h0 if h0 is not None else np.zeros((rows, batch, spec.output_size)))
        c = split_state(spec, c0 if c0 is not None else np.zeros((rows, batch, spec.hidden_size)))

    inputs = np.ascontiguousarray(request.batch_major_x())
    finals = []
    for layer in range(spec.num_layers):
        initial = None
        if given:
            initial = [
                (
                    h[layer][d].astype(x.dtype),
                    c[layer][d].astype(x.dtype) if spec.has_cell_state else None,
                )
                for d in range(spec.num_directions)
            ]
        inputs, layer_finals = run_layer(layer, inputs, initial)
        finals.append(layer_finals)

    output = to_numpy(inputs)
    h_n = stack_state([[to_numpy(h) for h, _ in layer] for layer in finals])
    c_n = None
    if spec.has_cell_state:
        c_n = stack_state([[to_numpy(c) for _, c in layer] for layer in finals])
    return named(spec, output if spec.batch_first else np.swapaxes(output, 0, 1), h_n, c_n)

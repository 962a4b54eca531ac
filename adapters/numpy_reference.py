"""The reference: PyTorch's documented equations in NumPy, computed in the dtype of `x`.

Inference semantics (dropout is a training-time operation and does not apply). One function per
cell, one driver for layers and directions; the weights are in PyTorch's layout, applied as x @ W.T.

Variable lengths follow PyTorch's packed sequences: a row's steps past its length do not exist,
so its state is left as it was and its output there is the padding value 0. Running the reverse
direction from the last step with that rule starts it at each row's last valid step, and h_n/c_n
are each row's state after its last valid step (or h0/c0 for a row of length 0).

Gradients (backpropagation through these functions) are in numpy_gradients; `run` returns them
when the request carries cotangents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .layout import (
    LayerWeights,
    from_time_major,
    layer_weights,
    split_state,
    stack_state,
    to_time_major,
    zero_state,
)
from .request import Request, Tensors, named
from .spec import Spec


def sigmoid(v: np.ndarray) -> np.ndarray:
    one = v.dtype.type(1)  # not 1.0: a Python float promotes ml_dtypes' bfloat16 to float32
    with np.errstate(over="ignore"):  # exp(-v) -> inf for very negative v gives the right 0
        return one / (one + np.exp(-v))


def relu(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, 0)


def affine(v: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    # A bfloat16 matmul returns float32 (ml_dtypes accumulates in float32): rounded back, as a
    # bfloat16 layer stores it. A no-op for NumPy's own dtypes.
    product = (v @ weight.T).astype(v.dtype, copy=False)
    return product if bias is None else product + bias


def rnn_cell(x, h, c, w: LayerWeights, activation: Callable):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)"""
    return activation(affine(x, w.w_ih, w.b_ih) + affine(h, w.w_hh, w.b_hh)), None


def lstm_cell(x, h, c, w: LayerWeights):
    """Gates i, f, g, o; c' = f*c + i*g; h' = o*tanh(c'), projected by W_hr when proj_size > 0."""
    gates = affine(x, w.w_ih, w.b_ih) + affine(h, w.w_hh, w.b_hh)
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    if w.w_hr is not None:  # a matmul of bfloat16 gives float32: rounded back, as in `affine`
        h = (h @ w.w_hr.T).astype(h.dtype, copy=False)
    return h, c


def gru_cell(x, h, c, w: LayerWeights):
    """Gates r, z, n; the reset gate multiplies (W_hn h + b_hn), i.e. it acts after the matmul."""
    x_r, x_z, x_n = np.split(affine(x, w.w_ih, w.b_ih), 3, axis=-1)
    h_r, h_z, h_n = np.split(affine(h, w.w_hh, w.b_hh), 3, axis=-1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, None


def cell_for(spec: Spec) -> Callable:
    if spec.mode == "LSTM":
        return lstm_cell
    if spec.mode == "GRU":
        return gru_cell
    activation = np.tanh if spec.nonlinearity == "tanh" else relu
    return lambda x, h, c, w: rnn_cell(x, h, c, w, activation)


def time_steps(seq_len: int, reverse: bool) -> range:
    """The time indices in the order a direction reads them."""
    return range(seq_len - 1, -1, -1) if reverse else range(seq_len)


def run_direction(
    cell: Callable, xs: np.ndarray, h, c, w: LayerWeights, reverse: bool, valid: np.ndarray
):
    """Run one direction over time-major `xs`; outputs are stored at their own time index.

    `valid[t, n]`: step t exists for row n. Elsewhere the state is kept and the output is 0.
    """
    ys = [None] * len(xs)
    for t in time_steps(len(xs), reverse):
        h_next, c_next = cell(xs[t], h, c, w)
        exists = valid[t][:, None]
        h = np.where(exists, h_next, h)
        c = None if c is None else np.where(exists, c_next, c)
        ys[t] = np.where(exists, h_next, 0)
    return np.stack(ys), h, c


def starting_point(spec: Spec, x: np.ndarray, h0, c0, lengths):
    """Time-major x, the (seq, batch) steps that exist, and each layer's and direction's initial
    h and c (zeros where none is given), in x's dtype."""
    dtype = x.dtype
    xs = to_time_major(x, spec.batch_first)
    seq_len, batch = xs.shape[:2]
    lengths = np.full(batch, seq_len) if lengths is None else np.asarray(lengths)
    valid = np.arange(seq_len)[:, None] < lengths[None, :]
    h0 = zero_state(spec, batch, spec.output_size, dtype) if h0 is None else h0.astype(dtype)
    c0 = zero_state(spec, batch, spec.hidden_size, dtype) if c0 is None else c0.astype(dtype)
    return xs, valid, split_state(spec, h0), split_state(spec, c0)


def forward(
    spec: Spec,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
):
    layer_input, valid, h_init, c_init = starting_point(spec, x, h0, c0, lengths)
    dtype = x.dtype
    cell = cell_for(spec)

    h_n, c_n = [], []
    for layer in range(spec.num_layers):
        outputs, h_last, c_last = [], [], []
        for direction in range(spec.num_directions):
            w = layer_weights(spec, params, layer, direction, dtype)
            c_start = c_init[layer][direction] if spec.has_cell_state else None
            y, h, c = run_direction(
                cell, layer_input, h_init[layer][direction], c_start, w, direction == 1, valid
            )
            outputs.append(y)
            h_last.append(h)
            c_last.append(c)
        layer_input = np.concatenate(outputs, axis=-1)
        h_n.append(h_last)
        c_n.append(c_last)

    output = from_time_major(layer_input, spec.batch_first)
    return output, stack_state(h_n), stack_state(c_n) if spec.has_cell_state else None


def run(request: Request) -> Tensors:
    """Output, h_n, c_n and, when the request carries cotangents, the gradients (grad_*)."""
    r = request
    tensors = named(r.spec, *forward(r.spec, r.params, r.x, r.h0, r.c0, r.lengths))
    if r.cotangents is not None:
        from .numpy_gradients import vjp  # imported here: numpy_gradients builds on this module

        tensors.update(vjp(r.spec, r.params, r.x, r.h0, r.c0, r.lengths, r.cotangents))
    return tensors

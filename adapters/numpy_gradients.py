"""Gradients of the reference: backpropagation through time of PyTorch's documented equations.

`vjp` is the vector-Jacobian product of fixed cotangents for output, h_n and c_n: the gradient of
<cotangents, forward(...)> with respect to x, the initial state (when given) and every parameter,
computed in the dtype of `x`. One backward function per cell, derived from the cell's equations
in numpy_reference, and one driver for layers and directions.

The driver differentiates numpy_reference.run_direction itself: it reruns it, keeping the state
each step started from, and transposes its masking. A step past a row's length passed the state
through unchanged, so the state's cotangent passes through it unchanged too; the output there is
the constant 0, so the output's cotangent there contributes nothing. A row of length 0 therefore
hands the cotangent of its h_n/c_n to h0/c0 as it is, and its x gets gradient 0.

A cell backward takes the step's inputs (x, h, c), the weights and the cotangents (dh', dc') of
the state it produced, and returns (dx, dh, dc, parameter gradients keyed by state_dict kind:
"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"). It recomputes its gates from its
inputs, so that each reads on its own next to the forward cell it differentiates.
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
)
from .numpy_reference import affine, cell_for, run_direction, sigmoid, starting_point, time_steps
from .spec import Spec, param_name

Grads = dict[str, np.ndarray]  # parameter gradients of one layer and direction, by kind


def sigmoid_slope(s: np.ndarray) -> np.ndarray:
    """sigmoid'(a), from s = sigmoid(a)."""
    return s * (1 - s)


def tanh_slope(t: np.ndarray) -> np.ndarray:
    """tanh'(a), from t = tanh(a)."""
    return 1 - t * t


def affine_backward(d_from_x, d_from_h, x, h, w: LayerWeights):
    """Transpose of affine(x, W_ih, b_ih) and affine(h, W_hh, b_hh), given the cotangents of
    their results (the same gates' cotangents, except in the GRU where r scales part of the
    second). Returns (dx, dh, grads); without bias there are no bias gradients."""
    grads = {"weight_ih": d_from_x.T @ x, "weight_hh": d_from_h.T @ h}
    if w.b_ih is not None:
        grads["bias_ih"] = d_from_x.sum(axis=0)
        grads["bias_hh"] = d_from_h.sum(axis=0)
    return d_from_x @ w.w_ih, d_from_h @ w.w_hh, grads


def rnn_cell_backward(x, h, c, w: LayerWeights, dh_new, dc_new, derivative: Callable):
    """h' = act(a), a = x W_ih^T + b_ih + h W_hh^T + b_hh: da = dh' * act'(a)."""
    a = affine(x, w.w_ih, w.b_ih) + affine(h, w.w_hh, w.b_hh)
    da = dh_new * derivative(a)
    dx, dh, grads = affine_backward(da, da, x, h, w)
    return dx, dh, None, grads


def tanh_derivative(a: np.ndarray) -> np.ndarray:
    return tanh_slope(np.tanh(a))


def relu_derivative(a: np.ndarray) -> np.ndarray:
    return (a > 0).astype(a.dtype)  # 0 at a = 0, as PyTorch's relu backward


def lstm_cell_backward(x, h, c, w: LayerWeights, dh_new, dc_new):
    """c' = f*c + i*g; h' = m = o*tanh(c'), or m W_hr^T with a projection."""
    gates = affine(x, w.w_ih, w.b_ih) + affine(h, w.w_hh, w.b_hh)
    a_i, a_f, a_g, a_o = np.split(gates, 4, axis=-1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    tanh_c = np.tanh(f * c + i * g)

    grads = {}
    dm = dh_new
    if w.w_hr is not None:
        grads["weight_hr"] = dh_new.T @ (o * tanh_c)
        dm = dh_new @ w.w_hr
    # c' reaches the loss twice: as itself (the next step's c, or c_n) and through h'
    dc_new = dc_new + dm * o * tanh_slope(tanh_c)
    d_gates = np.concatenate(
        [
            dc_new * g * sigmoid_slope(i),
            dc_new * c * sigmoid_slope(f),
            dc_new * i * tanh_slope(g),
            dm * tanh_c * sigmoid_slope(o),
        ],
        axis=-1,
    )
    dx, dh, gate_grads = affine_backward(d_gates, d_gates, x, h, w)
    return dx, dh, dc_new * f, grads | gate_grads


def gru_cell_backward(x, h, c, w: LayerWeights, dh_new, dc_new):
    """n = tanh(x_n + r*h_n) with h_n = W_hn h + b_hn; h' = (1-z)*n + z*h."""
    x_r, x_z, x_n = np.split(affine(x, w.w_ih, w.b_ih), 3, axis=-1)
    h_r, h_z, h_n = np.split(affine(h, w.w_hh, w.b_hh), 3, axis=-1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)

    da_n = dh_new * (1 - z) * tanh_slope(n)  # cotangent of x_n + r*h_n
    da_z = dh_new * (h - n) * sigmoid_slope(z)
    da_r = da_n * h_n * sigmoid_slope(r)
    d_from_x = np.concatenate([da_r, da_z, da_n], axis=-1)
    d_from_h = np.concatenate([da_r, da_z, da_n * r], axis=-1)  # r scales W_hn h + b_hn
    dx, dh, grads = affine_backward(d_from_x, d_from_h, x, h, w)
    return dx, dh + dh_new * z, None, grads


def cell_backward_for(spec: Spec) -> Callable:
    # Looked up when called, so that a test can plant a mistake in one cell's backward.
    if spec.mode == "LSTM":
        return lstm_cell_backward
    if spec.mode == "GRU":
        return gru_cell_backward
    derivative = tanh_derivative if spec.nonlinearity == "tanh" else relu_derivative
    return lambda x, h, c, w, dh_new, dc_new: rnn_cell_backward(
        x, h, c, w, dh_new, dc_new, derivative
    )


def backward_direction(
    spec: Spec,
    xs: np.ndarray,
    h: np.ndarray,
    c: np.ndarray | None,
    w: LayerWeights,
    reverse: bool,
    valid: np.ndarray,
    d_ys: np.ndarray,
    dh: np.ndarray,
    dc: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Grads]:
    """Backpropagate one direction of one layer, run forward from (h, c) over time-major `xs`.

    `d_ys` is the cotangent of its outputs (time-major), `dh`/`dc` of its final state (dc None
    without a cell state). Returns (d_xs, dh0, dc0, parameter gradients by kind).
    """
    cell, cell_backward = cell_for(spec), cell_backward_for(spec)
    starts = []  # the (h, c) each step started from, in the order the steps ran

    def recording_cell(x_t, h_t, c_t, w_t):
        starts.append((h_t, c_t))
        return cell(x_t, h_t, c_t, w_t)

    run_direction(recording_cell, xs, h, c, w, reverse, valid)

    d_xs = np.zeros_like(xs)
    grads: Grads = {}
    for t, (h_t, c_t) in zip(reversed(time_steps(len(xs), reverse)), reversed(starts)):
        exists = valid[t][:, None]
        # Where the step exists, its output and the state it passes on are the same h'; where it
        # does not, neither depends on it, and a zero cotangent makes its rows contribute 0 (its
        # x is padding, which may hold anything, NaN included: zeroed to keep it out).
        dh_new = np.where(exists, dh + d_ys[t], 0)
        dc_new = None if dc is None else np.where(exists, dc, 0)
        x_t = np.where(exists, xs[t], 0)
        dx, dh_step, dc_step, step_grads = cell_backward(x_t, h_t, c_t, w, dh_new, dc_new)
        d_xs[t] = dx
        dh = np.where(exists, dh_step, dh)  # the state passed through: so does its cotangent
        dc = None if dc is None else np.where(exists, dc_step, dc)
        for kind, g in step_grads.items():
            grads[kind] = grads.get(kind, 0) + g
    return d_xs, dh, dc, grads


def vjp(
    spec: Spec,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    lengths: np.ndarray | None,
    cotangents: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Gradients of sum(cotangents[k] * forward(...)[k]) over k in output, h_n (and c_n).

    Returns grad_x (x's shape and layout), grad_h0/grad_c0 only for a state that was given, and
    grad_<name> for every parameter in `params`, all in x's dtype: `gradient_names` of a request.
    """
    dtype = x.dtype
    xs, valid, h_init, c_init = starting_point(spec, x, h0, c0, lengths)
    batch = xs.shape[1]
    directions = range(spec.num_directions)

    def start(layer: int, d: int):
        """(h, c, weights, reverse): how direction d of the layer starts, as `forward` has it."""
        c = c_init[layer][d] if spec.has_cell_state else None
        return h_init[layer][d], c, layer_weights(spec, params, layer, d, dtype), d == 1

    # The forward pass again, keeping what each layer read: its backward needs it.
    cell = cell_for(spec)
    layer_inputs = [xs]
    for layer in range(spec.num_layers - 1):
        outputs = [
            run_direction(cell, layer_inputs[-1], *start(layer, d), valid)[0] for d in directions
        ]
        layer_inputs.append(np.concatenate(outputs, axis=-1))

    expected = forward_shapes(spec, x, batch)
    cot = {name: checked_cotangent(cotangents, name, shape, dtype) for name, shape in expected}
    d_output = to_time_major(cot["output"], spec.batch_first)
    dh_n = split_state(spec, cot["h_n"])
    dc_n = split_state(spec, cot["c_n"]) if spec.has_cell_state else None

    dh0 = [[None] * spec.num_directions for _ in range(spec.num_layers)]
    dc0 = [[None] * spec.num_directions for _ in range(spec.num_layers)]
    param_grads: dict[str, np.ndarray] = {}
    for layer in reversed(range(spec.num_layers)):
        d_input = np.zeros_like(layer_inputs[layer])
        # each direction wrote its own slice of the layer's output features
        for d, d_ys in zip(directions, np.split(d_output, spec.num_directions, axis=-1)):
            dc = dc_n[layer][d] if spec.has_cell_state else None
            d_xs, dh0[layer][d], dc0[layer][d], grads = backward_direction(
                spec, layer_inputs[layer], *start(layer, d), valid, d_ys, dh_n[layer][d], dc
            )
            d_input += d_xs  # both directions read the same input
            param_grads.update({param_name(k, layer, d): g for k, g in grads.items()})
        d_output = d_input

    result = {"grad_x": from_time_major(d_output, spec.batch_first)}
    if h0 is not None:
        result["grad_h0"] = stack_state(dh0)
    if c0 is not None:
        result["grad_c0"] = stack_state(dc0)
    result.update({f"grad_{name}": param_grads[name] for name in params})
    return result


def forward_shapes(spec: Spec, x: np.ndarray, batch: int) -> list[tuple[str, tuple[int, ...]]]:
    """The names and shapes of the forward tensors, which the cotangents must have."""
    rows = spec.num_layers * spec.num_directions
    output = (*x.shape[:2], spec.num_directions * spec.output_size)  # x's layout
    shapes = [("output", output), ("h_n", (rows, batch, spec.output_size))]
    if spec.has_cell_state:
        shapes.append(("c_n", (rows, batch, spec.hidden_size)))
    return shapes


def checked_cotangent(
    cotangents: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    if name not in cotangents:
        raise ValueError(f"cotangents has no {name!r}: it needs one per forward tensor")
    value = np.asarray(cotangents[name], dtype=dtype)
    if value.shape != shape:
        raise ValueError(f"cotangents[{name!r}] has shape {value.shape}, expected {shape}")
    return value

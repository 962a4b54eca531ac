"""What the JAX-based adapters share: dtype support and 64-bit mode for one call."""

from __future__ import annotations

import contextlib

import jax
import numpy as np


def precision_scope(dtype: np.dtype):
    """float64 needs JAX's x64 mode; it is switched on for this call only, never globally."""
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()


def jitted_layer_vjp(layer_forward):
    """jit of (cells, x, initial, seq_lengths, cotangents) -> (grad_cells, grad_x, grad_initial),
    the VJP of `layer_forward(cells, x, initial, seq_lengths) -> (outputs, finals)` (one layer,
    all its directions) with respect to its cells' param trees, its input and its initial state.

    One program per layer structure: jit keys its cache on the shapes and dtypes of the arguments
    and on which of `initial` / `seq_lengths` are None, so cases whose layers have the same
    structure share it, whatever stack they belong to.
    """

    def call(cells, x, initial, seq_lengths, cotangents):
        def of_inputs(cells, x, initial):
            return layer_forward(cells, x, initial, seq_lengths)

        _, pullback = jax.vjp(of_inputs, cells, x, initial)
        return pullback(cotangents)

    return jax.jit(call)


def stacked_gradients(spec, x, h0, c0, cotangents, forward, vjp):
    """The VJP of a stack of layers, chained in Python one layer at a time.

    x is batch-major (N, T, F); h0 / c0 are (L*D, N, F) arrays, or both None for the framework's
    own zero default (with any state given, the caller passes both, zeros for the missing one; c0
    is None without a cell state). cotangents are (output (N, T, D*F) batch-major, h_n, c_n or
    None) in PyTorch's layer-major state rows.

    `forward(layer, inputs, initial)` runs one layer as layout.run_stacked's run_layer does: it
    returns (outputs, finals), `initial` and `finals` being a list of (h, c or None) per
    direction. `vjp(layer, inputs, initial, (output cotangent, final cotangents))` returns
    (grad_cells, grad_inputs, grad_initial) for that layer (see jitted_layer_vjp).

    The forward pass keeps each layer's input; the backward pass goes through the layers in
    reverse, the output cotangent of a layer being the input gradient of the layer above it and
    its final states' cotangents the h_n / c_n rows of that layer (layer * D + d).
    Returns ((output, h_n, c_n or None), (grad_x, grad_h0, grad_c0, grad_cells)): states and
    grad_h0 / grad_c0 stacked as NumPy arrays (the gradients None where no state was given),
    grad_cells[layer] as `vjp` returns it.
    """
    directions = spec.num_directions

    def rows(layer):
        return [layer * directions + d for d in range(directions)]

    inputs, initials, finals = [x], [], []
    for layer in range(spec.num_layers):
        initial = None
        if h0 is not None:
            initial = [(h0[r], None if c0 is None else c0[r]) for r in rows(layer)]
        outputs, layer_finals = forward(layer, inputs[-1], initial)
        inputs.append(outputs)
        initials.append(initial)
        finals.extend(layer_finals)

    cotangent, h_n_cotangent, c_n_cotangent = cotangents
    grad_cells, grad_initial = [None] * spec.num_layers, [None] * len(finals)
    for layer in reversed(range(spec.num_layers)):
        final_cotangents = [
            (h_n_cotangent[r], None if c_n_cotangent is None else c_n_cotangent[r])
            for r in rows(layer)
        ]
        grad_cells[layer], cotangent, initial_grads = vjp(
            layer, inputs[layer], initials[layer], (cotangent, final_cotangents)
        )
        if initial_grads is not None:
            for r, grads in zip(rows(layer), initial_grads):
                grad_initial[r] = grads

    def stacked(arrays):
        return None if arrays[0] is None else np.stack([np.asarray(a) for a in arrays])

    h_n, c_n = stacked([h for h, _ in finals]), stacked([c for _, c in finals])
    grad_h0 = grad_c0 = None
    if h0 is not None:
        grad_h0, grad_c0 = (stacked([g[i] for g in grad_initial]) for i in (0, 1))
    return (inputs[-1], h_n, c_n), (cotangent, grad_h0, grad_c0, grad_cells)

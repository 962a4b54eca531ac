"""`flax-nnx` and `flax-nnx-optimized`: the same Flax layers through the NNX API.

Parameters are named as NNX names them. LSTMCell keeps one Linear per gate like linen (`if_` for
the forget gate's input kernel); OptimizedLSTMCell, GRUCell and SimpleCell fuse the gates into
dense_i / dense_h in PyTorch's gate order. NNX's GRUCell has no hidden-side bias, so b_hn has no
place (flax#5594): a ported GRU with bias differs, declared in conformance/divergences.py. Should a
later Flax add it (as `hn_bias`, google/flax#5595), it is filled here and the divergence ends.

Gradients: as in flax_adapter, jax.vjp of each layer, jit-compiled per layer structure and
chained in Python, each cell's values a plain tree (put into a copy of the layer's module merged
inside the traced function), mapped back by transposing nnx_cell_params.
Without a place for b_hn, GRU's grad_bias_hh has 0 for its n part (the output does not depend on
it).
"""

from __future__ import annotations

from functools import cache, lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .flax_adapter import (
    final_states,
    initial_carry,
    layer_structure,
    layer_tree,
    linen_cell_gradients,
    linen_cell_params,
    run_gradients,
    seq_lengths,
)
from .jax_common import jitted_layer_vjp, precision_scope
from .layout import LayerWeights, gate_blocks, layer_weights, run_stacked
from .request import Request, Tensors
from .spec import Spec

LSTM_CELLS = {"flax-nnx": nnx.LSTMCell, "flax-nnx-optimized": nnx.OptimizedLSTMCell}


def nnx_cell_params(name: str, spec: Spec, w: LayerWeights, cell) -> dict:
    """{attribute: value} for the cell, PyTorch weights in NNX's (in, out) layout."""
    if spec.mode == "LSTM" and name == "flax-nnx":
        per_gate = linen_cell_params(spec, w)  # same per-gate layout as linen
        per_gate["if_"] = per_gate.pop("if")  # `if` is a Python keyword
        return per_gate
    if spec.mode == "GRU":
        r, z, n = gate_blocks("GRU", w).values()
        params = {
            "dense_i": {
                "kernel": w.w_ih.T,
                "bias": np.concatenate([r.folded_bias, z.folded_bias, n.input_bias]),
            },
            "dense_h": {"kernel": w.w_hh.T},
        }
        if n.b_hh is not None and hasattr(cell, "hn_bias"):
            params["hn_bias"] = n.b_hh
        return params
    # OptimizedLSTMCell (gates i, f, g, o fused) and SimpleCell: input side without bias for the
    # LSTM, with it for the simple cell; either way one folded bias.
    if spec.mode == "LSTM":
        return {
            "dense_i": {"kernel": w.w_ih.T},
            "dense_h": {"kernel": w.w_hh.T, "bias": w.folded_bias},
        }
    return {"dense_i": {"kernel": w.w_ih.T, "bias": w.folded_bias}, "dense_h": {"kernel": w.w_hh.T}}


def nnx_cell_gradients(name: str, spec: Spec, grads: dict) -> tuple:
    """The transpose of nnx_cell_params: (weight_ih, weight_hh, bias_ih, bias_hh) gradients in
    PyTorch's layout from the gradient of a cell's tree."""
    if spec.mode == "LSTM" and name == "flax-nnx":
        per_gate = dict(grads)
        per_gate["if"] = per_gate.pop("if_")
        return linen_cell_gradients(spec, per_gate)
    w_ih = np.asarray(grads["dense_i"]["kernel"]).T
    w_hh = np.asarray(grads["dense_h"]["kernel"]).T
    if spec.mode == "GRU":
        b_i = np.asarray(grads["dense_i"]["bias"])  # r, z folded; n is b_in alone
        b_hn = grads.get("hn_bias")
        b_hn = np.zeros(spec.hidden_size, b_i.dtype) if b_hn is None else np.asarray(b_hn)
        return w_ih, w_hh, b_i, np.concatenate([b_i[: 2 * spec.hidden_size], b_hn])
    folded = grads["dense_h" if spec.mode == "LSTM" else "dense_i"]["bias"]
    return w_ih, w_hh, np.asarray(folded), np.asarray(folded)


# Every parameter is assigned before any call, so the cells are created with zeros: the default
# random initializers would compile programs for each new shape and dtype, seconds each, for
# values never used.
UNUSED_INIT = dict(
    kernel_init=nnx.initializers.zeros,
    recurrent_kernel_init=nnx.initializers.zeros,
    bias_init=nnx.initializers.zeros,
)


def make_cell(name: str, spec: Spec, dtype):
    common = dict(
        in_features=spec.input_size,
        hidden_features=spec.hidden_size,
        dtype=dtype,
        param_dtype=dtype,
        rngs=nnx.Rngs(0),
        **UNUSED_INIT,
    )
    if spec.mode == "LSTM":
        return LSTM_CELLS[name](**common)
    if spec.mode == "GRU":
        return nnx.GRUCell(**common)
    activation = nnx.relu if spec.nonlinearity == "relu" else jnp.tanh
    return nnx.SimpleCell(activation_fn=activation, **common)


@lru_cache(maxsize=256)
def compiled_layer(name: str, spec: Spec, dtype_name: str):
    """A module for one layer and a jitted call of it; cases with the same structure share both."""
    dtype = jnp.dtype(dtype_name)
    if spec.bidirectional:
        cells = [make_cell(name, spec, dtype), make_cell(name, spec, dtype)]
        model = nnx.Bidirectional(nnx.RNN(cells[0]), nnx.RNN(cells[1]), return_carry=True)
    else:
        cells = [make_cell(name, spec, dtype)]
        model = nnx.RNN(cells[0], return_carry=True)
    graphdef, _ = nnx.split(model)

    @jax.jit
    def apply(state, x, carry, seq_lengths):
        return nnx.merge(graphdef, state)(x, initial_carry=carry, seq_lengths=seq_lengths)

    return model, cells, apply


def assign(module, tree: dict) -> None:
    for attribute, value in tree.items():
        target = getattr(module, attribute)
        if isinstance(value, dict):
            assign(target, value)
        else:
            target.value = jnp.asarray(value)


def run_with(name: str, request: Request) -> Tensors:
    spec, params, dtype = request.spec, request.params, request.dtype
    lengths = seq_lengths(request)

    @cache
    def cells(layer: int) -> list[dict]:
        _, cells, _ = compiled_layer(name, layer_structure(spec, layer), str(dtype))
        return [
            nnx_cell_params(name, spec, layer_weights(spec, params, layer, d, dtype), cell)
            for d, cell in enumerate(cells)
        ]

    def run_layer(layer, inputs, initial):
        model, _, apply = compiled_layer(name, layer_structure(spec, layer), str(dtype))
        assign(model, layer_tree(spec, cells(layer)))
        final, outputs = apply(nnx.state(model), inputs, initial_carry(spec, initial), lengths)
        return outputs, final_states(spec, final)

    def layer_vjp(layer, inputs, initial, cotangents):
        vjp = compiled_layer_vjp(name, layer_structure(spec, layer), str(dtype))
        return vjp(cells(layer), inputs, initial, lengths, cotangents)

    with precision_scope(dtype):
        if request.cotangents is not None:
            cell_gradients = partial(nnx_cell_gradients, name)
            return run_gradients(request, run_layer, layer_vjp, cell_gradients)
        return run_stacked(request, run_layer)


@lru_cache(maxsize=256)
def compiled_layer_vjp(name: str, spec: Spec, dtype_name: str):
    """The jitted VJP of one layer (see jitted_layer_vjp) of its cells' trees, one per
    direction; cached, so cases whose layers have the same structure compile it once."""
    model, _, _ = compiled_layer(name, spec, dtype_name)
    graphdef, state = nnx.split(model)

    def forward(cells, x, initial, lengths):
        # copy: fresh variables in this trace, so neither the values put in nor the call's
        # update of the RNN's rng count reach the cached module
        layer = nnx.merge(graphdef, state, copy=True)
        assign(layer, layer_tree(spec, cells))
        final, outputs = layer(x, initial_carry=initial_carry(spec, initial), seq_lengths=lengths)
        return outputs, final_states(spec, final)

    return jitted_layer_vjp(forward)


def run(request: Request) -> Tensors:
    return run_with("flax-nnx", request)


def run_optimized(request: Request) -> Tensors:
    return run_with("flax-nnx-optimized", request)

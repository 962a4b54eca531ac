"""`flax-nnx` and `flax-nnx-optimized`: the same Flax layers through the NNX API.

Parameters are named as NNX names them. LSTMCell keeps one Linear per gate like linen (`if_` for
the forget gate's input kernel); OptimizedLSTMCell, GRUCell and SimpleCell fuse the gates into
dense_i / dense_h in PyTorch's gate order. NNX's GRUCell has no hidden-side bias, so b_hn has no
place (flax#5594): a ported GRU with bias differs, declared in conformance/divergences.py. Should a
later Flax add it (as `hn_bias`, google/flax#5595), it is filled here and the divergence ends.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .flax_adapter import final_states, initial_carry, linen_cell_params, seq_lengths
from .jax_common import precision_scope
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


def make_cell(name: str, spec: Spec, dtype):
    common = dict(
        in_features=spec.input_size,
        hidden_features=spec.hidden_size,
        dtype=dtype,
        param_dtype=dtype,
        rngs=nnx.Rngs(0),
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

    def run_layer(layer, inputs, initial):
        structure = replace(spec.one_layer(layer), bias=True)  # bias=False is zeros: same program
        model, cells, apply = compiled_layer(name, structure, str(dtype))
        for d, cell in enumerate(cells):
            w = layer_weights(spec, params, layer, d, dtype)
            assign(cell, nnx_cell_params(name, spec, w, cell))
        final, outputs = apply(nnx.state(model), inputs, initial_carry(spec, initial), lengths)
        return outputs, final_states(spec, final)

    with precision_scope(dtype):
        return run_stacked(request, run_layer)


def run(request: Request) -> Tensors:
    return run_with("flax-nnx", request)


def run_optimized(request: Request) -> Tensors:
    return run_with("flax-nnx-optimized", request)

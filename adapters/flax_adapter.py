"""`flax` and `flax-optimized`: Flax linen, nn.RNN over a cell, nn.Bidirectional, one per layer.

linen cells keep one Dense per gate in (in, out) layout. LSTMCell / OptimizedLSTMCell: input
kernels without bias, hidden kernels with bias, so b_ih + b_hh is folded into the hidden bias.
GRUCell keeps PyTorch's reset-after form: ir/iz biases get b_i + b_h, `in` gets b_in and `hn` b_hn.
SimpleCell: one bias (b_ih + b_hh); relu through activation_fn. Flax cells have no bias switch:
bias=False is expressed exactly by zero biases. No projection: proj_size cannot be expressed
(declared in the registry). Variable lengths are nn.RNN's own `seq_lengths`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp

from .jax_common import precision_scope
from .layout import LayerWeights, gate_blocks, layer_weights, run_stacked
from .request import Request, Tensors
from .spec import Spec

LSTM_CELLS = {"flax": nn.LSTMCell, "flax-optimized": nn.OptimizedLSTMCell}


def linen_cell_params(spec: Spec, w: LayerWeights) -> dict:
    """The cell's parameter tree, named as linen names its Dense layers."""
    gates = gate_blocks(spec.mode, w)
    if spec.mode == "LSTM":
        params = {}
        for gate, block in gates.items():
            params[f"i{gate}"] = {"kernel": block.w_ih.T}
            params[f"h{gate}"] = {"kernel": block.w_hh.T, "bias": block.folded_bias}
        return params
    if spec.mode == "GRU":
        r, z, n = gates["r"], gates["z"], gates["n"]
        return {
            "ir": {"kernel": r.w_ih.T, "bias": r.folded_bias},
            "iz": {"kernel": z.w_ih.T, "bias": z.folded_bias},
            "in": {"kernel": n.w_ih.T, "bias": n.input_bias},
            "hr": {"kernel": r.w_hh.T},
            "hz": {"kernel": z.w_hh.T},
            "hn": {"kernel": n.w_hh.T, "bias": n.recurrent_bias},
        }
    return {"i": {"kernel": w.w_ih.T, "bias": w.folded_bias}, "h": {"kernel": w.w_hh.T}}


def make_cell(name: str, spec: Spec, dtype):
    common = dict(features=spec.hidden_size, dtype=dtype, param_dtype=dtype)
    if spec.mode == "LSTM":
        return LSTM_CELLS[name](**common)
    if spec.mode == "GRU":
        return nn.GRUCell(**common)
    activation = nn.relu if spec.nonlinearity == "relu" else jnp.tanh
    return nn.SimpleCell(activation_fn=activation, **common)


@lru_cache(maxsize=256)
def compiled_layer(name: str, spec: Spec, dtype_name: str):
    """A jitted apply for one layer; cached so cases with the same structure compile once."""
    dtype = jnp.dtype(dtype_name)
    if spec.bidirectional:
        module = nn.Bidirectional(
            nn.RNN(make_cell(name, spec, dtype)),
            nn.RNN(make_cell(name, spec, dtype)),
            return_carry=True,
        )
    else:
        module = nn.RNN(make_cell(name, spec, dtype), return_carry=True)

    def apply(params, x, carry, seq_lengths):
        return module.apply({"params": params}, x, initial_carry=carry, seq_lengths=seq_lengths)

    return jax.jit(apply)


def seq_lengths(request: Request):
    return None if request.lengths is None else jnp.asarray(request.lengths, dtype=jnp.int32)


def initial_carry(spec: Spec, initial):
    """Flax's carry for one layer: (c, h) per direction for LSTM cells, h otherwise; a pair for
    Bidirectional; None leaves the cells' own zero default."""
    if initial is None:
        return None
    carries = [(c, h) if spec.has_cell_state else h for h, c in initial]
    return tuple(carries) if spec.bidirectional else carries[0]


def final_states(spec: Spec, final) -> list[tuple]:
    """(h, c) per direction from Flax's final carry."""
    finals = final if spec.bidirectional else (final,)
    return [(f[1], f[0]) if spec.has_cell_state else (f, None) for f in finals]


def run_with(name: str, request: Request) -> Tensors:
    spec, params, dtype = request.spec, request.params, request.dtype
    lengths = seq_lengths(request)

    def run_layer(layer, inputs, initial):
        structure = replace(spec.one_layer(layer), bias=True)  # bias=False is zeros: same program
        apply = compiled_layer(name, structure, str(dtype))
        cells = [
            linen_cell_params(spec, layer_weights(spec, params, layer, d, dtype))
            for d in range(spec.num_directions)
        ]
        if spec.bidirectional:
            tree = {"forward_rnn": {"cell": cells[0]}, "backward_rnn": {"cell": cells[1]}}
        else:
            tree = {"cell": cells[0]}
        final, outputs = apply(tree, inputs, initial_carry(spec, initial), lengths)
        return outputs, final_states(spec, final)

    with precision_scope(dtype):
        return run_stacked(request, run_layer)


def run(request: Request) -> Tensors:
    return run_with("flax", request)


def run_optimized(request: Request) -> Tensors:
    return run_with("flax-optimized", request)

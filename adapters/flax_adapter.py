"""`flax` and `flax-optimized`: Flax linen, nn.RNN over a cell, nn.Bidirectional, one per layer.

linen cells keep one Dense per gate in (in, out) layout. LSTMCell / OptimizedLSTMCell: input
kernels without bias, hidden kernels with bias, so b_ih + b_hh is folded into the hidden bias.
GRUCell keeps PyTorch's reset-after form: ir/iz biases get b_i + b_h, `in` gets b_in and `hn` b_hn.
SimpleCell: one bias (b_ih + b_hh); relu through activation_fn. Flax cells have no bias switch:
bias=False is expressed exactly by zero biases. No projection: proj_size cannot be expressed
(declared in the registry). Variable lengths are nn.RNN's own `seq_lengths`.

Gradients: jax.vjp of each layer (all its directions) as a pure function of (its cells' param
trees, its input, its initial state), jit-compiled per layer structure and cached, so the cases
share the programs of their layers; the layers are chained in Python (the forward pass with the
same per-layer programs as without cotangents, then the VJPs in reverse:
jax_common.stacked_gradients). Each gradient tree goes back to the canonical layout by
transposing the translation: kernels transposed, gates concatenated in PyTorch's order, and a
folded bias's gradient is the gradient of both b_ih and b_hh.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .jax_common import jitted_layer_vjp, precision_scope, stacked_gradients
from .layout import TORCH_GATE_ORDER, LayerWeights, gate_blocks, layer_weights, run_stacked
from .request import Request, Tensors, given_state_gradients, named
from .spec import Spec, param_name

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


def linen_cell_gradients(spec: Spec, grads: dict) -> tuple:
    """The transpose of linen_cell_params: (weight_ih, weight_hh, bias_ih, bias_hh) gradients in
    PyTorch's layout from the gradient of a cell's tree."""

    def cat(parts):
        return np.concatenate([np.asarray(p) for p in parts])

    if spec.mode == "LSTM":
        gates = TORCH_GATE_ORDER["LSTM"]
        bias = cat(grads[f"h{g}"]["bias"] for g in gates)  # folded: d(b_ih + b_hh) for each
        return (
            cat(grads[f"i{g}"]["kernel"].T for g in gates),
            cat(grads[f"h{g}"]["kernel"].T for g in gates),
            bias,
            bias,
        )
    if spec.mode == "GRU":
        return (
            cat(grads[f"i{g}"]["kernel"].T for g in "rzn"),
            cat(grads[f"h{g}"]["kernel"].T for g in "rzn"),
            cat([grads["ir"]["bias"], grads["iz"]["bias"], grads["in"]["bias"]]),
            cat([grads["ir"]["bias"], grads["iz"]["bias"], grads["hn"]["bias"]]),
        )
    bias = np.asarray(grads["i"]["bias"])
    return np.asarray(grads["i"]["kernel"].T), np.asarray(grads["h"]["kernel"].T), bias, bias


@lru_cache(maxsize=256)
def layer_module(name: str, spec: Spec, dtype_name: str):
    """The linen module of one layer (nn.RNN, or nn.Bidirectional of two)."""
    dtype = jnp.dtype(dtype_name)
    if spec.bidirectional:
        return nn.Bidirectional(
            nn.RNN(make_cell(name, spec, dtype)),
            nn.RNN(make_cell(name, spec, dtype)),
            return_carry=True,
        )
    return nn.RNN(make_cell(name, spec, dtype), return_carry=True)


def layer_tree(spec: Spec, cells: list) -> dict:
    """One layer's param tree from its cells' trees, one per direction."""
    if spec.bidirectional:
        return {"forward_rnn": {"cell": cells[0]}, "backward_rnn": {"cell": cells[1]}}
    return {"cell": cells[0]}


@lru_cache(maxsize=256)
def compiled_layer(name: str, spec: Spec, dtype_name: str):
    """A jitted apply for one layer; cached so cases with the same structure compile once."""
    module = layer_module(name, spec, dtype_name)

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

    @cache
    def cells(layer: int) -> list[dict]:
        return cell_trees(spec, params, layer, dtype)

    def run_layer(layer, inputs, initial):
        apply = compiled_layer(name, layer_structure(spec, layer), str(dtype))
        final, outputs = apply(
            layer_tree(spec, cells(layer)), inputs, initial_carry(spec, initial), lengths
        )
        return outputs, final_states(spec, final)

    def layer_vjp(layer, inputs, initial, cotangents):
        vjp = compiled_layer_vjp(name, layer_structure(spec, layer), str(dtype))
        return vjp(cells(layer), inputs, initial, lengths, cotangents)

    with precision_scope(dtype):
        if request.cotangents is not None:
            return run_gradients(request, run_layer, layer_vjp, linen_cell_gradients)
        return run_stacked(request, run_layer)


def layer_structure(spec: Spec, layer: int) -> Spec:
    """What decides a layer's compiled program: bias=False is zeros, so it is the same one."""
    return replace(spec.one_layer(layer), bias=True)


def cell_trees(spec: Spec, params, layer: int, dtype) -> list[dict]:
    return [
        linen_cell_params(spec, layer_weights(spec, params, layer, d, dtype))
        for d in range(spec.num_directions)
    ]


@lru_cache(maxsize=256)
def compiled_layer_vjp(name: str, spec: Spec, dtype_name: str):
    """The jitted VJP of one layer (see jitted_layer_vjp) of its cells' trees, one per
    direction; cached, so cases whose layers have the same structure compile it once."""
    module = layer_module(name, spec, dtype_name)

    def forward(cells, x, initial, lengths):
        final, outputs = module.apply(
            {"params": layer_tree(spec, cells)},
            x,
            initial_carry=initial_carry(spec, initial),
            seq_lengths=lengths,
        )
        return outputs, final_states(spec, final)

    return jitted_layer_vjp(forward)


def run_gradients(request: Request, run_layer, layer_vjp, cell_gradients) -> Tensors:
    """Forward tensors and gradients, one layer at a time (jax_common.stacked_gradients):
    `run_layer` as for run_stacked, `layer_vjp(layer, inputs, initial, cotangents)` the layer's
    VJP of its cells' param trees (one per direction); `cell_gradients(spec, tree)` maps one
    cell's gradient tree to the canonical (weight_ih, weight_hh, bias_ih, bias_hh) gradients."""
    spec, dtype, cotangents = request.spec, request.dtype, request.cotangents
    rows, batch = spec.num_layers * spec.num_directions, request.batch
    h0 = c0 = None
    if request.h0 is not None or request.c0 is not None:  # both given to the function
        h0 = request.h0 if request.h0 is not None else np.zeros((rows, batch, spec.output_size))
        h0 = np.asarray(h0, dtype)
        if spec.has_cell_state:
            c0 = request.c0 if request.c0 is not None else np.zeros((rows, batch, spec.hidden_size))
            c0 = np.asarray(c0, dtype)
    output_cotangent = cotangents["output"]
    if not spec.batch_first:
        output_cotangent = np.swapaxes(output_cotangent, 0, 1)
    if request.lengths is not None:  # steps past a row's length do not exist: no cotangent
        output_cotangent = output_cotangent * request.valid_steps().T[:, :, None]
    co = (
        np.ascontiguousarray(output_cotangent, dtype),
        np.asarray(cotangents["h_n"], dtype),
        np.asarray(cotangents["c_n"], dtype) if spec.has_cell_state else None,
    )
    x = np.ascontiguousarray(request.batch_major_x(), dtype)
    (output, h_n, c_n), (grad_x, grad_h0, grad_c0, grad_cells) = stacked_gradients(
        spec, x, h0, c0, co, run_layer, layer_vjp
    )

    def time_layout(a):
        a = np.asarray(a)
        return a if spec.batch_first else np.swapaxes(a, 0, 1)

    tensors = named(spec, time_layout(output), h_n, c_n)
    tensors["grad_x"] = time_layout(grad_x)
    tensors |= given_state_gradients(request, grad_h0, grad_c0)
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[: 4 if spec.bias else 2]
    for layer in range(spec.num_layers):
        for d in range(spec.num_directions):
            grads = jax.device_get(grad_cells[layer][d])  # NumPy: no eager JAX op compiles
            for kind, grad in zip(kinds, cell_gradients(spec, grads)):
                tensors[f"grad_{param_name(kind, layer, d)}"] = grad
    return tensors


def run(request: Request) -> Tensors:
    return run_with("flax", request)


def run_optimized(request: Request) -> Tensors:
    return run_with("flax-optimized", request)

"""Keras 3 layers, in this process, on one backend: SimpleRNN / LSTM / GRU(reset_after=True).

Keras has no num_layers, batch_first or proj_size: layers are stacked with return_sequences,
two directions use Bidirectional(merge_mode="concat"), time-major inputs are transposed, and
proj_size > 0 cannot be expressed (no Keras recurrent layer projects its hidden state; declared in
the registry). Variable lengths are Keras's own masking: a boolean (batch, time) mask passed to
every layer's call. A request's `input_dropout` and `recurrent_dropout` are every stacked
layer's `dropout` and `recurrent_dropout` (seeded with `request.seed`); PyTorch's between-layer
`dropout` is a keras.layers.Dropout before every layer after the first, as a porter writes it;
and `training` is passed to each layer's call. The backend is fixed per process by
KERAS_BACKEND; `keras_backends.py` decides where each backend runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

from .layout import (
    TORCH_GATE_ORDER,
    LayerWeights,
    layer_weights,
    reorder_gates,
    run_stacked,
)
from .request import Request, Tensors, named
from .spec import Spec, param_name

GRU_GATE_ORDER = "zrn"  # Keras: update, reset, candidate


def import_keras(backend: str):
    """Keras on `backend`; refuses, never falls back, if this process already chose another."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if keras.backend.backend() != backend:
        raise ImportError(
            f"Keras on {backend} was asked for, but keras was already imported with the "
            f"{keras.backend.backend()!r} backend in this process (KERAS_BACKEND)"
        )
    return keras


def keras_weights(spec: Spec, w: LayerWeights) -> list[np.ndarray]:
    """[kernel (in, G*H), recurrent_kernel (H, G*H), bias] as the Keras cell stores them."""
    if spec.mode == "GRU":

        def keras_order(a):
            return reorder_gates(a, "GRU", GRU_GATE_ORDER)

        weights = [keras_order(w.w_ih).T, keras_order(w.w_hh).T]
        if spec.bias:  # reset_after=True keeps two biases: row 0 input, row 1 recurrent
            weights.append(np.stack([keras_order(w.b_ih), keras_order(w.b_hh)]))
        return weights
    # SimpleRNN and LSTM (gates i, f, c, o as in PyTorch) keep one bias: b_ih + b_hh.
    return [w.w_ih.T, w.w_hh.T] + ([w.folded_bias] if spec.bias else [])


@dataclass(frozen=True)
class Dropout:
    """A Keras layer's dropout arguments: part of a built layer's cache key."""

    rate: float = 0.0  # Keras `dropout`, on the layer's input
    recurrent: float = 0.0  # Keras `recurrent_dropout`, on the state in the recurrent product
    seed: int = 0

    @classmethod
    def of(cls, request: Request) -> Dropout:
        return cls(request.input_dropout, request.recurrent_dropout, request.seed)


def make_layer(keras, spec: Spec, dtype: str, dropout: Dropout = Dropout()):
    common = dict(
        units=spec.hidden_size,
        use_bias=spec.bias,
        return_sequences=True,
        return_state=True,
        dtype=dtype,
        dropout=dropout.rate,
        recurrent_dropout=dropout.recurrent,
        seed=dropout.seed,
    )
    # The initial weights are replaced by the case's before any call, and Keras's defaults stay
    # as a porter writes them: on PyTorch set_weights copies into the initial tensors in place,
    # keeping their memory layout (orthogonal leaves SimpleRNN's recurrent kernel transposed),
    # and the layout decides how a float32 product rounds (docs/CONVENTIONS.md, "Keras's
    # initial weights").
    if dtype in ("float16", "bfloat16"):
        # orthogonal takes a QR decomposition, which no backend computes in half precision on
        # the CPU (docs/findings/keras-orthogonal-initializer-half.md): no layer could be built.
        common["recurrent_initializer"] = "zeros"
    if keras.backend.backend() == "jax":
        # set_weights binds each variable to a new array, keeping nothing of the initial one,
        # and the random initializers (glorot_uniform; orthogonal's normal and QR) compile
        # programs per weight shape for values never used (docs/PERFORMANCE.md, "What a run
        # with an empty cache compiles").
        common.update(kernel_initializer="zeros", recurrent_initializer="zeros")
    if spec.mode == "RNN":
        layer = keras.layers.SimpleRNN(activation=spec.nonlinearity, **common)
    elif spec.mode == "LSTM":
        layer = keras.layers.LSTM(
            activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=False, **common
        )
    else:
        layer = keras.layers.GRU(
            activation="tanh", recurrent_activation="sigmoid", reset_after=True, **common
        )
    if spec.bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode="concat", dtype=dtype)
    return layer


def between_layers_dropout(keras, spec: Spec, dtype: str, seed: int, index: int):
    """PyTorch's between-layer dropout as a porter writes it in Keras: a keras.layers.Dropout
    on the input of every stacked layer after the first (a fresh mask per element and step);
    None where there is none."""
    if index == 0 or spec.dropout == 0:
        return None
    return keras.layers.Dropout(spec.dropout, seed=seed + index, dtype=dtype)


def direction_cells(layer, spec: Spec):
    if spec.bidirectional:
        return [layer.forward_layer.cell, layer.backward_layer.cell]
    return [layer.cell]


def precision_scope(backend: str, dtype: str):
    """Keras on JAX computes float64 only in JAX's x64 mode: on for this call, not globally."""
    if backend != "jax":
        return contextlib.nullcontext()
    from .jax_common import precision_scope as jax_precision_scope  # imports jax: JAX only

    return jax_precision_scope(np.dtype(dtype))


def run(backend: str, request: Request) -> Tensors:
    dtype = str(request.dtype)
    keras = import_keras(backend)
    if request.cotangents is not None and (request.training or Dropout.of(request) != Dropout()):
        raise NotImplementedError("the keras adapter computes gradients in inference mode only")
    with precision_scope(backend, dtype):
        if request.cotangents is not None:
            return _run_with_gradients(keras, request)
        return _run_layers(keras, request)


@lru_cache(maxsize=256)
def built_layer(
    backend: str,
    layer_spec: Spec,
    dtype: str,
    input_shape: tuple,
    dropout: Dropout = Dropout(),
    training: bool = False,
):
    """A built Keras layer for one stacked layer, and how to call it; cached by structure.

    As Keras itself runs models in model.predict and fit: on TensorFlow the call is a
    tf.function (traced once per structure; the weights are variables it reads, so new weights
    need no retracing), on JAX it is jitted through `stateless_call` (eager JAX would recompile
    the time loop on every call). PyTorch runs eagerly, as Keras runs it.
    """
    keras = import_keras(backend)
    layer = make_layer(keras, layer_spec, dtype, dropout)
    layer.build(input_shape)
    if backend == "torch":
        return layer, lambda x, initial_state, mask: layer(
            x, initial_state=initial_state, mask=mask, training=training
        )
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def graph(x, initial_state, mask):
            return layer(x, initial_state=initial_state, mask=mask, training=training)

        return layer, graph

    import jax

    @jax.jit
    def stateless(trainable, non_trainable, x, initial_state, mask):
        outputs, _ = layer.stateless_call(
            trainable, non_trainable, x, initial_state=initial_state, mask=mask, training=training
        )
        return outputs

    def call(x, initial_state, mask):
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        return stateless(trainable, non_trainable, x, initial_state, mask)

    return layer, call


def _run_layers(keras, request: Request) -> Tensors:
    spec, params = request.spec, request.params
    dtype = str(request.dtype)
    backend = keras.backend.backend()
    mask = None if request.lengths is None else np.ascontiguousarray(request.valid_steps().T)

    def run_layer(layer_index, inputs, initial):
        dropout = between_layers_dropout(keras, spec, dtype, request.seed, layer_index)
        if dropout is not None:
            inputs = dropout(inputs, training=request.training)
        layer, call = built_layer(
            backend,
            spec.one_layer(layer_index),
            dtype,
            tuple(inputs.shape),
            Dropout.of(request),
            request.training,
        )
        for direction, cell in enumerate(direction_cells(layer, spec)):
            w = layer_weights(spec, params, layer_index, direction, request.dtype)
            cell.set_weights(keras_weights(spec, w))
        initial_state = None
        if initial is not None:  # Keras: [h, c] per direction, forward first
            initial_state = [
                a for h, c in initial for a in ((h, c) if spec.has_cell_state else (h,))
            ]
        output, *states = call(inputs, initial_state, mask)
        n = len(states) // spec.num_directions  # (h,) or (h, c) per direction
        groups = [states[d * n : (d + 1) * n] for d in range(spec.num_directions)]
        return output, [(g[0], g[1] if spec.has_cell_state else None) for g in groups]

    return run_stacked(request, run_layer, keras.ops.convert_to_numpy)


# Gradients: functions of (x, given initial states, every layer's weights) through
# `layer.stateless_call`, differentiated by the backend's own autodiff: the whole stack at once
# by tf.GradientTape and torch.autograd, layer by layer by a jitted jax.vjp (`layer_vjp`). The
# weights are explicit inputs, not variables, so a cached layer shared by two layers of the same
# structure is no trap, and nothing is written into variables.


def from_keras_gate_order(array: np.ndarray, mode: str, axis: int = 0) -> np.ndarray:
    """Inverse of reorder_gates(array, mode, GRU_GATE_ORDER): Keras z, r, n back to r, z, n."""
    if mode != "GRU":
        return array
    blocks = dict(zip(GRU_GATE_ORDER, np.split(array, len(GRU_GATE_ORDER), axis=axis)))
    return np.concatenate([blocks[g] for g in TORCH_GATE_ORDER["GRU"]], axis=axis)


def canonical_weight_gradients(spec: Spec, layer: int, direction: int, grads) -> Tensors:
    """The gradients of one cell's [kernel, recurrent_kernel, bias], named as the params.

    A folded bias b = b_ih + b_hh has d(b_ih) = d(b_hh) = d(b): its gradient is both of theirs.
    """
    kernel, recurrent_kernel, *bias = (np.asarray(g) for g in grads)
    names = {kind: f"grad_{param_name(kind, layer, direction)}" for kind in PARAM_KINDS}
    gradients = {
        names["weight_ih"]: from_keras_gate_order(kernel.T, spec.mode),
        names["weight_hh"]: from_keras_gate_order(recurrent_kernel.T, spec.mode),
    }
    if spec.bias:
        (bias,) = bias
        if spec.mode == "GRU":  # reset_after=True: row 0 is b_ih, row 1 b_hh
            b_ih, b_hh = (from_keras_gate_order(row, "GRU") for row in bias)
        else:
            b_ih = b_hh = bias
        gradients[names["bias_ih"]] = b_ih
        gradients[names["bias_hh"]] = b_hh.copy()
    return gradients


PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def stack_layers(ops, spec: Spec, layers, x, states, weights, mask):
    """(output (N, T, D*F), h_n, c_n or None) of the whole stack, batch-major: `states` holds the
    given "h0"/"c0" (L*D, N, F) tensors, `weights[layer]` the layer's trainable values."""
    given = bool(states)
    h0, c0 = states.get("h0"), states.get("c0")
    if given and spec.has_cell_state:  # as run_stacked: a missing one of the two means zeros
        if h0 is None:
            h0 = ops.zeros_like(c0)
        if c0 is None:
            c0 = ops.zeros_like(h0)
    inputs, finals = x, []
    for index, layer in enumerate(layers):
        initial_state = None
        if given:  # Keras: [h, c] per direction, forward first
            rows = [index * spec.num_directions + d for d in range(spec.num_directions)]
            initial_state = [
                a for r in rows for a in ((h0[r], c0[r]) if spec.has_cell_state else (h0[r],))
            ]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        (inputs, *layer_states), _ = layer.stateless_call(
            weights[index], non_trainable, inputs, initial_state=initial_state, mask=mask
        )
        finals.extend(layer_states)  # (h, c) or (h,) per direction, PyTorch's row order
    per_row = 2 if spec.has_cell_state else 1
    h_n = ops.stack(finals[0::per_row])
    c_n = ops.stack(finals[1::per_row]) if spec.has_cell_state else None
    return inputs, h_n, c_n


def stack_of_layers(backend: str, spec: Spec, dtype: str, x_shape: tuple) -> list:
    """The built Keras layer of every stacked layer (cached by structure, as for the forward)."""
    return [
        built_layer(
            backend, spec.one_layer(index), dtype, (*x_shape[:2], spec.layer_input_size(index))
        )[0]
        for index in range(spec.num_layers)
    ]


@lru_cache(maxsize=128)
def gradient_function(
    backend: str, spec: Spec, dtype: str, x_shape: tuple, given: tuple, masked: bool
):
    """vjp(x, states, weights, mask, cotangents) -> (forward tensors, (d x, d states, d weights))
    of the whole stack, for one structure, on PyTorch and TensorFlow; both run eagerly: tracing
    the tape into a tf.function costs about 1 s per structure, five times the eager call, and
    the grid runs most structures once. JAX goes layer by layer instead: `run_jax_gradients`."""
    keras = import_keras(backend)
    ops = keras.ops
    layers = stack_of_layers(backend, spec, dtype, x_shape)

    def forward(x, states, weights, mask):
        output, h_n, c_n = stack_layers(ops, spec, layers, x, states, weights, mask)
        return (output, h_n) if c_n is None else (output, h_n, c_n)

    if backend == "tensorflow":
        import tensorflow as tf

        def vjp(x, states, weights, mask, cotangents):
            with tf.GradientTape() as tape:
                tape.watch((x, states, weights))
                results = forward(x, states, weights, mask)
            grads = tape.gradient(
                results,
                (x, states, weights),
                output_gradients=cotangents,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            return results, grads

        return vjp

    import torch

    def vjp(x, states, weights, mask, cotangents):
        leaves = [x, *states.values(), *(w for ws in weights for w in ws)]
        for leaf in leaves:
            leaf.requires_grad_(True)
        results = forward(x, states, weights, mask)
        values = torch.autograd.grad(results, leaves, cotangents, allow_unused=True)
        values = [torch.zeros_like(v) if g is None else g for v, g in zip(leaves, values)]
        grad_x, rest = values[0], values[1:]
        grad_states = dict(zip(states, rest[: len(states)]))
        rest = iter(rest[len(states) :])
        grad_weights = [[next(rest) for _ in ws] for ws in weights]
        return tuple(r.detach() for r in results), (grad_x, grad_states, grad_weights)

    return vjp


# JAX: one jitted vector-Jacobian product per LAYER structure, chained here. Compiling the whole
# stack per case cost 5-12 s a case (XLA's compile of the scan's transpose dominates); a layer
# structure (mode, nonlinearity, input features, hidden, directions, bias, dtype, and, through
# jit's own cache, whether an initial state and a mask are given) recurs across stacks, layouts
# and layer counts, so each is compiled once per process. Every value (weights, inputs, initial
# states, mask, cotangents) is an argument of the program, never a constant baked into it.


@lru_cache(maxsize=256)
def layer_vjp(layer_spec: Spec, dtype: str, input_shape: tuple):
    """jitted (trainable, non_trainable, x, initial_state, mask, (d output, d states)) ->
    ((output, states), (d trainable, d x, d initial_state)) of one built layer.

    The primal comes from the same call, so the forward pass through the lower layers runs this
    very program with zero cotangents: one compile per structure, not a forward one besides."""
    import jax

    layer = built_layer("jax", layer_spec, dtype, input_shape)[0]

    @jax.jit
    def vjp(trainable, non_trainable, x, initial_state, mask, cotangents):
        def forward(trainable, x, initial_state):
            (output, *states), _ = layer.stateless_call(
                trainable, non_trainable, x, initial_state=initial_state, mask=mask
            )
            return output, tuple(states)

        primal, pullback = jax.vjp(forward, trainable, x, initial_state)
        return primal, pullback(cotangents)

    return layer, vjp


def run_jax_gradients(spec: Spec, dtype: str, x, states, weights, mask, cotangents):
    """As gradient_function's vjp, layer by layer: forward through the stack keeping each
    layer's input, then backward from the top, each layer's d input the d output below it."""
    import jax.numpy as jnp

    per_direction = 2 if spec.has_cell_state else 1
    d_output, d_h_n, *d_c_n = cotangents

    def rows(index):
        return [index * spec.num_directions + d for d in range(spec.num_directions)]

    def per_layer(h, c, index):  # Keras's order: [h, c] per direction, forward first
        pairs = [(h[r], c[r]) if spec.has_cell_state else (h[r],) for r in rows(index)]
        return tuple(a for pair in pairs for a in pair)

    initial = [None] * spec.num_layers
    if states:  # as run_stacked: a missing one of the two means zeros
        h0, c0 = states.get("h0"), states.get("c0")
        if spec.has_cell_state:
            h0 = jnp.zeros_like(c0) if h0 is None else h0
            c0 = jnp.zeros_like(h0) if c0 is None else c0
        initial = [per_layer(h0, c0, index) for index in range(spec.num_layers)]

    calls, inputs = [], x
    for index in range(spec.num_layers):
        layer_spec = spec.one_layer(index)
        layer, vjp = layer_vjp(layer_spec, dtype, tuple(inputs.shape))
        non_trainable = [v.value for v in layer.non_trainable_variables]
        calls.append((vjp, non_trainable, inputs))
        if index < spec.num_layers - 1:  # the top layer's forward comes with its backward
            width = spec.num_directions * spec.hidden_size
            zeros = (
                jnp.zeros((*inputs.shape[:2], width), inputs.dtype),
                tuple(jnp.zeros_like(d_h_n[0]) for _ in range(per_direction * spec.num_directions)),
            )
            (inputs, _), _ = vjp(weights[index], non_trainable, inputs, initial[index], mask, zeros)

    finals = [None] * spec.num_layers
    grad_weights = [None] * spec.num_layers
    grad_initial = [None] * spec.num_layers
    d_inputs = d_output
    for index in reversed(range(spec.num_layers)):
        vjp, non_trainable, inputs = calls[index]
        d_states = per_layer(d_h_n, d_c_n[0] if d_c_n else None, index)
        (output, finals[index]), (grad_weights[index], d_inputs, grad_initial[index]) = vjp(
            weights[index], non_trainable, inputs, initial[index], mask, (d_inputs, d_states)
        )
        if index == spec.num_layers - 1:
            top_output = output

    flat = [a for layer_finals in finals for a in layer_finals]
    h_n = jnp.stack(flat[0::per_direction])
    results = (top_output, h_n)
    if spec.has_cell_state:
        results += (jnp.stack(flat[1::per_direction]),)
    grad_states = {}
    if states:
        flat = [a for layer_grads in grad_initial for a in layer_grads]
        grad_states["h0"] = jnp.stack(flat[0::per_direction])
        if spec.has_cell_state:
            grad_states["c0"] = jnp.stack(flat[1::per_direction])
        grad_states = {name: grad_states[name] for name in states}  # only the given ones
    return results, (d_inputs, grad_states, grad_weights)


def _run_with_gradients(keras, request: Request) -> Tensors:
    spec, dtype = request.spec, str(request.dtype)
    backend = keras.backend.backend()
    ops = keras.ops
    given = tuple(name for name in ("h0", "c0") if getattr(request, name) is not None)
    x = np.ascontiguousarray(request.batch_major_x())
    layers = stack_of_layers(backend, spec, dtype, x.shape)

    def tensor(a):
        return ops.convert_to_tensor(np.ascontiguousarray(a, dtype=dtype))

    # Every layer's trainable values in its own order, from the canonical params.
    weights, cells_of = [], []
    for index, layer in enumerate(layers):
        values = {}
        cells = direction_cells(layer, spec)
        for direction, cell in enumerate(cells):
            w = layer_weights(spec, request.params, index, direction, request.dtype)
            for variable, value in zip(cell.trainable_variables, keras_weights(spec, w)):
                values[id(variable)] = value
        weights.append([tensor(values[id(v)]) for v in layer.trainable_variables])
        cells_of.append([[order_in(layer, v) for v in cell.trainable_variables] for cell in cells])
    states = {name: tensor(getattr(request, name)) for name in given}
    mask = None
    if request.lengths is not None:
        mask = ops.convert_to_tensor(np.ascontiguousarray(request.valid_steps().T))
    cotangents = dict(request.cotangents)
    cotangent_output = cotangents["output"]
    if not spec.batch_first:
        cotangent_output = np.swapaxes(cotangent_output, 0, 1)
    names = ("h_n", "c_n") if spec.has_cell_state else ("h_n",)
    cotangent_tensors = (tensor(cotangent_output), *(tensor(cotangents[n]) for n in names))

    if backend == "jax":
        vjp = partial(run_jax_gradients, spec, dtype)
    else:
        vjp = gradient_function(backend, spec, dtype, x.shape, given, request.lengths is not None)
    results, (grad_x, grad_states, grad_weights) = vjp(
        tensor(x), states, weights, mask, cotangent_tensors
    )
    numpy = ops.convert_to_numpy
    output, h_n, *c_n = (numpy(r) for r in results)
    tensors = named(spec, output if spec.batch_first else np.swapaxes(output, 0, 1), h_n, *c_n)
    grad_x = numpy(grad_x)
    gradients = {"grad_x": grad_x if spec.batch_first else np.swapaxes(grad_x, 0, 1)}
    for name in given:
        gradients[f"grad_{name}"] = numpy(grad_states[name])
    for index, layer_grads in enumerate(grad_weights):
        layer_grads = [numpy(g) for g in layer_grads]
        for direction, positions in enumerate(cells_of[index]):
            cell_grads = [layer_grads[p] for p in positions]
            gradients |= canonical_weight_gradients(spec, index, direction, cell_grads)
    return tensors | gradients


def order_in(layer, variable) -> int:
    """The position of `variable` in `layer.trainable_variables`."""
    return next(i for i, v in enumerate(layer.trainable_variables) if v is variable)

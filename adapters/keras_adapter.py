"""Keras 3 layers, in this process, on one backend: SimpleRNN / LSTM / GRU(reset_after=True).

Keras has no num_layers, batch_first or proj_size: layers are stacked with return_sequences,
two directions use Bidirectional(merge_mode="concat"), time-major inputs are transposed, and
proj_size > 0 cannot be expressed (no Keras recurrent layer projects its hidden state; declared in
the registry). Variable lengths are Keras's own masking: a boolean (batch, time) mask passed to
every layer's call. The backend is fixed per process by KERAS_BACKEND; `keras_backends.py`
decides where each backend runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import lru_cache

import numpy as np

from .layout import LayerWeights, layer_weights, reorder_gates, run_stacked
from .request import Request, Tensors
from .spec import Spec

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


def make_layer(keras, spec: Spec, dtype: str):
    common = dict(
        units=spec.hidden_size,
        use_bias=spec.bias,
        return_sequences=True,
        return_state=True,
        dtype=dtype,
    )
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
    with precision_scope(backend, dtype):
        return _run_layers(keras, request)


@lru_cache(maxsize=256)
def built_layer(backend: str, layer_spec: Spec, dtype: str, input_shape: tuple):
    """A built Keras layer for one stacked layer, and how to call it; cached by structure.

    As Keras itself runs models in model.predict and fit: on TensorFlow the call is a
    tf.function (traced once per structure; the weights are variables it reads, so new weights
    need no retracing), on JAX it is jitted through `stateless_call` (eager JAX would recompile
    the time loop on every call). PyTorch runs eagerly, as Keras runs it.
    """
    keras = import_keras(backend)
    layer = make_layer(keras, layer_spec, dtype)
    layer.build(input_shape)
    if backend == "torch":
        return layer, lambda x, initial_state, mask: layer(
            x, initial_state=initial_state, mask=mask
        )
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def graph(x, initial_state, mask):
            return layer(x, initial_state=initial_state, mask=mask)

        return layer, graph

    import jax

    @jax.jit
    def stateless(trainable, non_trainable, x, initial_state, mask):
        outputs, _ = layer.stateless_call(
            trainable, non_trainable, x, initial_state=initial_state, mask=mask
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
        layer, call = built_layer(backend, spec.one_layer(layer_index), dtype, tuple(inputs.shape))
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

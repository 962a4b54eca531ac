"""`jax` and `jax-cuda`: jax.experimental.rnn's LSTM: lstm_ref (pure JAX, CPU) and lstm (cuDNN).

Its weights come as one flat vector in cuDNN's layout (what `jax.experimental.rnn.lstm` takes on
GPU); the adapter packs that vector from the canonical params and checks it with the library's own
`unpack_lstm_weights` instead of assuming the layout. The module is LSTM only, always adds both
biases (so bias=False is expressed exactly by zero biases) and has no projection (declared in the
registry). lstm_ref runs float64 under JAX's x64 mode, switched on for the call; cuDNN's lstm
runs float32 only. Variable lengths are its own `seq_lengths`. `jax-cuda` passes
precision=HIGHEST: float32 is judged by float32's tolerance, and the default lets cuDNN use TF32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import rnn

from .errors import NotInstalled
from .jax_common import precision_scope
from .layout import layer_weights
from .request import Request, Tensors, given_state_gradients, named
from .spec import Spec, param_name


def pack_flat_weights(spec: Spec, params, dtype=np.float32) -> np.ndarray:
    """cuDNN order: W_ih, W_hh of every (layer, direction), then b_ih, b_hh of every one."""
    pseudo_layers = [
        layer_weights(spec, params, layer, d, dtype)
        for layer in range(spec.num_layers)
        for d in range(spec.num_directions)
    ]
    matrices = [m.ravel() for w in pseudo_layers for m in (w.w_ih, w.w_hh)]
    biases = [b for w in pseudo_layers for b in (w.input_bias, w.recurrent_bias)]
    return np.concatenate(matrices + biases)


def checked_weights(spec: Spec, params, dtype=np.float32):
    """The flat cuDNN vector and jax's own unpacking of it, which must give back our params."""
    flat = pack_flat_weights(spec, params, dtype)
    sizes = sizes_of(spec)
    expected = rnn.get_num_params_in_lstm(*sizes)
    if flat.size != expected:
        raise RuntimeError(f"packed {flat.size} LSTM weights, jax expects {expected}")
    unpacked = rnn.unpack_lstm_weights(jnp.asarray(flat), *sizes)
    for layer in range(spec.num_layers):  # the layout must round-trip, or our packing is wrong
        for d in range(spec.num_directions):
            ours = layer_weights(spec, params, layer, d, dtype)
            p = layer * spec.num_directions + d
            mine = (ours.w_ih, ours.w_hh, ours.input_bias, ours.recurrent_bias)
            for theirs, expected_part in zip(unpacked, mine):
                if not np.array_equal(np.asarray(theirs[p]), expected_part, equal_nan=True):
                    raise RuntimeError(f"jax unpacks pseudo-layer {p} differently from our packing")
    return flat, unpacked


def run(request: Request) -> Tensors:
    return run_with(False, request)


def run_cuda(request: Request) -> Tensors:
    return run_with(True, request)


def run_with(cudnn: bool, request: Request) -> Tensors:
    spec, params = request.spec, request.params
    if cudnn:
        try:
            device = jax.devices("gpu")[0]
        except RuntimeError as error:
            raise NotInstalled(f"jax-cuda: jax sees no GPU ({error})") from error
    dtype = request.dtype
    batch_major = request.batch_major_x()  # the API is batch-first
    rows, batch = spec.num_layers * spec.num_directions, request.batch
    zeros = np.zeros((rows, batch, spec.hidden_size), dtype)
    h0 = zeros if request.h0 is None else request.h0
    c0 = zeros if request.c0 is None else request.c0
    sizes = dict(
        input_size=spec.input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        dropout=0.0,
        bidirectional=spec.bidirectional,
    )
    with precision_scope(dtype):
        arrays = tuple(jnp.asarray(a) for a in (batch_major, h0, c0))
        seq_lengths = jnp.asarray(request.row_lengths(), dtype=jnp.int32)
        flat, unpacked = checked_weights(spec, params, dtype)
        if cudnn:
            arrays, flat, seq_lengths = jax.device_put((arrays, flat, seq_lengths), device)

            def layer(arrays, weights):
                return rnn.lstm(
                    *arrays, weights, seq_lengths, precision=jax.lax.Precision.HIGHEST, **sizes
                )

            weights = flat
        else:

            def layer(arrays, weights):
                return rnn.lstm_ref(*arrays, *weights, seq_lengths=seq_lengths, **sizes)

            weights = unpacked
        if request.cotangents is None:
            results, gradients = layer(arrays, weights), {}
        else:
            results, vjp = jax.vjp(layer, arrays, weights)
            cotangents = batch_major_cotangents(request, dtype)
            grad_arrays, grad_weights = vjp(cotangents)
            if cudnn:  # the flat vector's gradient, laid out as the flat vector itself
                grad_weights = rnn.unpack_lstm_weights(grad_weights, *sizes_of(spec))
            gradients = canonical_gradients(request, grad_arrays, grad_weights)
        output, h_n, c_n = (np.asarray(a) for a in results)
    output = output if spec.batch_first else np.swapaxes(output, 0, 1)
    return named(spec, output, h_n, c_n) | gradients


def sizes_of(spec: Spec) -> tuple:
    return (spec.input_size, spec.hidden_size, spec.num_layers, spec.bidirectional)


def batch_major_cotangents(request: Request, dtype) -> tuple:
    spec, cotangents = request.spec, request.cotangents
    output = cotangents["output"]
    output = output if spec.batch_first else np.swapaxes(output, 0, 1)
    arrays = (output, cotangents["h_n"], cotangents["c_n"])
    return tuple(jnp.asarray(a, dtype=dtype) for a in arrays)


def canonical_gradients(request: Request, grad_arrays, grad_weights) -> dict[str, np.ndarray]:
    """jax's gradients by pseudo-layer (layer * directions + direction), named as the params."""
    spec = request.spec
    grad_x, grad_h0, grad_c0 = (np.asarray(g) for g in grad_arrays)
    gradients = {"grad_x": grad_x if spec.batch_first else np.swapaxes(grad_x, 0, 1)}
    gradients |= given_state_gradients(request, grad_h0, grad_c0)
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[: 4 if spec.bias else 2]
    for layer in range(spec.num_layers):
        for d in range(spec.num_directions):
            pseudo_layer = layer * spec.num_directions + d
            for kind, grads in zip(kinds, grad_weights):
                gradients[f"grad_{param_name(kind, layer, d)}"] = np.asarray(grads[pseudo_layer])
    return gradients

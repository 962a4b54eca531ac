"""`jax` and `jax-cuda`: jax.experimental.rnn's LSTM: lstm_ref (pure JAX, CPU) and lstm (cuDNN).

Its weights come as one flat vector in cuDNN's layout (what `jax.experimental.rnn.lstm` takes on
GPU); the adapter packs that vector from the canonical params and checks it with the library's own
`unpack_lstm_weights` instead of assuming the layout. lstm_ref is LSTM only, float32 only, with
both biases always present and no projection: everything else is Unsupported. `jax-cuda` passes
precision=HIGHEST: float32 is judged by float32's tolerance, and the default lets cuDNN use TF32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import rnn

from .errors import NotInstalled, Unsupported
from .layout import from_time_major, layer_weights, to_time_major
from .spec import Spec


def check_supported(spec: Spec, dtype: np.dtype) -> None:
    if spec.mode != "LSTM":
        raise Unsupported(f"jax.experimental.rnn has only an LSTM, no {spec.mode}")
    if spec.proj_size:
        raise Unsupported("jax.experimental.rnn's LSTM has no projection (proj_size)")
    if not spec.bias:
        raise Unsupported("jax.experimental.rnn's LSTM always has b_ih and b_hh (no bias=False)")
    if dtype != np.float32:
        raise Unsupported(f"jax.experimental.rnn runs float32 only, not {dtype}")


def pack_flat_weights(spec: Spec, params) -> np.ndarray:
    """cuDNN order: W_ih, W_hh of every (layer, direction), then b_ih, b_hh of every one."""
    pseudo_layers = [
        layer_weights(spec, params, layer, d, np.float32)
        for layer in range(spec.num_layers)
        for d in range(spec.num_directions)
    ]
    matrices = [m.ravel() for w in pseudo_layers for m in (w.w_ih, w.w_hh)]
    biases = [b for w in pseudo_layers for b in (w.b_ih, w.b_hh)]
    return np.concatenate(matrices + biases)


def checked_weights(spec: Spec, params):
    """The flat cuDNN vector and jax's own unpacking of it, which must give back our params."""
    flat = pack_flat_weights(spec, params)
    sizes = (spec.input_size, spec.hidden_size, spec.num_layers, spec.bidirectional)
    expected = rnn.get_num_params_in_lstm(*sizes)
    if flat.size != expected:
        raise RuntimeError(f"packed {flat.size} LSTM weights, jax expects {expected}")
    unpacked = rnn.unpack_lstm_weights(jnp.asarray(flat), *sizes)
    for layer in range(spec.num_layers):  # the layout must round-trip, or our packing is wrong
        for d in range(spec.num_directions):
            ours = layer_weights(spec, params, layer, d, np.float32)
            p = layer * spec.num_directions + d
            mine = (ours.w_ih, ours.w_hh, ours.b_ih, ours.b_hh)
            for theirs, expected_part in zip(unpacked, mine):
                if not np.array_equal(np.asarray(theirs[p]), expected_part):
                    raise RuntimeError(f"jax unpacks pseudo-layer {p} differently from our packing")
    return flat, unpacked


def run(spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    return run_with(False, spec, params, x, h0, c0)


def run_cuda(spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    return run_with(True, spec, params, x, h0, c0)


def run_with(cudnn: bool, spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    check_supported(spec, x.dtype)
    if cudnn:
        try:
            device = jax.devices("gpu")[0]
        except RuntimeError as error:
            raise NotInstalled(f"jax-cuda: jax sees no GPU ({error})") from error
    batch_major = np.swapaxes(to_time_major(x, spec.batch_first), 0, 1)  # batch-first API
    rows, batch = spec.num_layers * spec.num_directions, batch_major.shape[0]
    zeros = np.zeros((rows, batch, spec.hidden_size), np.float32)
    h0 = zeros if h0 is None else h0.astype(np.float32)
    c0 = zeros if c0 is None else c0.astype(np.float32)
    sizes = dict(
        input_size=spec.input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        dropout=0.0,
        bidirectional=spec.bidirectional,
    )
    arrays = [jnp.asarray(a) for a in (batch_major, h0, c0)]
    seq_lengths = jnp.full((batch,), batch_major.shape[1], dtype=jnp.int32)
    flat, unpacked = checked_weights(spec, params)
    if cudnn:
        arrays, flat, seq_lengths = jax.device_put((arrays, flat, seq_lengths), device)
        output, h_n, c_n = rnn.lstm(
            *arrays, flat, seq_lengths, precision=jax.lax.Precision.HIGHEST, **sizes
        )
    else:
        output, h_n, c_n = rnn.lstm_ref(*arrays, *unpacked, seq_lengths=seq_lengths, **sizes)
    output = np.swapaxes(np.asarray(output), 0, 1)
    return from_time_major(output, spec.batch_first), np.asarray(h_n), np.asarray(c_n)

"""Keras's gradients, by each backend's own autodiff, translated back to the canonical params."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import adapters
from adapters import Request, Spec
from adapters.request import gradient_names


def require(*names):
    for name in names:
        if reason := adapters.IMPLEMENTATIONS[name].unavailable_reason():
            pytest.skip(f"{name}: {reason}")


def request_with_cotangents(spec: Spec, seed: int = 0, lengths=None) -> Request:
    rng = np.random.default_rng(seed)
    seq, batch, rows = 4, 3, spec.num_layers * spec.num_directions
    params = {k: v.astype(np.float64) for k, v in adapters.init_params(spec, seed).items()}
    x = rng.normal(size=(seq, batch, spec.input_size))
    h0 = rng.normal(size=(rows, batch, spec.hidden_size))
    c0 = rng.normal(size=(rows, batch, spec.hidden_size)) if spec.has_cell_state else None
    cotangents = {
        "output": rng.uniform(-1, 1, (seq, batch, spec.num_directions * spec.hidden_size)),
        "h_n": rng.uniform(-1, 1, (rows, batch, spec.hidden_size)),
    }
    if spec.has_cell_state:
        cotangents["c_n"] = rng.uniform(-1, 1, (rows, batch, spec.hidden_size))
    return Request(spec, params, x, h0, c0, lengths, cotangents)


def test_lstm_folded_bias_gradient_is_both_biases_gradient():
    """Keras's LSTM has one bias b_ih + b_hh: its gradient is the reference's d(b_ih) and
    d(b_hh), which are equal; GRU's two bias rows come back as two different gradients."""
    require("keras")
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    request = request_with_cotangents(spec)
    got = adapters.run_request("keras", request)
    expected = adapters.run_request("numpy", request)
    assert set(got) == {"output", "h_n", "c_n", *gradient_names(request)}
    for name in gradient_names(request):
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-10)
    for suffix in ("l0", "l1_reverse"):
        np.testing.assert_array_equal(got[f"grad_bias_ih_{suffix}"], got[f"grad_bias_hh_{suffix}"])

    spec = Spec(mode="GRU", input_size=3, hidden_size=4, batch_first=True)
    request = request_with_cotangents(spec, seed=1)
    request = replace(
        request,
        x=np.ascontiguousarray(np.swapaxes(request.x, 0, 1)),
        cotangents={
            **request.cotangents,
            "output": np.ascontiguousarray(np.swapaxes(request.cotangents["output"], 0, 1)),
        },
    )
    got = adapters.run_request("keras", request)
    expected = adapters.run_request("numpy", request)
    for name in gradient_names(request):
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-10)
    assert not np.allclose(got["grad_bias_ih_l0"], got["grad_bias_hh_l0"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["keras", "keras-torch", "keras-jax"])
def test_gradient_path_forward_equals_the_forward_path(name):
    """The forward tensors of a call with cotangents are those of the same call without; only
    the states that were given get a gradient; the request crosses to a child process whole."""
    require(name)
    spec = Spec(mode="GRU", input_size=3, hidden_size=4, num_layers=2, bias=False)
    request = request_with_cotangents(spec, seed=2)
    lengths = np.array([4, 2, 1])
    cotangents = dict(request.cotangents)  # no weight on padded outputs, which Keras repeats
    cotangents["output"] = cotangents["output"] * (np.arange(4)[:, None] < lengths)[:, :, None]
    request = replace(
        request,
        h0=None,
        params={k: v.astype(np.float32) for k, v in request.params.items()},
        x=request.x.astype(np.float32),
        lengths=lengths,
        cotangents={k: v.astype(np.float32) for k, v in cotangents.items()},
    )
    with_gradients = adapters.run_request(name, request)
    without = adapters.run_request(name, replace(request, cotangents=None))
    assert set(with_gradients) == {"output", "h_n", *gradient_names(request)}
    assert "grad_h0" not in with_gradients and "grad_bias_ih_l0" not in with_gradients
    for tensor in ("output", "h_n"):
        np.testing.assert_allclose(with_gradients[tensor], without[tensor], rtol=1e-6, atol=1e-6)
    expected = adapters.run_request("numpy", request)
    np.testing.assert_allclose(
        with_gradients["grad_weight_hh_l0"], expected["grad_weight_hh_l0"], rtol=1e-4, atol=1e-5
    )


LAYER_CACHE_SCRIPT = """
import numpy as np
from dataclasses import replace

import adapters
from adapters import Spec, keras_adapter
from adapters.request import gradient_names
from tests.test_keras_gradients import request_with_cotangents

def float32(request):
    def narrow(a):
        return None if a is None else a.astype(np.float32)

    return replace(
        request,
        params={k: narrow(v) for k, v in request.params.items()},
        x=narrow(request.x),
        h0=narrow(request.h0),
        cotangents={k: narrow(v) for k, v in request.cotangents.items()},
    )


def check(spec, seed):
    request = float32(request_with_cotangents(spec, seed=seed))
    got = keras_adapter.run("jax", request)
    expected = adapters.run_request("numpy", request)
    for name in ("output", "h_n", *gradient_names(request)):
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


spec = Spec(mode="GRU", input_size=3, hidden_size=4, num_layers=2)
check(spec, seed=0)
check(replace(spec, num_layers=3), seed=1)  # new weights and inputs, the same two structures
check(spec, seed=2)
assert keras_adapter.layer_vjp.cache_info().currsize == 2  # layer 0, and layers 1 and 2
for layer in range(3):
    shape = (3, 4, spec.layer_input_size(layer))
    _, vjp = keras_adapter.layer_vjp(spec.one_layer(layer), "float32", shape)
    assert vjp._cache_size() == 1, f"layer {layer}: {vjp._cache_size()} programs"
print("ok")
"""


@pytest.mark.slow
def test_keras_jax_compiles_once_per_layer_structure():
    """keras-jax's gradients are a jitted VJP per layer structure, chained in Python: a stack of
    three layers after one of two (same structures), and new weights, inputs, initial states and
    cotangents, compile nothing new, and still give the reference's gradients (so the values are
    arguments of the programs, not constants baked into them). Run in a fresh interpreter: this
    one may hold Keras on another backend."""
    require("keras-jax")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", LAYER_CACHE_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.split()[-1] == "ok"

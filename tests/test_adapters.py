"""The public API's promises (docs/API.md), for every implementation installed here."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback

import numpy as np
import pytest

import adapters
from adapters import Spec
from conformance.divergences import KNOWN_DIVERGENCES

IMPLEMENTATIONS = list(adapters.IMPLEMENTATIONS)


def require(name: str) -> None:
    if reason := adapters.IMPLEMENTATIONS[name].unavailable_reason():
        pytest.skip(f"{name}: {reason}")


def run_supported(name, *args):
    """adapters.run, skipping what the implementation cannot express or what a declared
    divergence says it raises (conformance/divergences.py: e.g. ONNX Runtime's double LSTM)."""
    try:
        return adapters.run(name, *args)
    except adapters.Unsupported as unsupported:
        pytest.skip(f"unsupported by {name}: {unsupported}")
    except Exception as error:
        summary = "".join(traceback.format_exception_only(type(error), error))
        declared = [
            d for d in KNOWN_DIVERGENCES if d.implementation == name and d.explains_error(summary)
        ]
        if not declared:
            raise
        pytest.skip(f"known divergence of {name}: {declared[0].link}")


def lstm_inputs(spec: Spec, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = spec.num_layers * spec.num_directions
    x = rng.normal(size=(4, 3, spec.input_size))
    return (
        x,
        rng.normal(size=(rows, 3, spec.output_size)),
        rng.normal(size=(rows, 3, spec.hidden_size)),
    )


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_a_missing_state_means_zeros(name):
    require(name)
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    params = adapters.init_params(spec, seed=1)
    x, h0, c0 = (a.astype(np.float32) for a in lstm_inputs(spec))
    expected = adapters.run("numpy", spec, params, x, h0, np.zeros_like(c0))
    got = run_supported(name, spec, params, x, h0, None)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    expected = adapters.run("numpy", spec, params, x, np.zeros_like(h0), c0)
    got = run_supported(name, spec, params, x, None, c0)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_returns_numpy_in_the_dtype_and_layouts_of_the_contract(name, dtype):
    require(name)
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2, batch_first=True)
    params = adapters.init_params(spec)
    x = np.ones((2, 5, 3), dtype=dtype)  # batch 2, seq 5
    output, h_n, c_n = run_supported(name, spec, params, x)
    assert all(isinstance(a, np.ndarray) for a in (output, h_n, c_n))
    assert output.dtype == h_n.dtype == c_n.dtype == np.dtype(dtype)
    assert output.shape == (2, 5, 4)  # batch_first applies to output...
    assert h_n.shape == c_n.shape == (2, 2, 4)  # ...never to states: (L * D, batch, hidden)
    assert all(a.flags.writeable for a in (output, h_n, c_n))  # the caller's own arrays


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_c_n_is_none_without_a_cell_state(name):
    require(name)
    spec = Spec(mode="GRU", input_size=3, hidden_size=4)
    x = np.ones((5, 2, 3), dtype=np.float32)
    assert run_supported(name, spec, adapters.init_params(spec), x)[2] is None


def test_keras_cannot_express_proj_size():
    require("keras")
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, proj_size=2)
    x, _, _ = lstm_inputs(spec)
    with pytest.raises(adapters.Unsupported, match="proj_size"):
        adapters.run("keras", spec, adapters.init_params(spec), x)


@pytest.mark.parametrize("name", ["torch", "keras", "jax"])
def test_float16_runs_in_float16_not_silently_upcast(name):
    require(name)
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4)
    x = np.ones((2, 2, 3), dtype=np.float16)
    params = {k: v.astype(np.float16) for k, v in adapters.init_params(spec).items()}
    output, h_n, c_n = adapters.run(name, spec, params, x)
    assert output.dtype == h_n.dtype == c_n.dtype == np.float16


def test_bfloat16_where_onnx_cannot_express_it_is_unsupported_with_the_reason():
    require("onnxruntime")
    spec = Spec(mode="GRU", input_size=3, hidden_size=4)
    x = np.ones((2, 2, 3), dtype="bfloat16")
    with pytest.raises(adapters.Unsupported, match="bfloat16"):
        adapters.run("onnxruntime", spec, adapters.init_params(spec), x)


def test_not_installed_is_its_own_error(monkeypatch):
    monkeypatch.setattr(adapters.Implementation, "missing", lambda self: ["torch"])
    spec = Spec(mode="RNN", input_size=3, hidden_size=4)
    with pytest.raises(adapters.NotInstalled, match=r"torch.*pip install '\.\[torch\]'"):
        adapters.run("torch", spec, adapters.init_params(spec), np.ones((2, 2, 3)))


def run_python(code: str, **env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_jax_says_what_it_cannot_express():
    require("jax")
    x = np.ones((5, 2, 3))
    for spec, reason in [
        (Spec(mode="GRU", input_size=3, hidden_size=4), "only an LSTM"),
        (Spec(mode="LSTM", input_size=3, hidden_size=4, proj_size=2), "projection"),
    ]:
        with pytest.raises(adapters.Unsupported, match=reason):
            adapters.run("jax", spec, adapters.init_params(spec), x)
    float64 = adapters.Setting(Spec(mode="LSTM", input_size=3, hidden_size=4), "float64")
    assert "float32 only" in adapters.IMPLEMENTATIONS["jax-cuda"].unsupported_reason(float64)


def test_jax_runs_float64_and_bias_false_as_lstm_ref_can():
    require("jax")
    x = np.random.default_rng(1).normal(size=(5, 2, 3))
    for bias in (True, False):
        spec = Spec(mode="LSTM", input_size=3, hidden_size=4, bias=bias, bidirectional=True)
        params = {k: v.astype(np.float64) for k, v in adapters.init_params(spec).items()}
        got = adapters.run("jax", spec, params, x, lengths=np.array([3, 5]))
        expected = adapters.run("numpy", spec, params, x, lengths=np.array([3, 5]))
        for g, e in zip(got, expected):
            assert g.dtype == np.float64
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13)


def test_available_imports_no_framework():
    out = run_python(
        "import sys, adapters; names = adapters.available(); print('numpy' in names, "
        "[m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules])"
    )
    assert out == "True []"


@pytest.mark.slow
def test_keras_runs_on_tensorflow_even_if_another_backend_is_set():
    require("keras")
    out = run_python(
        "import numpy as np, adapters\n"
        "spec = adapters.Spec(mode='RNN', input_size=2, hidden_size=3)\n"
        "adapters.run('keras', spec, adapters.init_params(spec), np.ones((2, 1, 2)))\n"
        "import keras; print(keras.backend.backend())",
        KERAS_BACKEND="jax",
    )
    assert out.splitlines()[-1] == "tensorflow"


def test_jax_flat_weight_layout_is_checked_with_jax_own_unpacking(monkeypatch):
    require("jax")
    from adapters import jax_adapter
    from adapters.layout import layer_weights

    def torch_interleaved(spec, params, dtype):  # PyTorch's order: a pseudo-layer's 4 together
        parts = []
        for layer in range(spec.num_layers):
            for d in range(spec.num_directions):
                w = layer_weights(spec, params, layer, d, dtype)
                parts += [w.w_ih.ravel(), w.w_hh.ravel(), w.b_ih, w.b_hh]
        return np.concatenate(parts)

    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2)
    x = np.ones((5, 2, 3), dtype=np.float32)
    adapters.run("jax", spec, adapters.init_params(spec), x)  # the real packing round-trips
    monkeypatch.setattr(jax_adapter, "pack_flat_weights", torch_interleaved)
    with pytest.raises(RuntimeError, match="unpacks pseudo-layer"):
        adapters.run("jax", spec, adapters.init_params(spec), x)


def test_flax_nnx_fills_a_hidden_bias_once_flax_has_one():
    require("flax-nnx")
    from adapters.flax_nnx_adapter import nnx_cell_params
    from adapters.layout import layer_weights

    spec = Spec(mode="GRU", input_size=3, hidden_size=4)
    w = layer_weights(spec, adapters.init_params(spec), 0, 0, np.float32)

    class TodaysCell:  # nnx.GRUCell of flax 0.12: no hidden-side bias (flax#5594)
        pass

    class FixedCell:  # as proposed in google/flax#5595
        hn_bias = None

    assert "hn_bias" not in nnx_cell_params("flax-nnx", spec, w, TodaysCell())
    filled = nnx_cell_params("flax-nnx", spec, w, FixedCell())
    np.testing.assert_array_equal(filled["hn_bias"], w.b_hh[8:])


def test_jax_passes_a_nan_weight_through_like_every_layer():
    require("jax")
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4)
    params = adapters.init_params(spec, seed=2)
    params["weight_hh_l0"] = params["weight_hh_l0"].copy()
    params["weight_hh_l0"][0, 0] = np.nan
    x = np.ones((5, 2, 3), dtype=np.float32)
    expected = adapters.run("numpy", spec, params, x)
    got = adapters.run("jax", spec, params, x)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)  # NaN where, and only where, numpy
    assert np.isnan(got[0]).any()

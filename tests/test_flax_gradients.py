"""The Flax adapters' gradient path: jax.vjp through Flax's own layers, mapped back to PyTorch's
parameter layout (a folded bias's gradient goes to both b_ih and b_hh), with the same forward as
the path without cotangents."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import jax
import numpy as np
import pytest

from adapters import flax_adapter, flax_nnx_adapter, numpy_reference
from conformance.cases import Case, request_with_cotangents

RUNS = {
    "flax": flax_adapter.run,
    "flax-optimized": flax_adapter.run_optimized,
    "flax-nnx": flax_nnx_adapter.run,
    "flax-nnx-optimized": flax_nnx_adapter.run_optimized,
}


def lstm_request(implementation: str, **kw):
    case = Case("gradients", "LSTM", 2, True, implementation=implementation, **kw)
    return request_with_cotangents(case)


@pytest.mark.parametrize("implementation", sorted(RUNS))
def test_folded_bias_gradient_is_both_biases_gradient(implementation):
    request = lstm_request(implementation, lengths="mixed")
    ours = RUNS[implementation](request)
    expected = numpy_reference.run(request)
    for suffix in ("l0", "l0_reverse", "l1", "l1_reverse"):
        # Flax keeps one bias b_ih + b_hh: its gradient is the gradient of each
        np.testing.assert_array_equal(
            ours[f"grad_bias_ih_{suffix}"], ours[f"grad_bias_hh_{suffix}"]
        )
        for kind in ("bias_ih", "bias_hh", "weight_ih", "weight_hh"):
            name = f"grad_{kind}_{suffix}"
            np.testing.assert_allclose(ours[name], expected[name], rtol=1e-11, atol=1e-12)
    for name in ("grad_x", "grad_h0", "grad_c0"):
        np.testing.assert_allclose(ours[name], expected[name], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("implementation", sorted(RUNS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradient_path_forward_equals_plain_forward(implementation, batch_first):
    request = lstm_request(implementation, batch_first=batch_first, lengths="mixed")
    with_gradients = RUNS[implementation](request)
    plain = RUNS[implementation](replace(request, cotangents=None))
    assert set(plain) == {"output", "h_n", "c_n"}
    valid = request.valid_steps()
    for name in plain:
        ours, theirs = with_gradients[name], plain[name]
        if name == "output":  # padded steps are unspecified; compare the valid ones
            ours, theirs = (
                (np.swapaxes(a, 0, 1) if batch_first else a)[valid] for a in (ours, theirs)
            )
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)


def test_no_bias_means_no_bias_gradients():
    case = Case("gradients", "GRU", 1, False, bias=False, implementation="flax")
    request = request_with_cotangents(case)
    ours = flax_adapter.run(request)
    assert not any(name.startswith("grad_bias") for name in ours)
    expected = numpy_reference.run(request)
    for name in ("grad_x", "grad_h0", "grad_weight_ih_l0", "grad_weight_hh_l0"):
        np.testing.assert_allclose(ours[name], expected[name], rtol=1e-11, atol=1e-12)


@contextlib.contextmanager
def counting_compilations():
    """The XLA compilations in the block, as jax.monitoring reports them."""
    compiled = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield compiled
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize("implementation", ["flax", "flax-nnx"])
def test_layers_of_one_structure_share_one_compiled_vjp(implementation):
    """Programs are per layer, not per stack: once a two-layer stack ran, a three-layer one
    whose third layer is like its second compiles nothing, nor does bias=False (zeros) or the
    other time layout."""

    def request(num_layers, **kw):
        case = Case("gradients", "LSTM", num_layers, True, implementation=implementation, **kw)
        return request_with_cotangents(case)

    RUNS[implementation](request(2, lengths="mixed"))
    for three in (
        request(3, lengths="mixed"),
        request(3, lengths="mixed", bias=False, batch_first=True),
    ):
        with counting_compilations() as compiled:
            ours = RUNS[implementation](three)
        assert compiled == []
        expected = numpy_reference.run(three)
        for name in ("grad_x", "grad_h0", "grad_weight_hh_l2_reverse", "grad_weight_ih_l0"):
            np.testing.assert_allclose(ours[name], expected[name], rtol=1e-11, atol=1e-12)

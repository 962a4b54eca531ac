"""The NumPy reference against ONNX's reference evaluator (onnx.reference), an independent source.

ONNX expresses LSTM (without projection), GRU (linear_before_reset=1 is PyTorch's reset-after
form) and RNN with tanh; the graph (adapters/onnx_graph.py, the one the `onnxruntime` and
`onnx-reference` implementations run) has one node per layer, chained by Transpose + Reshape as a
real export is, with the gate orders of the ONNX operator spec: LSTM i, o, f, c; GRU z, r, h.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import Spec, init_params, numpy_reference

onnx = pytest.importorskip("onnx")
from onnx.reference import ReferenceEvaluator  # noqa: E402

from adapters.onnx_graph import build_model, feeds  # noqa: E402

GRID = list(
    itertools.product(("RNN", "LSTM", "GRU"), (1, 2), (False, True), (True, False), (True, False))
)


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional, bias, with_state",
    GRID,
    ids=[
        f"{m}-L{n}-{'bi' if b else 'uni'}-{'bias' if bias else 'nobias'}-{'h0' if s else 'zeros'}"
        for m, n, b, bias, s in GRID
    ],
)
def test_reference_matches_onnx_reference_evaluator(
    mode, num_layers, bidirectional, bias, with_state
):
    spec = Spec(
        mode=mode,
        input_size=3,
        hidden_size=4,
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=bias,
    )
    seq_len, batch = 5, 2
    params = {k: v.astype(np.float64) for k, v in init_params(spec, seed=7).items()}
    rng = np.random.default_rng(3)
    x = rng.normal(size=(seq_len, batch, spec.input_size))
    rows = num_layers * spec.num_directions
    h0 = rng.normal(size=(rows, batch, 4)) if with_state else None
    c0 = rng.normal(size=(rows, batch, 4)) if with_state and mode == "LSTM" else None

    states = ("h0", "c0") if with_state and mode == "LSTM" else ("h0",) if with_state else ()
    model = build_model(spec, params, np.float64, seq_len, batch, states)
    onnx.checker.check_model(model)
    expected = ReferenceEvaluator(model).run(None, feeds(spec, x, h0, c0, None))

    got = numpy_reference.forward(spec, params, x, h0, c0)
    names = ("output", "h_n", "c_n")
    for name, g, e in zip(names, got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=name)
    assert len(expected) == (3 if mode == "LSTM" else 2)


LENGTHS_GRID = list(itertools.product(("RNN", "LSTM", "GRU"), (1, 2), (False, True)))


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional",
    LENGTHS_GRID,
    ids=[f"{m}-L{n}-{'bi' if b else 'uni'}" for m, n, b in LENGTHS_GRID],
)
def test_reference_with_lengths_matches_onnx_run_row_by_row(mode, num_layers, bidirectional):
    """Packed semantics without trusting any packing code: a row of length L is the ONNX graph
    run on that row's first L steps alone (onnx.reference ignores sequence_lens, so each row is
    run on its own). Its padded outputs must be exactly 0."""
    spec = Spec(
        mode=mode, input_size=3, hidden_size=4, num_layers=num_layers, bidirectional=bidirectional
    )
    seq_len, lengths = 5, np.array([3, 5, 1, 3])
    batch, rows = len(lengths), num_layers * spec.num_directions
    params = {k: v.astype(np.float64) for k, v in init_params(spec, seed=11).items()}
    rng = np.random.default_rng(5)
    x = rng.normal(size=(seq_len, batch, spec.input_size))
    h0 = rng.normal(size=(rows, batch, 4))
    c0 = rng.normal(size=(rows, batch, 4)) if mode == "LSTM" else None

    output, h_n, c_n = numpy_reference.forward(spec, params, x, h0, c0, lengths)
    states = ("h0", "c0") if mode == "LSTM" else ("h0",)
    for n, length in enumerate(lengths):
        row = slice(n, n + 1)
        model = build_model(spec, params, np.float64, int(length), 1, states)
        row_feeds = feeds(
            spec, x[:length, row], h0[:, row], None if c0 is None else c0[:, row], None
        )
        expected = ReferenceEvaluator(model).run(None, row_feeds)
        np.testing.assert_allclose(output[:length, row], expected[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(output[length:, n], 0.0)
        np.testing.assert_allclose(h_n[:, row], expected[1], rtol=1e-12, atol=1e-12)
        if mode == "LSTM":
            np.testing.assert_allclose(c_n[:, row], expected[2], rtol=1e-12, atol=1e-12)

"""`keras-onnx`: the `keras` model converted by tf2onnx agrees with the `keras` implementation."""

from __future__ import annotations

import numpy as np
import pytest

import adapters
from adapters import Spec

pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")


def require(*names: str) -> None:
    for name in names:
        if reason := adapters.IMPLEMENTATIONS[name].unavailable_reason():
            pytest.skip(f"{name}: {reason}")


def test_a_two_layer_bidirectional_gru_with_h0_matches_keras():
    require("keras", "keras-onnx")
    spec = Spec(mode="GRU", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    params = adapters.init_params(spec, seed=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2, 3)).astype(np.float32)
    h0 = rng.normal(size=(4, 2, 4)).astype(np.float32)
    expected = adapters.run("keras", spec, params, x, h0)
    got = adapters.run("keras-onnx", spec, params, x, h0)
    assert got[2] is None
    for g, e in zip(got[:2], expected[:2]):
        assert g.dtype == np.float32 and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_a_masked_batch_first_lstm_given_only_c0_matches_keras():
    require("keras", "keras-onnx")
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, batch_first=True)
    params = adapters.init_params(spec, seed=4)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 3)).astype(np.float32)
    c0 = rng.normal(size=(1, 3, 4)).astype(np.float32)
    lengths = np.array([5, 2, 3])
    expected = adapters.run("keras", spec, params, x, None, c0, lengths)
    got = adapters.run("keras-onnx", spec, params, x, None, c0, lengths)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)

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


# tf2onnx's optimizer passes run in place (keras_onnx_adapter.from_keras): its conversions are
# not deterministic even run the default way twice (node names, the order of a Loop body's
# outputs), so a converted model is compared by its operators and by what ONNX Runtime computes
# from it, bit for bit.


def operator_counts(model) -> dict[str, int]:
    counts: dict[str, int] = {}

    def walk(graph):
        for node in graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
            for attribute in node.attribute:
                for subgraph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                    walk(subgraph)

    walk(model.graph)
    return counts


def converted(request, in_place: bool, monkeypatch):
    """(operator counts, ONNX Runtime's outputs) of the request's conversion."""
    import onnxruntime
    import tf2onnx

    from adapters import keras_onnx_adapter as keras_onnx

    if not in_place:  # tf2onnx as installed, its default path
        monkeypatch.setattr(
            keras_onnx,
            "from_keras",
            lambda model, signature: tf2onnx.convert.from_keras(
                model, input_signature=signature, opset=keras_onnx.OPSET
            )[0],
        )
    model_bytes, inputs = keras_onnx.convert(request)
    monkeypatch.undo()
    import onnx

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
    return operator_counts(onnx.load_from_string(model_bytes)), session.run(None, feeds)


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, bidirectional, lengths",
    [("GRU", True, False), ("LSTM", False, True), ("RNN", True, True)],
)
def test_a_conversion_in_place_is_tf2onnx_s_default_one(mode, bidirectional, lengths, monkeypatch):
    require("keras-onnx")
    from adapters.request import Request

    spec = Spec(mode=mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=bidirectional)
    params = adapters.init_params(spec, seed=5)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 3)).astype(np.float32)
    h0 = rng.normal(size=(4 if bidirectional else 2, 3, 4)).astype(np.float32)
    request = Request(spec, params, x, h0, None, np.array([5, 2, 4]) if lengths else None)
    default_ops, default_outputs = converted(request, False, monkeypatch)
    ops, outputs = converted(request, True, monkeypatch)
    assert ops == default_ops
    for got, expected in zip(outputs, default_outputs, strict=True):
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_a_conversion_that_raises_in_place_is_made_again_as_tf2onnx_makes_it(monkeypatch):
    require("keras-onnx")
    import tf2onnx

    from adapters import keras_onnx_adapter as keras_onnx

    monkeypatch.setenv("TF2ONNX_CATCH_ERRORS", "a user's own value")
    calls = []

    def from_keras(model, input_signature, opset):
        switch = keras_onnx.os.environ["TF2ONNX_CATCH_ERRORS"]
        calls.append(switch)
        if switch == "FALSE":
            raise ValueError("an optimizer pass failed")
        return ("the default conversion", None)

    monkeypatch.setattr(tf2onnx.convert, "from_keras", from_keras)
    assert keras_onnx.from_keras("model", "signature") == "the default conversion"
    # in place first, then with the user's value; the user's value is left as it was
    assert calls == ["FALSE", "a user's own value"]
    assert keras_onnx.os.environ["TF2ONNX_CATCH_ERRORS"] == "a user's own value"

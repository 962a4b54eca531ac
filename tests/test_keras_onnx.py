"""`keras-onnx`: the `keras` model converted by tf2onnx agrees with the `keras` implementation."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

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
# from it, bit for bit (tests/meta_plugins/keras_onnx_both_ways.py, which does it for a run).


def converted(request, in_place: bool, monkeypatch) -> tuple[bytes, dict, int]:
    """(the request's model, its inputs, how many graph copies tf2onnx's optimizer made)."""
    import tf2onnx.graph
    import tf2onnx.optimizer

    from adapters import keras_onnx_adapter as keras_onnx
    from tests.meta_plugins.keras_onnx_both_ways import converted_by_default

    copies = []
    deepcopy = tf2onnx.optimizer.copy.deepcopy

    def counted(value, *args, **kwargs):
        copies.extend([1] * isinstance(value, tf2onnx.graph.Graph))  # not its statistics
        return deepcopy(value, *args, **kwargs)

    counting = SimpleNamespace(deepcopy=counted)
    monkeypatch.setattr(tf2onnx.optimizer, "copy", counting)
    if in_place:
        model, inputs = keras_onnx.convert(request)
    else:
        model, inputs = converted_by_default(request, keras_onnx.convert), None
    monkeypatch.undo()
    return model, inputs, len(copies)


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, bidirectional, lengths",
    [("GRU", True, False), ("LSTM", False, True), ("RNN", True, True)],
)
def test_a_conversion_in_place_is_tf2onnx_s_default_one(mode, bidirectional, lengths, monkeypatch):
    require("keras-onnx")
    from adapters.request import Request
    from tests.meta_plugins.keras_onnx_both_ways import computed, differences, operator_counts

    spec = Spec(mode=mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=bidirectional)
    params = adapters.init_params(spec, seed=5)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 3)).astype(np.float32)
    h0 = rng.normal(size=(4 if bidirectional else 2, 3, 4)).astype(np.float32)
    request = Request(spec, params, x, h0, None, np.array([5, 2, 4]) if lengths else None)
    default, _, default_copies = converted(request, False, monkeypatch)
    model, inputs, copies = converted(request, True, monkeypatch)
    assert default_copies > 0 and copies == 0  # tf2onnx still honours its switch
    assert differences(model, inputs, default) == []
    assert operator_counts(model) == operator_counts(default)
    assert not isinstance(computed(model, inputs), str)  # it runs: outputs were compared
    other = replace(request, spec=replace(spec, num_layers=1), h0=h0[: spec.num_directions])
    assert differences(converted(other, True, monkeypatch)[0], inputs, default)  # it can fail


@pytest.mark.parametrize("users_value", [None, "a user's own value"])
@pytest.mark.parametrize("fails_in_place", [True, False])
def test_a_conversion_that_raises_in_place_is_made_again_as_tf2onnx_makes_it(
    users_value, fails_in_place, monkeypatch
):
    require("keras-onnx")
    import tf2onnx

    from adapters import keras_onnx_adapter as keras_onnx

    name = "TF2ONNX_CATCH_ERRORS"
    if users_value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, users_value)
    calls = []

    def from_keras(model, input_signature, opset):
        switch = keras_onnx.os.environ.get(name)
        calls.append(switch)
        if switch == "FALSE" and fails_in_place:
            raise ValueError("an optimizer pass failed")
        return (f"converted with {switch}", None)

    monkeypatch.setattr(tf2onnx.convert, "from_keras", from_keras)
    result = keras_onnx.from_keras("model", "signature")
    # in place first, then, where that raised, as the user has it; the user's setting is left
    assert calls == (["FALSE", users_value] if fails_in_place else ["FALSE"])
    assert result == f"converted with {calls[-1]}"
    assert keras_onnx.os.environ.get(name) == users_value

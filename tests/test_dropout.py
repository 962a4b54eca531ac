"""The dropout check fails on an implementation that gets training-mode dropout wrong, and says
where; an honest dropout implementation passes every property.

The implementation judged here is a NumPy model of dropout written for this test: PyTorch's
equations (the reference, one layer at a time) with inverted dropout, seeded by the request,
between layers (PyTorch's `dropout`) or on each layer's input (Keras' `dropout`). Each planted
mistake is a flag of that model, run on every side of the relation, as a real bug would be. The
cases name torch (between layers) or keras-torch (input dropout) only so that the registry lets
them run (keras-torch declares no divergence for input dropout; keras's rate-1 one would cover
these cases); neither framework is imported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters import Request, Unsupported, numpy_reference
from adapters.request import named
from conformance.cases import Case
from conformance.check import run_case
from conformance.checks.dropout import output_changed


def dropped(rng, values: np.ndarray, rate: float) -> np.ndarray:
    """Inverted dropout: each element zeroed with probability `rate`, the rest scaled up."""
    if rate >= 1.0:
        return np.zeros_like(values)
    keep = rng.random(values.shape) >= rate
    return values * keep / (1.0 - rate)


def one_layer(request: Request, layer: int, x: np.ndarray) -> Request:
    """Layer `layer` of a unidirectional time-major request, alone, in inference."""
    spec = request.spec
    suffix = f"_l{layer}"
    params = {
        name.replace(suffix, "_l0"): value
        for name, value in request.params.items()
        if name.endswith(suffix)
    }

    def state(a):
        return None if a is None else a[layer : layer + 1]

    layer_spec = replace(spec, num_layers=1, input_size=spec.layer_input_size(layer), dropout=0.0)
    return replace(
        request,
        spec=layer_spec,
        params=params,
        x=x,
        h0=state(request.h0),
        c0=state(request.c0),
        training=False,
        input_dropout=0.0,
    )


def dropout_model(in_inference=False, on_last_output=False, rate_ignored=False):
    """A runner: the honest model, or one with a planted mistake."""

    def runner(name: str, request: Request):
        spec = request.spec
        assert not spec.batch_first and not spec.bidirectional  # the dropout check's layout
        rng = np.random.default_rng(request.seed)
        active = (request.training or in_inference) and not rate_ignored
        between = spec.dropout if active else 0.0
        on_input = request.input_dropout if active else 0.0
        inputs, h_n, c_n = request.x, [], []
        for layer in range(spec.num_layers):
            if on_input:
                inputs = dropped(rng, inputs, on_input)
            tensors = numpy_reference.run(one_layer(request, layer, inputs))
            h_n.append(tensors["h_n"])
            c_n.append(tensors.get("c_n"))
            inputs = tensors["output"]
            if between and (layer < spec.num_layers - 1 or on_last_output):
                inputs = dropped(rng, inputs, between)
        cells = np.concatenate(c_n) if spec.has_cell_state else None
        return named(spec, inputs, np.concatenate(h_n), cells)

    return runner


def case(kind: str, prop: str, mode: str = "LSTM", dtype: str = "float64") -> Case:
    return Case(
        "dropout",
        mode,
        num_layers=1 if prop == "one_layer_ignores" else 2,
        dropout=kind,
        dropout_property=prop,
        implementation="torch" if kind == "between" else "keras-torch",
        dtype=dtype,
    )


PROPERTIES = {
    "between": (
        "inference_ignores",
        "training_rate0",
        "training_changes",
        "training_rate1",
        "one_layer_ignores",
    ),
    "input": ("inference_ignores", "training_rate0", "training_changes", "training_rate1"),
}


@pytest.mark.parametrize(
    "kind, prop", [(kind, prop) for kind, props in PROPERTIES.items() for prop in props]
)
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_honest_dropout_passes(kind, prop, mode):
    result = run_case(case(kind, prop, mode, "float32"), dropout_model())
    assert result.outcome == "passed", result.report()


@pytest.mark.parametrize("kind", ["between", "input"])
def test_dropout_in_inference_fails_inference_ignores(kind):
    result = run_case(case(kind, "inference_ignores"), dropout_model(in_inference=True))
    assert result.outcome == "failed", result.report()
    assert "output" in result.reason and "h_n" in result.reason
    (h_n,) = [c for c in result.comparisons if c.name == "h_n"]
    if kind == "between":  # the first layer's state is before any dropout: only layer 1 is off
        assert h_n.worst["layer"] == 1
        assert h_n.mismatched <= h_n.size // 2


def test_dropout_on_the_last_output_fails_rate_one_in_output_only():
    result = run_case(case("between", "training_rate1", "GRU"), dropout_model(on_last_output=True))
    assert result.outcome == "failed", result.report()
    assert result.reason.endswith("in output"), result.reason  # h_n, taken before it, agrees
    (output,) = [c for c in result.comparisons if c.name == "output"]
    assert output.worst["got"] == 0.0 and output.worst["layer"] == 1
    assert output.mismatched == output.size  # every element of the last layer's output dropped


@pytest.mark.parametrize("kind", ["between", "input"])
def test_rate_ignored_in_training_fails_and_names_the_unchanged_steps(kind):
    result = run_case(case(kind, "training_changes"), dropout_model(rate_ignored=True))
    assert result.outcome == "failed", result.report()
    assert "output_changed" in result.reason
    (changed,) = [c for c in result.comparisons if c.name == "output_changed"]
    assert changed.mismatched == changed.size  # no step of any row changed
    assert changed.worst["got"] == 0.0 and changed.worst["expected"] == 1.0
    assert "time step" in changed.worst and "batch row" in changed.worst


def test_rate_ignored_in_training_fails_rate_one():
    result = run_case(case("input", "training_rate1"), dropout_model(rate_ignored=True))
    assert result.outcome == "failed", result.report()
    assert "output" in result.reason


def recurrent_dropout_model(in_inference=False, on_cell_state=False, rate_ignored=False):
    """A runner for Keras' `recurrent_dropout` (one layer after another, one step at a time):
    the state entering the recurrent product is dropped with one mask per layer for all steps;
    LSTM's c is not (it enters no product). SimpleRNN and LSTM only: each step is the reference
    run for one step from the dropped h (and the undropped c). A planted mistake is a flag."""

    def runner(name: str, request: Request):
        spec = request.spec
        assert spec.mode in ("RNN", "LSTM") and not spec.bidirectional and not spec.batch_first
        rng = np.random.default_rng(request.seed)
        active = (request.training or in_inference) and not rate_ignored
        rate = request.recurrent_dropout if active else 0.0
        inputs, h_n, c_n = request.x, [], []
        for layer in range(spec.num_layers):
            alone = one_layer(request, layer, inputs)
            h, c = alone.h0, alone.c0
            mask = dropped(rng, np.ones_like(h), rate)
            steps = []
            for t in range(inputs.shape[0]):
                step = replace(alone, x=inputs[t : t + 1], h0=h * mask)
                if spec.has_cell_state:
                    step = replace(step, c0=c * mask if on_cell_state else c)
                tensors = numpy_reference.run(step)
                steps.append(tensors["output"])
                h, c = tensors["h_n"], tensors.get("c_n")
            inputs = np.concatenate(steps)
            h_n.append(h)
            c_n.append(c)
        cells = np.concatenate(c_n) if spec.has_cell_state else None
        return named(spec, inputs, np.concatenate(h_n), cells)

    return runner


def recurrent_case(prop: str, mode: str) -> Case:
    return replace(case("recurrent", prop, mode, "float32"), implementation="keras")


@pytest.fixture
def undeclared(monkeypatch):
    """Judge as an implementation that declares no divergence (Keras declares that its LSTM
    ignores a recurrent rate of 1: docs/findings/keras-rnn-dropout-rate-one.md)."""
    from conformance import check

    monkeypatch.setattr(check, "divergences_for", lambda case: [])


RECURRENT_PROPERTIES = ("inference_ignores", "training_rate0", "training_changes", "training_rate1")


@pytest.mark.parametrize("prop", RECURRENT_PROPERTIES)
@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM"])
def test_honest_recurrent_dropout_passes(prop, mode, undeclared):
    result = run_case(recurrent_case(prop, mode), recurrent_dropout_model())
    assert result.outcome == "passed", result.report()


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM"])
def test_recurrent_dropout_in_inference_fails_inference_ignores(mode, undeclared):
    model = recurrent_dropout_model(in_inference=True)
    result = run_case(recurrent_case("inference_ignores", mode), model)
    assert result.outcome == "failed", result.report()
    (output,) = [c for c in result.comparisons if c.name == "output"]
    assert {"time step", "batch row", "layer", "unit"} <= set(output.worst)  # located
    assert output.mismatched > output.size // 2  # the whole run drifts, not one element


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM"])
def test_recurrent_rate_ignored_in_training_fails_and_names_the_unchanged_steps(mode, undeclared):
    model = recurrent_dropout_model(rate_ignored=True)
    result = run_case(recurrent_case("training_changes", mode), model)
    assert result.outcome == "failed", result.report()
    (changed,) = [c for c in result.comparisons if c.name == "output_changed"]
    assert changed.mismatched == changed.size


def test_recurrent_dropout_on_the_cell_state_fails_rate_one(undeclared):
    """Rate 1 is the result without the recurrent product; dropping c as well zeroes the cell
    memory at every step: c_n is wrong, and so is everything computed from it."""
    model = recurrent_dropout_model(on_cell_state=True)
    result = run_case(recurrent_case("training_rate1", "LSTM"), model)
    assert result.outcome == "failed", result.report()
    assert "c_n" in result.reason, result.reason
    honest = run_case(recurrent_case("training_rate1", "LSTM"), recurrent_dropout_model())
    assert honest.outcome == "passed", honest.report()


def test_output_changed_marks_each_step_and_row():
    trained = {"output": np.zeros((3, 2, 4), np.float32)}
    inferred = {"output": np.zeros((3, 2, 4), np.float32)}
    trained["output"][1, 0, 2] = 1.0
    the_case = case("between", "training_changes", dtype="float32")
    changed = output_changed(the_case, trained, inferred)
    assert changed.shape == (3, 2, 1) and changed.dtype == np.float32
    assert changed[:, :, 0].tolist() == [[0, 0], [1, 0], [0, 0]]


def small_request(**fields) -> Request:
    spec = adapters.Spec("GRU", 3, 4)
    x = np.zeros((2, 1, 3), np.float32)
    return Request(spec, adapters.init_params(spec), x, **fields)


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"input_dropout": 1.5}, ValueError, "input_dropout must be in"),
        ({"recurrent_dropout": -0.1}, ValueError, "recurrent_dropout must be in"),
        ({"input_dropout": float("nan")}, ValueError, "input_dropout must be in"),
        ({"input_dropout": True}, TypeError, "input_dropout must be a float"),
        ({"training": 1}, TypeError, "training must be a bool"),
        ({"seed": 1.0}, TypeError, "seed must be an int"),
    ],
)
def test_bad_training_fields_are_refused_before_any_framework(fields, error, message):
    with pytest.raises(error, match=message):
        adapters.run_request("numpy", small_request(**fields))


@pytest.mark.parametrize(
    "name, fields, reason",
    [
        ("numpy", {"training": True}, "no training mode"),
        ("torch", {"input_dropout": 0.5}, "no dropout on a layer's input"),
        ("torch", {"recurrent_dropout": 0.5}, "no dropout on the recurrent state"),
        ("flax", {"training": True}, "no training or deterministic flag"),
        ("onnxruntime", {"training": True}, "inference graph"),
    ],
)
def test_what_a_framework_lacks_is_unsupported_with_its_reason(name, fields, reason):
    with pytest.raises(Unsupported, match=reason):
        adapters.run_request(name, small_request(**fields))


def test_keras_drops_between_layers_with_a_dropout_layer_after_the_first_layer_only():
    """Rate 1 in training: the second layer's input is zero (its weight_ih has no effect), the
    first layer's input is kept and the last layer's output is not dropped (not zero)."""
    if reason := adapters.IMPLEMENTATIONS["keras"].unavailable_reason():
        pytest.skip(reason)
    spec = adapters.Spec("GRU", 3, 4, num_layers=2, dropout=1.0)
    rng = np.random.default_rng(0)
    params = adapters.init_params(spec, seed=1)  # float32
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    request = Request(spec, params, x, training=True)
    got = adapters.run_request("keras", request)
    second_input_dropped = dict(params, weight_ih_l1=np.zeros_like(params["weight_ih_l1"]))
    expected = numpy_reference.run(
        replace(
            request, spec=replace(spec, dropout=0.0), params=second_input_dropped, training=False
        )
    )
    for name in ("output", "h_n"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, err_msg=name)
    assert np.abs(got["output"]).max() > 0.1


def test_the_torchscript_exporter_refuses_dropout_in_training_with_its_own_error():
    if reason := adapters.IMPLEMENTATIONS["torch-onnx-legacy"].unavailable_reason():
        pytest.skip(reason)
    spec = adapters.Spec("GRU", 3, 4, num_layers=2, dropout=0.5)
    request = Request(spec, adapters.init_params(spec), np.zeros((2, 1, 3), np.float32))
    with pytest.raises(Unsupported, match="dropout in training mode"):
        adapters.run_request("torch-onnx-legacy", replace(request, training=True))
    # the registry's reason quotes what the exporter raises when asked anyway
    from torch.onnx.errors import SymbolicValueError

    from adapters import torch_onnx_adapter

    with pytest.raises(SymbolicValueError, match="ONNX export of operator RNN/GRU/LSTM, dropout"):
        torch_onnx_adapter.run_legacy(replace(request, training=True))


def test_torch_warns_that_a_one_layer_module_ignores_its_dropout():
    """The documented warning of the `one_layer_ignores` property, from torch itself."""
    if reason := adapters.IMPLEMENTATIONS["torch"].unavailable_reason():
        pytest.skip(reason)
    spec = adapters.Spec("GRU", 3, 4, dropout=0.5)
    request = Request(spec, adapters.init_params(spec), np.zeros((2, 1, 3), np.float32))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        adapters.run_request("torch", replace(request, training=True))

"""The gradients check catches backward-only mistakes (the forward values are untouched), names
the gradient and locates its worst element; an honest implementation passes.

Each planted mistake is one a hand-written or translated backward pass makes: a gate's block of a
weight gradient scaled, the bias gradient of a folded bias given to one of the two biases only, the
input gradient's time axis reversed, the reverse direction's initial-state gradient swapped with
the forward one's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters import numpy_reference
from conformance.cases import Case, request_with_cotangents
from conformance.check import run_case
from conformance.compare import INPUT, STATE, WEIGHT, Compared, locate


def case(mode_label="LSTM", layers=2, bi=True, batch_first=False, dtype="float64", **kw):
    return Case("gradients", mode_label, layers, bi, batch_first, dtype=dtype, **kw)


def numpy_with(change):
    """The NumPy reference with a mistake planted in its gradients only."""

    def runner(name, request):
        tensors = dict(numpy_reference.run(request))
        change(request.spec, tensors)
        return tensors

    return runner


def scale_forget_block_of_weight_hh_l1_reverse(spec, tensors):
    grad = tensors["grad_weight_hh_l1_reverse"] = tensors["grad_weight_hh_l1_reverse"].copy()
    grad[spec.hidden_size : 2 * spec.hidden_size] *= 1.01  # LSTM gates i, f, g, o


def folded_bias_gradient_given_to_b_ih_only(spec, tensors):
    tensors["grad_bias_hh_l0"] = np.zeros_like(tensors["grad_bias_hh_l0"])


def input_gradient_time_reversed(spec, tensors):
    time_axis = 1 if spec.batch_first else 0
    tensors["grad_x"] = np.flip(tensors["grad_x"], axis=time_axis).copy()


def initial_state_gradient_directions_swapped(spec, tensors):
    grad = tensors["grad_h0"]
    tensors["grad_h0"] = grad.reshape(spec.num_layers, 2, *grad.shape[1:])[:, ::-1].reshape(
        grad.shape
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "the_case, mistake, gradient, where",
    [
        (
            case("LSTM"),
            scale_forget_block_of_weight_hh_l1_reverse,
            "grad_weight_hh_l1_reverse",
            {"layer": 1, "direction": "backward", "gate": "forget (f)"},
        ),
        (case("GRU", layers=1, bi=False), folded_bias_gradient_given_to_b_ih_only,
         "grad_bias_hh_l0", {"layer": 0, "direction": "forward"}),
        (case("RNN_TANH", batch_first=True), input_gradient_time_reversed, "grad_x", {}),
        (case("GRU", layers=1), initial_state_gradient_directions_swapped, "grad_h0", {}),
    ],
    ids=["gate-block", "folded-bias", "time-reversed-grad_x", "h0-directions"],
)  # fmt: skip
def test_a_backward_only_mistake_fails_names_the_gradient_and_locates_it(
    the_case, mistake, gradient, where, dtype
):
    the_case = replace(the_case, dtype=dtype)
    result = run_case(the_case, numpy_with(mistake))
    assert result.outcome == "failed", result.report()
    assert result.reason == f"differs from the reference in {gradient}", result.reason
    worst = next(c for c in result.comparisons if c.name == gradient).worst
    assert where.items() <= worst.items(), worst
    forward = [c for c in result.comparisons if not c.name.startswith("grad_")]
    assert forward and all(c.ok for c in forward)  # the forward values were untouched


def test_the_honest_reference_passes_with_every_gradient_compared():
    the_case = case("LSTM", proj_size=8)
    result = run_case(the_case)
    assert result.outcome == "passed", result.report()
    names = {c.name for c in result.comparisons}
    params = adapters.param_shapes(the_case.spec)
    assert names == {"output", "h_n", "c_n", "grad_x", "grad_h0", "grad_c0"} | {
        f"grad_{p}" for p in params
    }


def test_an_implementation_without_gradients_fails_naming_each_missing_one():
    def forward_only(name, request):
        tensors = numpy_reference.run(request)
        return {k: v for k, v in tensors.items() if not k.startswith("grad_")}

    result = run_case(case("GRU", layers=1, bi=False), forward_only)
    assert result.outcome == "failed"
    assert "grad_x" in result.reason and "grad_weight_ih_l0" in result.reason


def test_gradients_without_cotangents_are_never_returned():
    spec = adapters.Spec("GRU", 3, 4)
    x = np.ones((5, 2, 3))
    tensors = adapters.run_request("numpy", adapters.Request(spec, adapters.init_params(spec), x))
    assert set(tensors) == {"output", "h_n"}


@pytest.mark.parametrize(
    "compared, index, expected",
    [
        (Compared("grad_weight_ih_l1", "grad_weight_ih_l1", WEIGHT), (9 * 3 + 2, 4),
         {"layer": 1, "direction": "forward", "gate": "output (o)", "unit": 2, "column": 4}),
        (Compared("grad_bias_hh_l0_reverse", "grad_bias_hh_l0_reverse", WEIGHT), (9,),
         {"layer": 0, "direction": "backward", "gate": "forget (f)", "unit": 0}),
        (Compared("grad_weight_hr_l0", "grad_weight_hr_l0", WEIGHT), (3, 1),
         {"layer": 0, "gate": "projection", "unit": 3, "column": 1}),
        (Compared("grad_x", "grad_x", INPUT), (6, 4, 9),
         {"time step": 6, "batch row": 4, "feature": 9}),
        (Compared("grad_c0", "grad_c0", STATE), (3, 1, 8),
         {"layer": 1, "direction": "backward", "batch row": 1, "unit": 8}),
    ],
)  # fmt: skip
def test_a_gradient_element_is_located_by_gate_layer_direction_or_step(compared, index, expected):
    spec = adapters.Spec("LSTM", 10, 9, num_layers=2, bidirectional=True, proj_size=8)
    where = locate(spec, compared, index)
    assert expected.items() <= where.items(), where


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda c: c.pop("c_n"), "keys"),
        (lambda c: c.update(extra=c["h_n"]), "keys"),
        (lambda c: c.update(h_n=c["h_n"][:, :2]), "shape"),
        (lambda c: c.update(output=c["output"].astype(int)), "floating"),
        (lambda c: c.update(output=c["output"].tolist()), "numpy array"),
    ],
    ids=["missing", "extra", "shape", "integer", "list"],
)
def test_bad_cotangents_are_refused_before_the_framework_runs(change, error):
    request = request_with_cotangents(case("LSTM", layers=1, bi=False, batch_first=True))
    cotangents = dict(request.cotangents)
    change(cotangents)
    with pytest.raises((TypeError, ValueError), match=error):
        adapters.run_request("numpy", replace(request, cotangents=cotangents))

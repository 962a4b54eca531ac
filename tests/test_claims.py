"""The claims check: h_n of the last layer IS output's last step (bitwise), and output, h_n and c_n
have the documented shapes. Planted mistakes fail and are located; one ulp is enough to fail."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import numpy_reference
from conformance import repro
from conformance.cases import Case
from conformance.check import run_case
from conformance.grid import all_cases


def numpy_with(change):
    def runner(name, request):
        tensors = dict(numpy_reference.run(request))
        return change(request.spec, tensors)

    return runner


def time_major(spec, output):
    return np.swapaxes(output, 0, 1) if spec.batch_first else output


def h_n_one_ulp_off(spec, tensors):
    """h_n computed again, rounded once differently: what a separate final-state path gives."""
    h_n = tensors["h_n"].copy()
    h_n[-1, 2, 3] = np.nextafter(h_n[-1, 2, 3], np.inf, dtype=h_n.dtype)
    return {**tensors, "h_n": h_n}


def backward_h_n_from_the_last_step(spec, tensors):
    """The backward half of h_n taken at the last step, where the forward half ends."""
    h_n = tensors["h_n"].copy()
    h_n[-1] = time_major(spec, tensors["output"])[-1, :, spec.output_size :]
    return {**tensors, "h_n": h_n}


def h_n_of_the_first_layer(spec, tensors):
    """h_n's layers in the wrong order: the last layer's final state is not last."""
    rows = spec.num_directions
    h_n = np.concatenate([tensors["h_n"][-rows:], tensors["h_n"][:-rows]])
    return {**tensors, "h_n": h_n}


def h_n_before_the_projection(spec, tensors):
    """h_n of hidden_size for an LSTM with proj_size: the state before weight_hr."""
    h_n = tensors["h_n"]
    padding = np.zeros((*h_n.shape[:2], spec.hidden_size - spec.proj_size), h_n.dtype)
    return {**tensors, "h_n": np.concatenate([h_n, padding], axis=2)}


@pytest.mark.parametrize(
    "the_case, change, where",
    [
        (Case("claims", "GRU", dtype="float32"), h_n_one_ulp_off, (0, "forward", 2, 3)),
        (Case("claims", "LSTM", 2, True), h_n_one_ulp_off, (1, "backward", 2, 3)),
        (
            Case("claims", "RNN_TANH", 1, True, True),
            backward_h_n_from_the_last_step,
            (0, "backward"),
        ),
        (Case("claims", "GRU", 2, dtype="float32"), h_n_of_the_first_layer, (1, "forward")),
    ],
    ids=["one-ulp-f32", "one-ulp-bi-f64", "backward-half-at-the-last-step", "layers-swapped"],
)
def test_h_n_that_is_not_output_s_final_step_fails_and_is_located(the_case, change, where):
    result = run_case(the_case, numpy_with(change))
    assert result.outcome == "failed", result.report()
    assert result.reason == "breaks the relation in h_n"
    (h_n,) = [c for c in result.comparisons if c.name == "h_n"]
    assert (h_n.worst["layer"], h_n.worst["direction"]) == where[:2]
    if len(where) == 4:  # one element, one ulp
        assert h_n.mismatched == 1
        assert (h_n.worst["batch row"], h_n.worst["unit"]) == where[2:]
        assert 0 < h_n.max_abs_err < 1e-6
    report = result.report()
    assert "compared with the same call's output at its last (backward half: first) step" in report
    assert "exact equality" in report
    assert f"python -m conformance.repro {the_case.id}" in report


def test_h_n_of_hidden_size_with_a_projection_fails_on_its_shape():
    the_case = Case("claims", "LSTM", 2, True, proj_size=8)
    result = run_case(the_case, numpy_with(h_n_before_the_projection))
    assert result.outcome == "failed"
    (h_n,) = [c for c in result.comparisons if c.name == "h_n"]
    assert (h_n.got_shape, h_n.expected_shape) == ((4, 5, 9), (4, 5, 8))


def test_output_and_c_n_are_checked_for_their_shape_only():
    the_case = Case("claims", "LSTM", 2, True, proj_size=8)
    result = run_case(the_case)
    assert result.outcome == "passed", result.report()
    by_name = {c.name: c for c in result.comparisons}
    assert by_name["output"].expected_shape == (7, 5, 16) and by_name["output"].size == 0
    assert by_name["c_n"].expected_shape == (4, 5, 9) and by_name["c_n"].size == 0
    assert by_name["h_n"].expected_shape == (4, 5, 8)
    assert by_name["h_n"].size == 2 * 5 * 8  # the last layer's two directions

    def c_n_projected(spec, tensors):
        return {**tensors, "c_n": tensors["c_n"][..., : spec.proj_size]}

    failed = run_case(the_case, numpy_with(c_n_projected))
    assert failed.outcome == "failed" and "c_n" in failed.reason


def test_the_claims_are_exact_in_the_record():
    record = run_case(Case("claims", "GRU", dtype="float32")).record("t")
    assert record["tolerance"] == {"atol": 0.0, "rtol": 0.0}
    assert record["metrics"]["h_n"]["max_abs_err"] == 0


def test_the_honest_reference_keeps_every_claim(capsys):
    for the_case in all_cases(["numpy"], checks=("claims",)):
        result = run_case(the_case)
        assert result.outcome == "passed", result.report()
    assert repro.main([the_case.id]) == 0

"""The low_precision check: its calibration on hand-rounded values, planted mistakes that it
catches and locates, and an answer from every implementation for float16 and bfloat16."""

from __future__ import annotations

import math
import struct
from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters import numpy_reference
from adapters.dtypes import BFLOAT16, eps
from adapters.layout import reorder_gates
from adapters.request import Request, named
from adapters.spec import Spec
from conformance import baseline
from conformance.axes import LOW_DTYPES
from conformance.cases import Case
from conformance.check import run_case, tolerance_of
from conformance.checks import CHECKS, low_precision
from conformance.grid import all_cases
from conformance.tolerances import Tolerance


def half(v: float) -> float:
    """v rounded to IEEE float16 by Python's struct, not by NumPy."""
    return struct.unpack("<e", struct.pack("<e", v))[0]


def brain(v: float) -> float:
    """v rounded to bfloat16 by hand: float32 first, then the upper 16 bits, ties to even."""
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def one_step_rnn(dtype) -> Request:
    """A one-unit tanh RNN, one step, one row: h = tanh(x w_ih + b_ih + h0 w_hh + b_hh)."""
    spec = Spec(mode="RNN", input_size=1, hidden_size=1)
    values = {"weight_ih_l0": 0.3, "weight_hh_l0": -0.7, "bias_ih_l0": 0.11, "bias_hh_l0": 0.05}
    params = {name: np.full((1, 1) if "weight" in name else (1,), v) for name, v in values.items()}
    return Request(
        spec=spec,
        params={name: value.astype(dtype) for name, value in params.items()},
        x=np.full((1, 1, 1), 0.9).astype(dtype),
        h0=np.full((1, 1, 1), 0.45).astype(dtype),
    )


@pytest.mark.parametrize(("dtype", "rounded"), [("float16", half), ("bfloat16", brain)])
def test_the_reference_rounds_every_operation_to_the_dtype(dtype, rounded):
    """Each product, sum and the tanh rounded to the dtype, in the order the equations add."""
    x, w_ih, b_ih = rounded(0.9), rounded(0.3), rounded(0.11)
    h0, w_hh, b_hh = rounded(0.45), rounded(-0.7), rounded(0.05)
    input_part = rounded(rounded(x * w_ih) + b_ih)
    hidden_part = rounded(rounded(h0 * w_hh) + b_hh)
    by_hand = rounded(math.tanh(rounded(input_part + hidden_part)))

    got = numpy_reference.run(one_step_rnn(np.dtype(dtype)))
    assert got["output"].dtype == np.dtype(dtype) and got["h_n"].dtype == np.dtype(dtype)
    assert float(got["output"][0, 0, 0]) == by_hand
    exact = math.tanh(x * w_ih + b_ih + h0 * w_hh + b_hh)  # the float64 reference, same inputs
    assert abs(by_hand - exact) > 0  # the rounding is visible: there is something to calibrate


def test_the_tolerance_is_k_times_the_reference_error_with_a_floor(monkeypatch):
    case = Case("low_precision", "GRU", implementation="torch", dtype="bfloat16")
    error = low_precision.calibration_error(case)
    assert 0 < error < 0.1  # bfloat16 (eps 2^-7) over 7 steps: far from zero and from a bug
    assert tolerance_of(case) == Tolerance(atol=low_precision.K * error, rtol=0.0)

    monkeypatch.setattr(low_precision, "calibration_error", lambda case: 0.0)
    floor = low_precision.FLOOR_ULPS * eps("bfloat16")
    assert low_precision.calibrated_tolerance(case) == Tolerance(atol=floor, rtol=0.0)


def test_the_calibration_is_per_case_and_layout_independent():
    base = Case("low_precision", "LSTM", 2, True, implementation="torch", dtype="float16")
    other = replace(base, mode_label="RNN_RELU")
    assert low_precision.calibration_error(base) != low_precision.calibration_error(other)
    batch_first = replace(base, batch_first=True, implementation="keras")
    assert tolerance_of(batch_first) == tolerance_of(base)


def faithful(result_change=None, params_change=None):
    """A runner computing in the request's dtype as the NumPy reference does (a faithful
    low-precision implementation), with one planted mistake."""

    def runner(name, request):
        if params_change is not None:
            request = replace(request, params=params_change(dict(request.params)))
        result = numpy_reference.run(request)
        return result if result_change is None else result_change(request, result)

    return runner


def lstm_input_forget_swapped(params):
    for name in params:
        params[name] = reorder_gates(params[name], "LSTM", "figo")
    return params


def gru_bias_hh_dropped(params):
    return {k: np.zeros_like(v) if k.startswith("bias_hh") else v for k, v in params.items()}


def in_float32_not_rounded(request, result):
    wide = numpy_reference.run(
        replace(
            request,
            params={k: v.astype(np.float32) for k, v in request.params.items()},
            x=request.x.astype(np.float32),
            h0=request.h0.astype(np.float32),
            c0=None if request.c0 is None else request.c0.astype(np.float32),
        )
    )
    return wide


def in_float32_rounded(request, result):
    wide = in_float32_not_rounded(request, result)
    return {name: value.astype(request.dtype) for name, value in wide.items()}


CASES = [
    Case("low_precision", mode, 2, True, implementation="torch", dtype=dtype)
    for mode in ("LSTM", "GRU")
    for dtype in LOW_DTYPES
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_faithful_implementation_passes(case):
    result = run_case(case, faithful())
    assert result.outcome == "passed", result.report()
    result = run_case(case, faithful(in_float32_rounded))  # float32 inside, outputs rounded
    assert result.outcome == "passed", result.report()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float32_arrays_for_a_low_precision_request_fail_as_a_dtype_problem(case):
    result = run_case(case, faithful(in_float32_not_rounded))
    assert result.outcome == "failed"
    problems = {c.name: c.problem for c in result.comparisons}
    assert problems["output"] == f"has dtype float32, expected {case.dtype} (the input's)"


@pytest.mark.parametrize("dtype", LOW_DTYPES)
def test_a_gate_swap_fails_and_is_located(dtype):
    case = Case("low_precision", "LSTM", 1, False, implementation="torch", dtype=dtype)
    result = run_case(case, faithful(params_change=lstm_input_forget_swapped))
    assert result.outcome == "failed", result.report()
    worst = max(result.comparisons, key=lambda c: c.tolerance_ratio)
    assert worst.tolerance_ratio > 3, result.report()  # not a near miss: far out of bound
    assert {"time step", "batch row", "layer", "direction", "unit"} <= set(
        next(c for c in result.comparisons if c.name == "output").worst
    )


@pytest.mark.parametrize("dtype", LOW_DTYPES)
def test_a_dropped_recurrent_bias_fails(dtype):
    case = Case("low_precision", "GRU", 2, True, implementation="torch", dtype=dtype)
    result = run_case(case, faithful(params_change=gru_bias_hh_dropped))
    assert result.outcome == "failed", result.report()
    assert "output" in result.reason and "h_n" in result.reason


def nudged_output(case: Case, times_the_bound: float):
    """A faithful result with one element of `output` (step 1, row 0, unit 0) moved by
    `times_the_bound` times the case's calibrated atol, rounded to the dtype."""
    atol = tolerance_of(case).atol

    def nudge(request, result):
        output = result["output"].astype(np.float64)
        output[1, 0, 0] += times_the_bound * atol
        return {**result, "output": output.astype(request.dtype)}

    return nudge


@pytest.mark.parametrize("dtype", LOW_DTYPES)
def test_the_bound_is_where_it_is_said_to_be(dtype):
    """An error of twice the calibrated bound fails at the element moved; of 0.4 times it,
    passes: the bound judged is the case's own, not a looser one. (The faithful result's own
    error is at most 1/K of the bound, and rounding the moved value adds at most half an ulp,
    at most a quarter of the 2-eps floor.)"""
    case = Case("low_precision", "LSTM", 1, False, implementation="torch", dtype=dtype)
    assert low_precision.K == 4 and low_precision.FLOOR_ULPS >= 2
    result = run_case(case, faithful(nudged_output(case, 2.0)))
    assert result.outcome == "failed", result.report()
    output = next(c for c in result.comparisons if c.name == "output")
    assert 1.4 < output.tolerance_ratio < 2.6, result.report()
    assert (output.worst["time step"], output.worst["batch row"]) == (1, 0), result.report()
    result = run_case(case, faithful(nudged_output(case, 0.4)))
    assert result.outcome == "passed", result.report()


def test_the_numpy_reference_is_the_calibration_not_a_pass():
    case = Case("low_precision", "GRU", implementation="numpy", dtype="float16")
    result = run_case(case)
    assert result.outcome == "skipped"
    assert "calibration" in result.reason


def test_only_low_precision_runs_in_half_precision():
    cases = all_cases(implementations=["torch"])
    by_check = {}
    for case in cases:
        by_check.setdefault(case.check, set()).add(case.dtype)
    assert by_check.pop("low_precision") == set(LOW_DTYPES)
    assert all(dtypes == {"float64", "float32"} for dtypes in by_check.values()), by_check
    assert CHECKS["low_precision"].dtypes == LOW_DTYPES


@pytest.mark.parametrize("impl", list(adapters.IMPLEMENTATIONS))
def test_every_implementation_answers_for_each_low_dtype(impl):
    """Each implementation either runs a low_precision case or says why not: a Limit on the
    dtype itself (with its reason), never the generic 'runs float32, float64' absence."""
    implementation = adapters.IMPLEMENTATIONS[impl]
    cases = all_cases(implementations=[impl], checks=["low_precision"], sampled=False)
    assert {c.dtype for c in cases} == set(LOW_DTYPES)
    for dtype in LOW_DTYPES:
        assert dtype in implementation.dtypes
        of_dtype = [c for c in cases if c.dtype == dtype]
        reasons = {implementation.unsupported_reason(c.setting) for c in of_dtype}
        dtype_limits = [lim for lim in implementation.limits if lim.feature == dtype]
        if dtype_limits:
            assert reasons == {dtype_limits[0].reason} or all(reasons), reasons
        else:
            assert "" in reasons, f"{impl} runs no {dtype} case and declares no {dtype} Limit"


def test_bfloat16_arrays_survive_a_baseline(tmp_path):
    arrays = {
        "output": np.array([[0.5, -1.25]], dtype=BFLOAT16),
        "h_n": np.array([0.1], dtype=np.float16),
    }
    baseline.save_arrays(tmp_path, "some-case", arrays)
    back = baseline.read_case_arrays(tmp_path, "some-case")
    assert set(back) == {"output", "h_n"}
    assert back["output"].dtype == BFLOAT16 and back["h_n"].dtype == np.float16
    np.testing.assert_array_equal(back["output"].astype(np.float32), [[0.5, -1.25]])


def test_a_bfloat16_regression_is_measured_in_bfloat16_ulps():
    from reports.compare import compare_tensor

    old = np.array([0.5, 1.0], dtype=BFLOAT16)
    one_ulp = np.array([0.5, 1.0 + eps("bfloat16")], dtype=BFLOAT16)
    assert compare_tensor(old, one_ulp) is None  # within REGRESSION_ULPS of bfloat16's eps
    moved = np.array([0.5, 1.0 + 16 * eps("bfloat16")], dtype=BFLOAT16)
    assert compare_tensor(old, moved)["where"] == [1]


def test_named_outputs_of_torch_come_back_in_the_request_dtype():
    pytest.importorskip("torch")
    request = one_step_rnn(BFLOAT16)
    got = adapters.run_request("torch", request)
    assert got["output"].dtype == BFLOAT16
    assert set(got) == set(named(request.spec, 0, 0))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("proj_size", [0, 3])
def test_the_reference_computes_in_the_request_dtype_throughout(dtype, proj_size):
    """The calibration is the reference run in the low dtype: every tensor it returns must be of
    that dtype (a bfloat16 matmul promotes to float32; the projection once escaped rounding)."""
    spec = adapters.Spec("LSTM", input_size=4, hidden_size=5, num_layers=2, proj_size=proj_size)
    params = {k: v.astype(dtype) for k, v in adapters.init_params(spec, seed=1).items()}
    x = np.random.default_rng(0).uniform(-1, 1, (3, 2, 4)).astype(dtype)
    tensors = numpy_reference.run(adapters.Request(spec, params, x))
    assert {name: str(t.dtype) for name, t in tensors.items()} == dict.fromkeys(tensors, dtype)

"""The forward check catches planted mistakes, says where, and passes an honest implementation.

Each planted bug is a mistake seen in real ports (gate order, bias folding, reverse-direction
state, layer order, a transposed axis); a harness that lets one through would be useless.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters.layout import reorder_gates
from adapters.request import named
from conformance import plugin
from conformance.cases import Case
from conformance.check import declared_outcome, run_case
from conformance.grid import all_cases


def case(mode_label="LSTM", layers=2, bi=True, batch_first=False, proj=0, dtype="float64"):
    return Case(
        "forward", mode_label, layers, bi, batch_first, proj, implementation="numpy", dtype=dtype
    )


def numpy_with(params_change=None, result_change=None):
    """A runner that is the NumPy reference with one planted mistake."""

    def runner(name, request):
        if params_change is not None:
            request = replace(request, params=params_change(request.spec, dict(request.params)))
        r = request
        result = list(adapters.run("numpy", r.spec, r.params, r.x, r.h0, r.c0, r.lengths))
        if result_change is not None:
            result = result_change(r.spec, result)
        return named(r.spec, *result)

    return runner


def swap_lstm_input_and_forget(spec, params):
    for name in params:
        if name.startswith(("weight_ih", "weight_hh", "bias")):
            params[name] = reorder_gates(params[name], "LSTM", "figo")
    return params


def gru_without_rz_swap(spec, params):  # the classic keras#8720 port mistake, in reverse
    for name in params:
        params[name] = reorder_gates(params[name], "GRU", "zrn")
    return params


def bias_hh_dropped(spec, params):
    return {k: np.zeros_like(v) if k.startswith("bias_hh") else v for k, v in params.items()}


def reverse_h_n_from_last_step(spec, result):
    output, h_n, c_n = result
    time_major = output if not spec.batch_first else np.swapaxes(output, 0, 1)
    h_n = h_n.copy()
    h_n[-1] = time_major[-1, :, spec.output_size :]  # should be output[0, :, H:]
    return [output, h_n, c_n]


def direction_major_h_n(spec, result):
    output, h_n, c_n = result
    layers, directions = spec.num_layers, spec.num_directions
    reordered = h_n.reshape(layers, directions, *h_n.shape[1:]).swapaxes(0, 1).reshape(h_n.shape)
    return [output, reordered, c_n]


def output_seq_first_although_batch_first(spec, result):
    output, h_n, c_n = result
    return [np.swapaxes(output, 0, 1), h_n, c_n]


@pytest.mark.parametrize(
    "the_case, runner, bad_tensor",
    [
        (case(), numpy_with(swap_lstm_input_and_forget), "output"),
        (case(dtype="float32"), numpy_with(swap_lstm_input_and_forget), "c_n"),
        (case("GRU"), numpy_with(gru_without_rz_swap), "output"),
        (case("GRU", dtype="float32"), numpy_with(bias_hh_dropped), "h_n"),
        (case("RNN_TANH"), numpy_with(result_change=reverse_h_n_from_last_step), "h_n"),
        (case("LSTM", proj=8), numpy_with(result_change=reverse_h_n_from_last_step), "h_n"),
        (case("GRU", layers=3), numpy_with(result_change=direction_major_h_n), "h_n"),
        (
            case("RNN_RELU", batch_first=True),
            numpy_with(result_change=output_seq_first_although_batch_first),
            "output",
        ),
    ],
    ids=[
        "lstm-gate-order",
        "lstm-gate-order-f32",
        "gru-rz",
        "gru-bias",
        "reverse-h_n",
        "reverse-h_n-proj",
        "h_n-layer-order",
        "batch_first-ignored",
    ],
)
def test_planted_mistake_fails_and_names_the_tensor(the_case, runner, bad_tensor):
    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert bad_tensor in result.reason
    report = result.report()
    assert f"{bad_tensor}:" in report
    assert "python -m conformance.repro " + the_case.id in report
    assert "pytest 'conformance/test_checks.py::test_check[" + the_case.id + "]'" in report


def test_a_change_of_one_part_in_a_billion_fails_in_float64_and_is_located():
    the_case = case("LSTM", layers=2, bi=True, batch_first=True)

    def nudge_one_element(spec, result):
        output, h_n, c_n = (r.copy() for r in result)
        output[4, 2, spec.hidden_size + 3] *= 1 + 1e-9  # batch-first: batch row 4, time step 2
        return [output, h_n, c_n]

    result = run_case(the_case, numpy_with(result_change=nudge_one_element))
    assert result.outcome == "failed"
    (output,) = [c for c in result.comparisons if c.name == "output"]
    assert output.mismatched == 1
    assert output.worst["time step"] == 2
    assert output.worst["batch row"] == 4
    assert output.worst["direction"] == "backward"
    assert output.worst["unit"] == 3
    assert output.worst["layer"] == 1
    assert "time step 2, batch row 4, layer 1, direction backward, unit 3" in result.report()


def test_a_state_error_is_located_by_layer_and_direction():
    the_case = case("GRU", layers=3, bi=True)

    def nudge_state(spec, result):
        output, h_n, c_n = (r if r is None else r.copy() for r in result)
        h_n[3, 1, 0] += 1e-3  # row 3 = layer 1, backward
        return [output, h_n, c_n]

    result = run_case(the_case, numpy_with(result_change=nudge_state))
    (h_n,) = [c for c in result.comparisons if c.name == "h_n"]
    assert (h_n.worst["layer"], h_n.worst["direction"], h_n.worst["batch row"]) == (
        1,
        "backward",
        1,
    )


def test_nan_never_passes():
    def poison(spec, result):
        output, h_n, c_n = (r.copy() for r in result)
        output[0, 0, 0] = np.nan
        return [output, h_n, c_n]

    assert run_case(case(), numpy_with(result_change=poison)).outcome == "failed"


def test_c_n_returned_for_a_gru_fails():
    def invent_c_n(spec, result):
        return [result[0], result[1], np.zeros_like(result[1])]

    result = run_case(case("GRU"), numpy_with(result_change=invent_c_n))
    assert result.outcome == "failed" and "c_n" in result.reason


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_honest_reference_passes_every_grid_point(dtype):
    """Every case it runs passes; the others are what the declarations say, never `failed`."""
    ran = 0
    for the_case in all_cases(["numpy"], dtypes=(dtype,)):
        declared = declared_outcome(the_case)
        result = run_case(the_case)
        expected = "passed" if declared is None else declared.outcome
        assert result.outcome == expected, result.report()
        ran += declared is None
    assert ran > 900  # the declarations leave the reference most of the grid


def test_unsupported_is_recorded_as_unsupported_and_never_passes():
    def cannot(name, request):
        raise adapters.Unsupported("this framework has no such layer")

    result = run_case(case(), cannot)
    assert result.outcome == "unsupported" and result.record("t")["outcome"] == "unsupported"
    with pytest.raises(pytest.skip.Exception, match="unsupported: this framework has no such"):
        plugin.conclude(result)


def test_an_exception_in_the_implementation_is_an_error_with_its_traceback():
    def broken(name, request):
        raise RuntimeError("cuDNN said no")

    result = run_case(case(), broken)
    assert result.outcome == "error"
    assert result.reason == "RuntimeError: cuDNN said no"
    assert "Traceback" in result.report()
    with pytest.raises(pytest.fail.Exception):
        plugin.conclude(result)


def test_a_missing_gpu_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr("adapters.registry.NVIDIA_DRIVER", "/nonexistent/nvidia")
    the_case = Case("forward", "LSTM", implementation="torch-cuda", dtype="float32")
    result = run_case(the_case)
    assert result.outcome == "skipped" and "NVIDIA GPU" in result.reason


def test_a_framework_without_gpu_support_is_skipped_not_an_error():
    def no_cuda(name, request):
        raise adapters.NotInstalled("torch-cuda: this torch build sees no CUDA device")

    result = run_case(case(), no_cuda)
    assert result.outcome == "skipped" and "no CUDA device" in result.reason


def test_a_missing_framework_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(adapters.Implementation, "missing", lambda self: ["torch"])
    the_case = Case("forward", "GRU", implementation="torch", dtype="float32")
    result = run_case(the_case)
    assert result.outcome == "skipped"
    assert "torch not installed" in result.reason and ".[torch]" in result.reason


# --- the lengths path: mistakes seen in ports of variable-length models ---------------------


def lengths_case(mode_label="LSTM", layers=2, bi=True, batch_first=False, dtype="float64"):
    return Case(
        "lengths", mode_label, layers, bi, batch_first, lengths="mixed", dtype=dtype
    )  # rows of length (3, 7, 1, 3, 5)


def numpy_ignoring_lengths(name, request):
    """Runs every row to the full length: no packing, no masking."""
    return numpy_with()(name, replace(request, lengths=None))


def numpy_not_zeroing_padding(name, request):
    """Valid steps and states right, but the padded steps keep what was computed there."""
    honest = numpy_with()(name, request)
    unmasked = numpy_with()(name, replace(request, lengths=None))
    valid = request.valid_steps()
    if request.spec.batch_first:
        valid = valid.T
    output = np.where(valid[..., None], honest["output"], unmasked["output"])
    return {**honest, "output": output}


def numpy_reverse_from_last_step(name, request):
    """The backward direction starts at step T-1, over the padding, instead of each row's
    last valid step (onnxruntime#4187-style reverse mistakes): its outputs and state differ."""
    honest = numpy_with()(name, request)
    unmasked = numpy_with()(name, replace(request, lengths=None))
    features = request.spec.output_size
    output = honest["output"].copy()
    output[..., features:] = np.where(
        output[..., features:] != 0, unmasked["output"][..., features:], 0
    )
    h_n = honest["h_n"].copy()
    h_n[1::2] = unmasked["h_n"][1::2]  # every layer's backward row
    return {**honest, "output": output, "h_n": h_n}


def numpy_h_n_from_last_step(name, request):
    """h_n taken at the last time step of the padded batch, not each row's last valid step."""
    honest = numpy_with()(name, request)
    output = (
        honest["output"] if not request.spec.batch_first else np.swapaxes(honest["output"], 0, 1)
    )
    h_n = honest["h_n"].copy()
    h_n[-2] = output[-1, :, : request.spec.output_size]  # the last layer's forward direction
    return {**honest, "h_n": h_n}


def numpy_lengths_of_reversed_rows(name, request):
    """The lengths applied to the batch rows in reverse order (a sort/unsort mix-up)."""
    return numpy_with()(name, replace(request, lengths=request.lengths[::-1].copy()))


@pytest.mark.parametrize(
    "the_case, runner, bad_tensor",
    [
        (lengths_case(), numpy_ignoring_lengths, "h_n"),
        (lengths_case("GRU", bi=False), numpy_not_zeroing_padding, "output_padding"),
        (lengths_case("RNN_TANH", layers=1), numpy_reverse_from_last_step, "h_n"),
        (lengths_case("LSTM", batch_first=True), numpy_h_n_from_last_step, "h_n"),
        (lengths_case("GRU", dtype="float32"), numpy_lengths_of_reversed_rows, "output"),
    ],
    ids=["lengths-ignored", "padding-not-zero", "reverse-from-T-1", "h_n-at-T-1", "rows-swapped"],
)
def test_planted_lengths_mistake_fails_and_is_located(the_case, runner, bad_tensor):
    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert bad_tensor in result.reason
    (bad,) = [c for c in result.comparisons if c.name == bad_tensor]
    assert bad.mismatched > 0 and "batch row" in bad.worst
    assert "python -m conformance.repro " + the_case.id in result.report()


def test_padding_error_is_located_at_a_padded_step_of_a_short_row():
    result = run_case(lengths_case("GRU", bi=False), numpy_not_zeroing_padding)
    (padding,) = [c for c in result.comparisons if c.name == "output_padding"]
    lengths = (3, 7, 1, 3, 5)
    assert padding.worst["time step"] >= lengths[padding.worst["batch row"]]
    (valid,) = [c for c in result.comparisons if c.name == "output"]
    assert valid.ok  # the valid steps are still judged on their own, and agree


def test_the_worst_element_of_the_padding_is_a_padded_step_even_when_all_agree():
    result = run_case(lengths_case("GRU", bi=False))
    assert result.outcome == "passed"
    (padding,) = [c for c in result.comparisons if c.name == "output_padding"]
    lengths = (3, 7, 1, 3, 5)
    assert padding.worst["time step"] >= lengths[padding.worst["batch row"]]


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda r: {k: v.astype(np.float64) for k, v in r.items()}, "has dtype float64"),
        (lambda r: {k: v.astype(np.complex128) + 1000j for k, v in r.items()}, "complex128"),
        (lambda r: {k: v.astype(object) for k, v in r.items()}, "has dtype object"),
        (lambda r: {**r, 0: np.zeros(3)}, "non-string names"),
    ],
    ids=["float64-for-float32", "complex", "object", "non-string-key"],
)
@pytest.mark.parametrize("check", ["forward", "gradients"])
def test_a_result_of_the_wrong_kind_fails_and_says_so(change, problem, check):
    """Values converted to float64 for comparison must not hide a wrong dtype or an imaginary
    part; a malformed mapping is the implementation's failure, not a harness error."""
    the_case = Case(check, "GRU", implementation="numpy", dtype="float32")

    def runner(name, request):
        return change(dict(adapters.numpy_reference.run(request)))

    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert any(problem in c.problem for c in result.comparisons), result.report()


@pytest.mark.parametrize(
    "expected, got, passes",
    [
        (np.nan, 0.5, False),  # a NaN reference lets nothing pass
        (np.nan, np.nan, False),  # ... not even NaN: the oracle cannot judge it
        (np.inf, np.inf, True),  # equal infinities agree
        (np.inf, 1e300, False),
        (-np.inf, np.inf, False),
        (0.5, np.nan, False),
        (0.5, np.inf, False),
    ],
)
def test_non_finite_values_never_pass_unless_equal(expected, got, passes):
    from conformance.compare import element_errors
    from conformance.tolerances import tolerance_for

    error, ratio = element_errors(np.array([got]), np.array([expected]), tolerance_for("float64"))
    assert bool(ratio[0] <= 1.0) is passes
    assert not np.isnan(ratio).any() and not np.isnan(error).any()

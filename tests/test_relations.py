"""The relation checks (chunked, batch_rows, reversed) fail on an implementation that breaks their
relation, name the tensor and locate its worst element; the honest reference passes, and no
relation needs the reference to judge.

Each planted mistake is run on every side of the relation (it is the implementation's), as a real
bug would be: a relation that only compared the implementation with itself in the same call
could not fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters import numpy_reference
from conformance import check as check_module
from conformance import repro
from conformance.cases import Case
from conformance.check import run_case
from conformance.checks import CHECKS
from conformance.checks.relations import RelationError
from conformance.grid import all_cases

RELATIONS = ("chunked", "batch_rows", "reversed")


def numpy_with(change_request=None, change_result=None):
    """The NumPy reference with one planted mistake, in the request it runs or in its result."""

    def runner(name, request):
        if change_request is not None:
            request = change_request(request)
        tensors = dict(numpy_reference.run(request))
        return tensors if change_result is None else change_result(request, tensors)

    return runner


# --- chunked ----------------------------------------------------------------------------------


def initial_state_ignored(request):
    """Always starts from zeros: what a stateful layer reset between calls does."""
    return replace(request, h0=None, c0=None)


def c0_ignored(request):
    """Carries h but restarts the cell state: a port that forgets c0."""
    return replace(request, c0=None)


def layers_states_swapped(request):
    """h0 of layer 0 given to layer 1 and back: a stacked port's state order mixed up."""
    if request.h0 is None or request.spec.num_layers < 2:
        return request
    return replace(request, h0=np.ascontiguousarray(request.h0[::-1]))


@pytest.mark.parametrize(
    "the_case, runner, bad_tensor",
    [
        (Case("chunked", "GRU", 2, dtype="float32"), numpy_with(initial_state_ignored), "output"),
        (Case("chunked", "LSTM", 1, initial_state="zeros"), numpy_with(c0_ignored), "c_n"),
        (
            Case("chunked", "RNN_TANH", 2, batch_first=True, initial_state="zeros"),
            numpy_with(layers_states_swapped),
            "h_n",
        ),
    ],
    ids=["state-reset", "c0-ignored", "layer-states-swapped"],
)
def test_chunked_fails_where_the_state_is_not_carried(the_case, runner, bad_tensor):
    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert bad_tensor in result.reason
    (bad,) = [c for c in result.comparisons if c.name == bad_tensor]
    assert bad.mismatched > 0
    if bad_tensor == "output":  # the first chunk is right: only steps after the split differ
        assert bad.worst["time step"] >= 3
    report = result.report()
    assert "compared with the same implementation's run of the whole sequence" in report
    assert f"python -m conformance.repro {the_case.id}" in report
    assert f"pytest 'conformance/test_checks.py::test_check[{the_case.id}]'" in report


def test_chunked_locates_an_error_after_the_split():
    def nudge_step_five(request, tensors):
        if request.seq_len == 4:  # the second chunk: steps 3..6, so its step 2 is step 5
            output = tensors["output"].copy()
            output[2, 1, 4] += 1e-3
            tensors["output"] = output
        return tensors

    the_case = Case("chunked", "GRU", 2)
    result = run_case(the_case, numpy_with(change_result=nudge_step_five))
    (output,) = [c for c in result.comparisons if c.name == "output"]
    assert output.mismatched == 1
    assert (output.worst["time step"], output.worst["batch row"], output.worst["unit"]) == (5, 1, 4)
    assert output.worst["layer"] == 1 and output.worst["direction"] == "forward"


# --- batch_rows -------------------------------------------------------------------------------


def h0_rows_reversed(request):
    """Each row starts from another row's state (an h0 taken batch-first, say)."""
    if request.h0 is None:
        return request
    return replace(request, h0=np.ascontiguousarray(request.h0[:, ::-1]))


def x_centred_over_the_batch(request):
    """The input centred over the batch: blind to a permutation, not to a batch of one."""
    axis = 0 if request.spec.batch_first else 1
    return replace(request, x=request.x - request.x.mean(axis=axis, keepdims=True))


def batch_of_one_squeezed(request, tensors):
    if request.batch == 1:
        tensors["output"] = tensors["output"].squeeze(0 if request.spec.batch_first else 1)
    return tensors


@pytest.mark.parametrize(
    "the_case, runner, bad_tensor",
    [
        (Case("batch_rows", "LSTM", 2, True), numpy_with(h0_rows_reversed), "h_n"),
        (
            Case("batch_rows", "GRU", 1, False, True, dtype="float32"),
            numpy_with(h0_rows_reversed),
            "output",
        ),
        (Case("batch_rows", "RNN_RELU", 1), numpy_with(x_centred_over_the_batch), "output_alone"),
    ],
    ids=["h0-rows-mixed", "h0-rows-mixed-batch_first-f32", "rows-depend-on-the-batch"],
)
def test_batch_rows_fails_where_rows_depend_on_each_other(the_case, runner, bad_tensor):
    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert bad_tensor in result.reason.split("in ", 1)[1].split(", ")
    (bad,) = [c for c in result.comparisons if c.name == bad_tensor]
    assert bad.mismatched > 0 and "batch row" in bad.worst
    assert f"python -m conformance.repro {the_case.id}" in result.report()


def test_batch_rows_a_centred_batch_passes_the_permutation_and_fails_alone():
    result = run_case(Case("batch_rows", "RNN_RELU", 1), numpy_with(x_centred_over_the_batch))
    by_name = {c.name: c for c in result.comparisons}
    assert by_name["output"].ok and by_name["h_n"].ok  # a mean is the same in any row order
    assert not by_name["output_alone"].ok and not by_name["h_n_alone"].ok
    assert by_name["output_alone"].worst["batch row"] == 0  # row 0: the row run alone


def test_batch_rows_a_squeezed_batch_of_one_fails_on_its_shape():
    the_case = Case("batch_rows", "GRU", 1, batch_first=True)
    result = run_case(the_case, numpy_with(change_result=batch_of_one_squeezed))
    assert result.outcome == "failed"
    (alone,) = [c for c in result.comparisons if c.name == "output_alone"]
    assert (alone.got_shape, alone.expected_shape) == ((7, 9), (1, 7, 9))
    assert "output_alone: shape (7, 9), expected (1, 7, 9)" in result.report()


def test_batch_rows_locates_a_mixed_row_by_its_place_in_the_batch():
    the_case = Case("batch_rows", "GRU", 2)
    in_order = CHECKS["batch_rows"].request(the_case).x

    def nudge_the_permuted_run(request, tensors):
        if request.batch == 5 and not np.array_equal(request.x, in_order):
            h_n = tensors["h_n"].copy()
            h_n[1, 4, 3] += 1e-3  # ORDER (3, 0, 4, 1, 2): position 4 holds the case's row 2
            tensors["h_n"] = h_n
        return tensors

    result = run_case(the_case, numpy_with(change_result=nudge_the_permuted_run))
    (h_n,) = [c for c in result.comparisons if c.name == "h_n"]
    assert h_n.mismatched == 1
    assert (h_n.worst["batch row"], h_n.worst["layer"], h_n.worst["unit"]) == (2, 1, 3)


# --- reversed ---------------------------------------------------------------------------------


def backward_runs_the_forward_weights(request):
    """A bidirectional port that gives the backward direction the forward weights."""
    if not request.spec.bidirectional:
        return request
    params = {
        name: request.params[name.removesuffix("_reverse")] if name.endswith("_reverse") else value
        for name, value in request.params.items()
    }
    return replace(request, params=params)


def backward_output_not_reversed_back(request, tensors):
    """The backward direction's outputs left in its own (reversed) time order."""
    if request.spec.bidirectional:
        output = tensors["output"].copy()
        time = 1 if request.spec.batch_first else 0
        half = slice(request.spec.output_size, None)
        output[..., half] = np.flip(output[..., half], axis=time)
        tensors["output"] = output
    return tensors


def backward_h0_from_the_forward_direction(request):
    if not request.spec.bidirectional or request.h0 is None:
        return request
    h0 = request.h0.copy()
    h0[1] = h0[0]
    return replace(request, h0=h0)


@pytest.mark.parametrize(
    "the_case, runner, bad_tensors",
    [
        (Case("reversed", "LSTM", 1, True), numpy_with(backward_runs_the_forward_weights), "h_n"),
        (
            Case("reversed", "GRU", 1, True, True, dtype="float32"),
            numpy_with(change_result=backward_output_not_reversed_back),
            "output",
        ),
        (
            Case("reversed", "RNN_TANH", 1, True),
            numpy_with(backward_h0_from_the_forward_direction),
            "h_n",
        ),
        (
            Case("reversed", "LSTM", 1, True, proj_size=8),
            numpy_with(backward_runs_the_forward_weights),
            "output",
        ),
    ],
    ids=["forward-weights", "output-not-reversed-back", "h0-of-forward", "forward-weights-proj"],
)
def test_reversed_fails_in_the_backward_direction(the_case, runner, bad_tensors):
    result = run_case(the_case, runner)
    assert result.outcome == "failed", result.report()
    assert bad_tensors in result.reason
    (bad,) = [c for c in result.comparisons if c.name == bad_tensors]
    assert bad.worst["direction"] == "backward" and bad.mismatched > 0
    if bad.name == "output":  # the forward half is untouched: every mismatch is backward
        assert bad.mismatched <= bad.size // 2
    assert "two unidirectional runs of the same implementation" in result.report()


# --- what every relation shares ---------------------------------------------------------------


@pytest.mark.parametrize("check", RELATIONS)
def test_a_relation_needs_no_reference(check, monkeypatch):
    """The other side is the implementation's own run: the reference is never computed."""
    the_case = next(iter(all_cases(["numpy"], dtypes=("float32",), checks=(check,))))

    def no_reference(case):
        raise AssertionError("a relation asked for the reference")

    monkeypatch.setattr(check_module, "reference", no_reference)
    result = run_case(the_case, numpy_with())
    assert result.outcome == "passed", result.report()


@pytest.mark.parametrize("check", RELATIONS)
def test_a_relation_is_judged_with_the_dtype_tolerance(check):
    the_case = next(iter(all_cases(["numpy"], dtypes=("float32",), checks=(check,))))
    record = run_case(the_case).record("t")
    assert record["tolerance"] == {"atol": 1e-5, "rtol": 1e-5}


@pytest.mark.parametrize("check", RELATIONS)
def test_an_answer_that_cannot_be_composed_is_an_error_that_says_so(check):
    the_case = next(iter(all_cases(["numpy"], checks=(check,))))
    result = run_case(the_case, lambda name, request: [1, 2, 3])
    assert result.outcome == "error", result.report()
    assert RelationError.__name__ in result.reason
    assert "returned a list, not named tensors" in result.reason


def test_a_chunk_state_of_the_wrong_rank_is_an_error_that_names_it():
    def h_n_flattened(request, tensors):
        return {**tensors, "h_n": tensors["h_n"].reshape(-1)}

    result = run_case(Case("chunked", "GRU"), numpy_with(change_result=h_n_flattened))
    assert result.outcome == "error"
    assert "the whole sequence: h_n is (45,), not an array of rank 3" in result.reason


@pytest.mark.parametrize("check", RELATIONS)
def test_the_repro_command_reruns_a_relation_case(check, capsys):
    the_case = next(iter(all_cases(["numpy"], dtypes=("float64",), checks=(check,))))
    assert repro.main([the_case.id]) == 0
    assert f"{the_case.id}: passed" in capsys.readouterr().out


def test_the_honest_reference_keeps_every_relation():
    for the_case in all_cases(["numpy"], checks=RELATIONS):
        result = run_case(the_case)
        assert result.outcome == "passed", result.report()

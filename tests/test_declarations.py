"""Capabilities and known divergences are data: checked against the grid, bounded, never stale."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters.capabilities import Limit
from adapters.layout import reorder_gates
from conformance import declarations, divergences
from conformance.cases import Case
from conformance.check import run_case
from conformance.grid import all_cases
from tests.test_harness_catches import numpy_with, swap_lstm_input_and_forget


def test_the_shipped_declarations_all_match_cases():
    assert declarations.stale_declarations() == []


def test_a_limit_that_matches_no_case_is_reported(monkeypatch):
    numpy = adapters.IMPLEMENTATIONS["numpy"]
    never = replace(numpy, limits=(Limit("zero_length", "planted"),))
    monkeypatch.setitem(adapters.IMPLEMENTATIONS, "numpy", never)
    cases = [c for c in all_cases(["numpy"]) if not c.setting.zero_length]
    (stale,) = declarations.stale_declarations(cases)
    assert stale.startswith("numpy: the limit on 'zero_length' matches no case")


@pytest.mark.parametrize(
    "change",
    [{"applies_to": lambda case: case.mode == "NO SUCH MODE"}, {"versions": "<0.1"}],
    ids=["no-case", "version-range-passed"],
)
def test_a_divergence_that_matches_no_case_is_reported(monkeypatch, change):
    planted = divergences.KnownDivergence(
        implementation="numpy", package="numpy", versions=">=1", applies_to=lambda case: True,
        reason="planted", link="https://example.invalid/1", finite=True,
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [replace(planted, **change)])
    monkeypatch.setattr(declarations, "KNOWN_DIVERGENCES", divergences.KNOWN_DIVERGENCES)
    (stale,) = declarations.stale_declarations(all_cases(["numpy"], dtypes=("float32",)))
    assert "https://example.invalid/1" in stale and "matches no case" in stale


@pytest.mark.parametrize(
    "name, limit",
    [(name, limit) for name, impl in adapters.IMPLEMENTATIONS.items() for limit in impl.limits],
    ids=lambda v: v if isinstance(v, str) else v.feature,
)
def test_every_limit_answers_unsupported_with_its_reason_before_the_framework_loads(
    monkeypatch, name, limit
):
    def refuse(self):
        raise AssertionError("the framework was loaded for a setting it cannot express")

    monkeypatch.setattr(adapters.Implementation, "load", refuse)
    monkeypatch.setattr(adapters.Implementation, "unavailable_reason", lambda self: "")
    impl = adapters.IMPLEMENTATIONS[name]
    case = next(
        c for c in all_cases([name]) if limit.applies(c.setting) and impl.unsupported_reason(
            c.setting) == limit.reason
    )  # fmt: skip
    result = run_case(case)
    assert (result.outcome, result.reason) == ("unsupported", limit.reason)


def declare(monkeypatch, **fields):
    fields = fields if {"raises", "finite", "within", "computes"} & set(fields) else {
        **fields, "finite": True
    }  # fmt: skip
    planted = divergences.KnownDivergence(
        implementation="numpy", package="numpy", versions=">=1", applies_to=lambda case: True,
        reason="planted", link="https://example.invalid/2", **fields,
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])


LENGTHS = Case("lengths", "GRU", 1, False, lengths="mixed", dtype="float64")


def padding_kept(name, request):
    honest = numpy_with()(name, request)
    output = honest["output"].copy()
    output[6, 0] = 1.0  # row 0 has length 3: step 6 is padding
    return {**honest, "output": output}


def padding_kept_and_h_n_off(name, request):
    result = padding_kept(name, request)
    return {**result, "h_n": result["h_n"] + 1e-3}


def test_a_divergence_bounded_to_a_tensor_explains_only_that_tensor(monkeypatch):
    declare(monkeypatch, tensors=("output_padding",))
    assert run_case(LENGTHS, padding_kept).outcome == "known-divergence"
    result = run_case(LENGTHS, padding_kept_and_h_n_off)
    assert result.outcome == "failed" and "h_n, beyond the declared divergence" in result.reason


def test_a_bounded_divergence_whose_tensor_agrees_again_fails(monkeypatch):
    declare(monkeypatch, tensors=("output_padding",))
    result = run_case(LENGTHS)
    assert result.outcome == "failed" and "no longer reproduces" in result.reason


def test_an_exception_is_a_known_divergence_only_when_declared_and_matching(monkeypatch):
    def raises(message):
        def runner(name, request):
            raise TypeError(message)

        return runner

    declare(monkeypatch, raises=r"TypeError: scan carry")
    assert run_case(LENGTHS, raises("scan carry float64 in")).outcome == "known-divergence"
    assert run_case(LENGTHS, raises("something else")).outcome == "error"
    declare(monkeypatch, finite=True)  # declares values, no exception: any exception is an error
    assert run_case(LENGTHS, raises("scan carry float64 in")).outcome == "error"
    declare(monkeypatch, raises=r"TypeError: scan carry")  # ... and expects one that is gone
    result = run_case(LENGTHS)
    assert result.outcome == "failed" and "expects an exception" in result.reason


def round_weights_through_float32(name, request):
    params = {k: v.astype(np.float32).astype(v.dtype) for k, v in request.params.items()}
    return numpy_with()(name, replace(request, params=params))


def test_a_float64_path_that_rounds_weights_through_float32_fails():
    case = Case("forward", "LSTM", 2, True, dtype="float64")
    result = run_case(case, round_weights_through_float32)
    assert result.outcome == "failed", result.report()


def test_torch_float64_keeps_float64_weights():
    torch_case = Case("forward", "GRU", 2, True, implementation="torch", dtype="float64")
    result = run_case(torch_case)
    assert result.outcome == "passed", result.report()
    assert max(c.max_abs_err for c in result.comparisons) < 1e-13


# --- what a framework computes instead keeps the explained tensors checked --------------------


def test_a_declaration_must_say_what_the_framework_computes_instead():
    with pytest.raises(ValueError, match="declare what it computes instead"):
        divergences.KnownDivergence(
            implementation="numpy", package="numpy", versions=">=1",
            applies_to=lambda case: True, reason="r", link="https://example.invalid/3",
        )  # fmt: skip


NNX_GRU = Case("forward", "GRU", 2, True, implementation="flax-nnx", dtype="float64")


def numpy_as_nnx(swap_rz=False):
    """The reference as nnx.GRUCell computes it (no b_hn), optionally with a porting mistake."""

    def runner(name, request):
        request = divergences.nnx_gru_without_b_hn(request)
        if swap_rz:
            params = {k: reorder_gates(v, "GRU", "zrn") for k, v in request.params.items()}
            request = replace(request, params=params)
        return numpy_with()(name, request)

    return runner


def test_the_nnx_gru_divergence_explains_a_missing_b_hn_and_nothing_else():
    assert run_case(NNX_GRU, numpy_as_nnx()).outcome == "known-divergence"
    result = run_case(NNX_GRU, numpy_as_nnx(swap_rz=True))
    assert result.outcome == "failed" and "beyond the declared divergence" in result.reason


def test_structural_problems_are_never_explained():
    def as_tuple(name, request):
        return tuple(numpy_as_nnx()(name, request).values())

    def wrong_dtype(name, request):
        return {k: v.astype(np.float32) for k, v in numpy_as_nnx()(name, request).items()}

    for runner in (as_tuple, wrong_dtype):
        assert run_case(NNX_GRU, runner).outcome == "failed"


def test_float32_accuracy_in_float64_explains_rounding_not_a_gate_swap():
    case = Case("forward", "LSTM", 1, implementation="keras-jax", dtype="float64")

    def float32_accuracy(name, request):
        narrow = replace(request, x=request.x.astype(np.float32))
        return {k: v.astype(np.float64) for k, v in numpy_with()(name, narrow).items()}

    assert run_case(case, float32_accuracy).outcome == "known-divergence"
    swapped = numpy_with(swap_lstm_input_and_forget)
    assert run_case(case, swapped).outcome == "failed"


def test_unspecified_padding_must_still_be_finite():
    case = Case("lengths", "GRU", 1, lengths="mixed", implementation="flax", dtype="float32")

    def padding(value):
        def runner(name, request):
            result = numpy_with()(name, request)
            output = result["output"].copy()
            output[6, 0] = value  # row 0 has length 3
            return {**result, "output": output}

        return runner

    assert run_case(case, padding(0.25)).outcome == "known-divergence"
    assert run_case(case, padding(np.nan)).outcome == "failed"


def test_keras_padding_is_checked_as_keras_computes_it():
    case = Case("lengths", "GRU", 1, lengths="mixed", implementation="keras", dtype="float32")

    def keras_like(repeat_last):
        def runner(name, request):
            result = numpy_with()(name, request)
            output = result["output"].copy()
            for row, length in enumerate(request.lengths):
                output[length:, row] = output[length - 1, row] if repeat_last else 0.5
            return {**result, "output": output}

        return runner

    assert run_case(case, keras_like(True)).outcome == "known-divergence"
    assert run_case(case, keras_like(False)).outcome == "failed"


def test_an_output_cut_to_the_longest_row_fails():
    case = Case("lengths", "LSTM", 1, lengths="with_zero", dtype="float64")  # longest 6 < 7

    def cut(name, request):
        result = numpy_with()(name, request)
        longest = int(request.lengths.max())
        return {**result, "output": result["output"][:longest]}

    result = run_case(case, cut)
    assert result.outcome == "failed" and "output" in result.reason


def test_an_unsupported_raised_by_an_adapter_is_an_error_not_unsupported(monkeypatch):
    from adapters import numpy_reference

    def refuses(request):
        raise adapters.Unsupported("I just don't feel like it")

    monkeypatch.setattr(numpy_reference, "run", refuses)
    result = run_case(Case("forward", "GRU", 1, dtype="float32"))
    assert result.outcome == "error" and "does not declare" in result.reason


def test_the_registry_decides_unsupported_whatever_the_runner():
    keras_proj = Case("forward", "LSTM", proj_size=8, implementation="keras", dtype="float32")
    result = run_case(keras_proj, numpy_with())
    assert result.outcome == "unsupported" and "proj_size" in result.reason


def test_a_divergence_covering_only_unsupported_cases_is_stale(monkeypatch):
    planted = divergences.KnownDivergence(
        implementation="keras", package="keras", versions=">=1",
        applies_to=lambda case: case.proj_size > 0, reason="planted",
        link="https://example.invalid/4", finite=True,
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])
    monkeypatch.setattr(declarations, "KNOWN_DIVERGENCES", [planted])
    (stale,) = declarations.stale_declarations(all_cases(["keras"], dtypes=("float32",)))
    assert "https://example.invalid/4" in stale

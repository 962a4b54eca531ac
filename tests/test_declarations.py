"""Capabilities and known divergences are data: checked against the grid, bounded, never stale."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters.capabilities import Limit
from conformance import declarations, divergences
from conformance.cases import Case
from conformance.check import run_case
from conformance.grid import all_cases
from tests.test_harness_catches import numpy_with


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
        reason="planted", link="https://example.invalid/1",
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
    planted = divergences.KnownDivergence(
        implementation="numpy", package="numpy", versions=">=1", applies_to=lambda case: True,
        reason="planted", link="https://example.invalid/2",
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [replace(planted, **fields)])


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
    declare(monkeypatch)  # declares values, no exception: any exception is an error
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

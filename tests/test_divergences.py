"""A declared divergence is reported as such while it lasts, and fails once it is gone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conformance import divergences, plugin
from conformance.cases import Case
from conformance.check import judge_error, run_case
from conformance.grid import all_cases
from tests.test_harness_catches import numpy_with, swap_lstm_input_and_forget

CASE = Case("forward", "LSTM", implementation="numpy", dtype="float32")
ROOT = Path(__file__).resolve().parents[1]


def declare(monkeypatch, versions=">=1", applies_to=lambda case: case.mode == "LSTM"):
    planted = divergences.KnownDivergence(
        implementation="numpy",
        package="numpy",
        versions=versions,
        applies_to=applies_to,
        reason="planted: input and forget gates swapped",
        link="https://example.invalid/issue/1",
        computes_with=lambda request: replace(
            request, params=swap_lstm_input_and_forget(request.spec, dict(request.params))
        ),
    )
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])
    return planted


def test_a_divergence_that_reproduces_is_known_divergence_with_reason_and_link(monkeypatch):
    declare(monkeypatch)
    result = run_case(CASE, numpy_with(swap_lstm_input_and_forget))
    assert result.outcome == "known-divergence"
    record = result.record("t")
    assert record["divergences"][0]["link"] == "https://example.invalid/issue/1"
    assert "planted" in record["reason"]
    assert record["metrics"]["output"]["max_abs_err"] > 1e-3  # still measured, still strict
    with pytest.raises(pytest.xfail.Exception, match="known divergence: planted") as raised:
        plugin.conclude(result)
    # the report holds the reason, not a traceback: pytest formats one for every xfail that
    # asks for it, about 9 ms a case over thousands of cases (docs/PERFORMANCE.md)
    assert raised.value.pytrace is False
    # pytest --runxfail: the divergence fails with its whole report, as pytest.xfail() let it
    with pytest.raises(pytest.fail.Exception, match="(?s)planted.*rerun: ") as raised:
        plugin.conclude(result, runxfail=True)
    assert not isinstance(raised.value, pytest.xfail.Exception)


def test_a_divergence_that_no_longer_reproduces_fails(monkeypatch):
    declare(monkeypatch)
    result = run_case(CASE)
    assert result.outcome == "failed"
    assert "no longer reproduces" in result.reason


def test_a_divergence_outside_its_version_range_does_not_apply(monkeypatch):
    declare(monkeypatch, versions="<0.1")
    assert run_case(CASE, numpy_with(swap_lstm_input_and_forget)).outcome == "failed"


def test_a_divergence_covers_only_its_cases(monkeypatch):
    declare(monkeypatch, applies_to=lambda case: case.mode == "GRU")
    assert run_case(CASE, numpy_with(swap_lstm_input_and_forget)).outcome == "failed"


def test_the_shipped_declarations_are_complete():
    for divergence in divergences.KNOWN_DIVERGENCES:
        assert divergence.reason and divergence.repro
        # upstream, or a ready-to-file report in this repository where no upstream issue exists
        link = divergence.link
        assert link.startswith("https://") or (ROOT / link).is_file(), link


def test_a_declared_export_failure_does_not_explain_another_failure_of_the_same_exporter():
    """The torch-onnx packed-sequence declaration names its cause, not just the exporter's
    generic prefix: any other export failure is an error."""
    case = next(
        c
        for c in all_cases(["torch-onnx"], dtypes=("float32",), checks=("lengths",))
        if c.lengths == "mixed"
    )
    prefix = (
        "torch.onnx._internal.exporter._errors.TorchExportError: Failed to export the model "
        "with torch.export. ...\n## Exception summary\n\n"
    )
    declared = prefix + "<class 'TypeError'>: zeros(): argument 'size' failed to unpack ..."
    other = prefix + "<class 'ZeroDivisionError'>: division by zero"
    assert judge_error(case, declared).outcome == "known-divergence"
    assert judge_error(case, other).outcome == "error"


# --- which check kinds a divergence covers ----------------------------------------------------

RELATION_CASE = Case("chunked", "LSTM", implementation="numpy", dtype="float32")
CLAIMS_CASE = Case("claims", "LSTM", implementation="numpy", dtype="float32")


def test_a_value_divergence_covers_the_reference_checks_only(monkeypatch):
    """What it says is computed instead is about the reference: a relation between two runs of
    the same implementation, or a claim about its own tensors, is not judged by it."""
    planted = declare(monkeypatch)
    assert planted.covers(CASE)
    assert not planted.covers(RELATION_CASE) and not planted.covers(CLAIMS_CASE)
    # the planted bug keeps every relation (both sides have it): passed, not "no longer reproduces"
    assert run_case(RELATION_CASE, numpy_with(swap_lstm_input_and_forget)).outcome == "passed"


def test_a_divergence_that_only_raises_covers_every_check_kind(monkeypatch):
    planted = divergences.KnownDivergence(
        "numpy", "numpy", ">=1", lambda case: True, "planted", "https://example.invalid/2",
        raises=r"RuntimeError: cuDNN",
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])

    def raising(name, request):
        raise RuntimeError("cuDNN said no")

    for case in (CASE, RELATION_CASE, CLAIMS_CASE):
        assert run_case(case, raising).outcome == "known-divergence"


def test_a_divergence_names_the_relation_or_claims_checks_it_covers(monkeypatch):
    planted = divergences.KnownDivergence(
        "numpy", "numpy", ">=1", lambda case: True, "planted", "https://example.invalid/3",
        tensors=("h_n",), within="float32", checks=("claims",),
    )  # fmt: skip
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])
    assert planted.covers(CLAIMS_CASE)
    assert not planted.covers(RELATION_CASE) and not planted.covers(CASE)

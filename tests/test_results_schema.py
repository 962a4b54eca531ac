"""conformance/results.schema.json: what the suite writes validates, the schema is no rubber stamp,
and readers (conformance.results.load) check files against it, quickly and with a clear message."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from _pytest.reports import TestReport

import adapters
from conformance import divergences
from conformance.axes import ALL_DTYPES, LENGTHS, MODE_LABELS
from conformance.cases import Case
from conformance.check import node_id, run_case
from conformance.checks import CHECKS
from conformance.compare import TensorComparison
from conformance.outcomes import NAMES
from conformance.plugin import _record_without_result
from conformance.results import SCHEMA, environment
from conformance.tolerances import Tolerance

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed (.[dev])")

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "conformance" / "results.schema.json"
DOC_PATH = ROOT / "docs" / "RESULTS.md"
CASE = Case("forward", "GRU", implementation="numpy", dtype="float32")
LENGTHS_CASE = Case("lengths", "LSTM", bidirectional=True, lengths="mixed", implementation="numpy")


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def document(records: list[dict]) -> dict:
    return {
        "schema": SCHEMA,
        "environment": environment(),
        "run": {"started": "2026-11-23T10:11:14+00:00", "argv": ["conformance"], "complete": False},
        "records": records,
    }


def errors(validator, doc: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def honest(name, request):
    return adapters.run_request("numpy", request)


def changed(change):
    """The NumPy reference with its named tensors changed by `change(tensors)`."""

    def runner(name, request):
        return change(dict(adapters.run_request("numpy", request)))

    return runner


def nudge_output(tensors):
    output = tensors["output"].copy()
    output[0, 0, 0] += 1e-2  # the first step: h_n of a one-layer forward GRU is untouched
    return {**tensors, "output": output}


def raising(error: Exception):
    def runner(name, request):
        raise error

    return runner


def planted_divergence(monkeypatch, raises: str = "") -> None:
    planted = divergences.KnownDivergence(
        implementation="numpy",
        package="numpy",
        versions=">=1",
        applies_to=lambda case: case.mode == "GRU",
        reason="planted: the first output step is off",
        link="https://example.invalid/issue/1",
        repro="python -c 'pass'",
        tensors=None if raises else ("output",),
        raises=raises,
        finite=not raises,
    )
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])


def report(when: str, outcome: str, longrepr) -> TestReport:
    """A report like the ones pytest and pytest-xdist send for a case that attached no record."""
    location = ("conformance/test_checks.py", 5, "test_check")
    return TestReport(node_id(CASE), location, {}, outcome, longrepr, when, duration=3.0)


def record_of(outcome: str, monkeypatch) -> dict:
    """A record of `outcome`, made the way the suite makes it."""
    test = node_id(CASE)
    if outcome == "passed":
        return run_case(CASE, honest).record(test)
    if outcome == "failed":
        return run_case(CASE, changed(nudge_output)).record(test)
    if outcome == "known-divergence":
        planted_divergence(monkeypatch)
        return run_case(CASE, changed(nudge_output)).record(test)
    if outcome == "error":
        return run_case(CASE, raising(RuntimeError("cuDNN said no"))).record(test)
    if outcome == "unsupported":
        return run_case(CASE, raising(adapters.Unsupported("no such layer"))).record(test)
    if outcome == "skipped":
        return run_case(CASE, raising(adapters.NotInstalled("numpy not installed"))).record(test)
    if outcome == "crashed":  # pytest-xdist's report for the case a dead worker was running
        text = f"worker 'gw0' crashed while running {test!r}"
        return _record_without_result(report("???", "failed", text))
    if outcome == "timeout":  # pytest-timeout fails the call
        text = "+++ Timeout +++\nconformance/check.py:117: Failed"
        return _record_without_result(report("call", "failed", text))
    raise AssertionError(f"no way to make a {outcome!r} record here")


def test_the_schema_is_a_valid_draft_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_names_what_the_code_writes(schema):
    """Enums and key lists come from the code: a new outcome, check kind or key fails here until
    the schema (and docs/RESULTS.md) say what it is."""
    defs = schema["$defs"]
    assert schema["properties"]["schema"]["const"] == SCHEMA
    assert tuple(defs["outcome"]["enum"]) == NAMES
    assert defs["record"]["properties"]["check"]["enum"] == list(CHECKS)
    config = defs["config"]["properties"]
    assert config["dtype"]["enum"] == list(ALL_DTYPES)
    assert config["mode"]["enum"] == list(dict.fromkeys(m for m, _ in MODE_LABELS.values()))
    assert set(config["nonlinearity"]["enum"]) == {n for _, n in MODE_LABELS.values()}
    assert config["lengths"]["enum"] == list(LENGTHS)
    assert defs["config"]["required"] == list(CASE.config())
    assert defs["tolerance"]["required"] == [f.name for f in fields(Tolerance)]
    written = run_case(CASE, honest).record("t")
    assert defs["record"]["required"] == list(written)
    assert set(defs["record"]["properties"]) == {*written, "divergences", "examples"}
    sizes_case = Case("sizes", "GRU", implementation="numpy")  # a check kind that draws examples
    drawn = run_case(sizes_case, honest).record("t")
    assert defs["record"]["properties"]["examples"]["required"] == list(drawn["examples"])
    assert set(drawn["config"]["drawn"]) <= set(defs["config"]["properties"])
    assert defs["metric"]["required"] == list(TensorComparison("x", (), None).metrics())
    output, h_n = written["metrics"]["output"], written["metrics"]["h_n"]
    assert defs["sequenceLocation"]["required"] == list(output["worst"])
    assert defs["stateLocation"]["required"] == list(h_n["worst"])
    divergence = divergences.KnownDivergence(
        "numpy", "numpy", ">=1", bool, "r", "l", finite=True
    ).as_record()
    assert defs["divergence"]["required"] == list(divergence)
    pattern = re.compile(defs["record"]["properties"]["implementation"]["pattern"])
    assert all(pattern.fullmatch(name) for name in adapters.IMPLEMENTATIONS)


def test_the_documentation_names_every_key_and_outcome(schema):
    text = DOC_PATH.read_text(encoding="utf-8")
    defs = schema["$defs"]
    keys = {
        *schema["properties"],
        *defs["environment"]["properties"],
        *defs["run"]["properties"],
        *defs["record"]["properties"],
        *defs["config"]["properties"],
        *defs["tolerance"]["properties"],
        *defs["metric"]["properties"],
        *defs["sequenceLocation"]["properties"],
        *defs["divergence"]["properties"],
        *NAMES,
        *CHECKS,
    }
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert not missing, f"docs/RESULTS.md does not name {missing}"
    assert "conformance/results.schema.json" in text


@pytest.mark.parametrize("outcome", NAMES)
def test_a_record_of_each_outcome_validates(outcome, validator, monkeypatch):
    record = record_of(outcome, monkeypatch)
    assert record["outcome"] == outcome
    assert errors(validator, document([record])) == []


def test_a_known_divergence_that_explains_an_exception_validates(validator, monkeypatch):
    planted_divergence(monkeypatch, raises=r"RuntimeError: cuDNN")
    result = run_case(CASE, raising(RuntimeError("cuDNN said no")))
    assert result.outcome == "known-divergence" and result.comparisons == []
    assert errors(validator, document([result.record(node_id(CASE))])) == []


def test_records_without_a_result_validate(validator):
    """What the plugin records when the test body attached nothing: fewer things are known."""
    setup_error = _record_without_result(report("setup", "failed", "E   OSError: no GPU"))
    setup_skip = _record_without_result(report("setup", "skipped", ("c.py", 3, "Skipped: x")))
    assert (setup_error["outcome"], setup_skip["outcome"]) == ("error", "skipped")
    assert setup_error["metrics"] == {} and setup_error["reason"] == "OSError: no GPU"
    assert setup_skip["reason"] == "x"  # the skip's message, not the repr of pytest's tuple
    assert errors(validator, document([setup_error, setup_skip])) == []


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda t: {**t, "output": t["output"][:, :3]}, None),  # wrong shape: no numbers
        (lambda t: {**t, "h_n": t["h_n"].tolist()}, "not a plain numpy array"),
        (lambda t: {**t, "c_n": np.zeros_like(t["h_n"])}, "must be absent"),
        (lambda t: [t["output"], t["h_n"]], "not named tensors"),
    ],
    ids=["shape", "list", "extra-tensor", "not-a-mapping"],
)
def test_failed_records_with_missing_numbers_validate(change, problem, validator):
    record = run_case(CASE, changed(change)).record(node_id(CASE))
    assert record["outcome"] == "failed"
    metrics = list(record["metrics"].values())
    assert any(m["max_abs_err"] is None for m in metrics)
    if problem:
        assert any(problem in m.get("problem", "") for m in metrics)
    assert errors(validator, document([record])) == []


def test_a_lengths_record_validates_with_output_padding(validator):
    record = run_case(LENGTHS_CASE, honest).record(node_id(LENGTHS_CASE))
    assert record["outcome"] == "passed"
    assert set(record["metrics"]) == {"output", "output_padding", "h_n", "c_n"}
    assert errors(validator, document([record])) == []


def test_a_finished_run_validates_and_an_unfinished_claim_does_not(validator):
    doc = document([run_case(CASE, honest).record(node_id(CASE))])
    doc["run"].update(finished="2026-11-23T10:11:16+00:00", exitstatus=2)  # interrupted
    assert errors(validator, doc) == []
    doc["run"].update(complete=True)
    assert errors(validator, doc) == []
    del doc["run"]["finished"], doc["run"]["exitstatus"]
    assert errors(validator, doc)  # complete without finishing


def break_schema_string(doc):
    doc["schema"] = "rnn-conformance/2"


def break_outcome(doc):
    doc["records"][0]["outcome"] = "flaky"


def break_case_id(doc):
    del doc["records"][0]["case_id"]


def break_metric(doc):
    doc["records"][0]["metrics"]["output"]["max_abs_err"] = "1e-7"


def break_passed(doc):
    doc["records"][0]["metrics"]["h_n"]["mismatched"] = 3


def break_record_key(doc):
    doc["records"][0]["verdict"] = "fine"


def break_location(doc):
    del doc["records"][0]["metrics"]["h_n"]["worst"]["direction"]


def break_lengths(doc):
    doc["records"][0]["config"]["lengths"] = "mixed"  # a forward case has full sequences


@pytest.mark.parametrize(
    "breaking",
    [
        break_schema_string,
        break_outcome,
        break_case_id,
        break_metric,
        break_passed,
        break_record_key,
        break_location,
        break_lengths,
    ],
)
def test_the_schema_rejects_a_broken_document(breaking, validator):
    doc = document([run_case(CASE, honest).record(node_id(CASE))])
    assert errors(validator, doc) == []
    broken = copy.deepcopy(doc)
    breaking(broken)
    assert errors(validator, broken), f"{breaking.__name__} was accepted"


@pytest.mark.slow
def test_a_real_run_validates_with_every_check_kind(tmp_path, validator):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"]
    command += ["--impl", "numpy,torch", "--mode", "GRU,LSTM", "--dtype", "float32,float16"]
    command += ["--results-json", str(results)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:]
    doc = json.loads(results.read_text())
    assert errors(validator, doc)[:5] == []
    records = doc["records"]
    assert {r["check"] for r in records} == set(CHECKS)
    assert doc["run"]["complete"] is True
    for record in records:
        if record["check"] == "lengths" and record["outcome"] == "passed":
            assert "output_padding" in record["metrics"]


# --- readers: the schema ships with the package, and its fast check agrees with jsonschema ---


def test_the_schema_ships_with_the_package(schema):
    from conformance import results_schema

    assert results_schema.schema() == schema  # read through importlib.resources
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'conformance = \[[^]]*"results\.schema\.json"', pyproject)
    assert not (ROOT / "docs" / "results.schema.json").exists()  # one copy, no drift


def sample_records(monkeypatch) -> list[dict]:
    records = [record_of(outcome, monkeypatch) for outcome in NAMES]
    records.append(run_case(LENGTHS_CASE, honest).record(node_id(LENGTHS_CASE)))
    for change in (lambda t: {**t, "output": t["output"][:, :3]},
                   lambda t: {**t, "c_n": np.zeros_like(t["h_n"])}):  # fmt: skip
        records.append(run_case(CASE, changed(change)).record(node_id(CASE)))
    return json.loads(json.dumps(records))  # as a reader gets them


BREAKERS = [
    break_outcome, break_case_id, break_metric, break_passed, break_record_key, break_location,
    break_lengths,
]  # fmt: skip


@pytest.mark.parametrize("breaking", [None, *BREAKERS])
def test_the_compiled_check_agrees_with_jsonschema(breaking, schema, monkeypatch):
    """The readers' fast check (conformance/results_schema.py) must accept and refuse exactly
    what jsonschema does: a disagreement would either pass a broken file or refuse a good one."""
    from conformance.results_schema import compile_schema

    fast = compile_schema(schema, "#/$defs/record")
    slow = jsonschema.Draft202012Validator({"$ref": "#/$defs/record", "$defs": schema["$defs"]})
    for rec in sample_records(monkeypatch):
        doc = document([copy.deepcopy(rec)])
        if breaking is not None:
            try:
                breaking(doc)
            except (KeyError, TypeError):
                continue  # the breaker needs a tensor this record does not have
        instance = doc["records"][0]
        assert fast(instance) == slow.is_valid(instance), (breaking, rec["outcome"])
        if breaking is None:
            assert fast(instance)


def test_the_compiled_check_refuses_keywords_it_does_not_know(schema):
    from conformance.results_schema import compile_schema

    with pytest.raises(ValueError, match="uniqueItems"):
        compile_schema({"type": "array", "uniqueItems": True})
    assert compile_schema(schema)(document([]))


def test_a_full_grid_file_validates_in_a_few_seconds(monkeypatch):
    """The whole grid's file has ~12000 records; jsonschema alone takes ~45 s for them."""
    import time

    from conformance.results_schema import validate

    honest_record = json.loads(json.dumps(run_case(CASE, honest).record(node_id(CASE))))
    doc = document([copy.deepcopy(honest_record) for _ in range(12000)])
    start = time.process_time()
    validate(doc, "grid.json")
    assert time.process_time() - start < 10.0

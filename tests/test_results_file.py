"""`pytest conformance --results-json` as users run it: in a subprocess, with xdist workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.request import gradient_names
from conformance.check import declared_outcome
from conformance.checks import CHECKS
from conformance.grid import all_cases, case_from_id
from conformance.jsonsafe import to_json_safe

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_CONFIG_KEYS = {
    "mode", "nonlinearity", "num_layers", "bidirectional", "batch_first", "proj_size", "bias",
    "initial_state", "dtype", "seq_len", "batch", "input_size", "hidden_size",
}  # fmt: skip
OUTCOMES = {
    "passed", "failed", "unsupported", "known-divergence", "error", "crashed", "timeout", "skipped",
}  # fmt: skip

pytestmark = pytest.mark.slow


def expected_outcome(case_id: str) -> str:
    """`passed` for a case of the honest reference that runs; else what its declarations say
    (numpy has no training mode; it is the calibration of low_precision, not judged)."""
    declared = declared_outcome(case_from_id(case_id))
    return "passed" if declared is None else declared.outcome


def runs(case) -> bool:
    return declared_outcome(case) is None


def run_suite(tmp_path, *args, **env):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-q"]
    command += ["--results-json", str(results), *args]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    document = json.loads(results.read_text()) if results.exists() else None
    return completed, document


def test_xdist_run_writes_one_file_with_every_case(tmp_path):
    completed, document = run_suite(tmp_path, "-n", "2", "--impl", "numpy", "--mode", "GRU,LSTM")
    assert completed.returncode == 0, completed.stdout[-3000:]
    expected = {c.id for c in all_cases(["numpy"], mode_labels=("GRU", "LSTM"))}
    records = document["records"]
    assert len(records) == len(expected)
    assert {r["case_id"] for r in records} == expected
    assert document["schema"] == "rnn-conformance/1"
    assert document["run"]["complete"] is True
    environment = document["environment"]
    assert {"python", "platform", "device", "packages"} <= environment.keys()
    assert "numpy" in environment["packages"]
    for record in records:
        assert set(record["config"]) >= CONTRACT_CONFIG_KEYS
        assert record["check"] in CHECKS and record["implementation"] == "numpy"
        assert record["outcome"] == expected_outcome(record["case_id"]), record["reason"]
        if record["outcome"] != "passed":
            continue
        assert record["test"].startswith("conformance/test_checks.py::test_check[")
        tensors = {"output", "h_n"} | ({"c_n"} if record["config"]["mode"] == "LSTM" else set())
        if record["check"] == "batch_rows":
            tensors |= {f"{name}_alone" for name in tensors}
        if record["check"] == "lengths":
            tensors.add("output_padding")
        if record["check"] == "gradients":
            case = case_from_id(record["case_id"])
            tensors |= set(gradient_names(CHECKS["gradients"].request(case)))
        assert set(record["metrics"]) == tensors
        for metrics in record["metrics"].values():
            assert metrics["shape_ok"] is True
            assert 0 <= metrics["max_abs_err"] <= 1e-5 and metrics["max_rel_err"] >= 0
        assert record["duration_s"] >= 0
    assert "conformance results" in completed.stdout


def test_a_real_failure_fails_the_run_and_is_recorded_with_where_and_how(tmp_path):
    completed, document = run_suite(
        tmp_path, "--impl", "numpy", "--mode", "GRU", "--dtype", "float64",
        "-p", "tests.meta_plugins.plant_gru_bug",
    )  # fmt: skip
    assert completed.returncode == 1
    failed = [r for r in document["records"] if r["outcome"] == "failed"]
    passed = [r for r in document["records"] if r["outcome"] == "passed"]
    cases = [c for c in all_cases(["numpy"], dtypes=("float64",), mode_labels=("GRU",)) if runs(c)]
    # against the reference; a relation or claim sees the same bug on both sides, and holds
    judged = [c for c in cases if CHECKS[c.check].against_reference]
    with_bias = sum(c.bias for c in judged)
    assert len(failed) == with_bias and len(passed) == len(cases) - with_bias
    assert all(r["config"]["bias"] and CHECKS[r["check"]].against_reference for r in failed)
    assert not any(r["config"]["bias"] for r in passed if CHECKS[r["check"]].against_reference)
    assert "worst at time step" in completed.stdout
    assert "python -m conformance.repro forward-GRU-L" in completed.stdout
    assert "python -m conformance.repro lengths-GRU-L" in completed.stdout


def test_a_dead_worker_is_recorded_as_crashed_and_the_rest_is_kept(tmp_path):
    victim = "forward-GRU-L2-bi-seq_first-bias-h0-numpy-float64"
    completed, document = run_suite(
        tmp_path, "-n", "2", "--impl", "numpy", "--mode", "GRU",
        "-p", "tests.meta_plugins.crash_case", CRASH_CASE=victim,
    )  # fmt: skip
    assert completed.returncode != 0
    by_id = {r["case_id"]: r for r in document["records"]}
    assert by_id[victim]["outcome"] == "crashed"
    assert "crashed" in by_id[victim]["reason"]
    others = [r for i, r in by_id.items() if i != victim]
    assert len(others) == len(all_cases(["numpy"], mode_labels=("GRU",))) - 1
    assert all(r["outcome"] == expected_outcome(r["case_id"]) for r in others)


def test_sigterm_keeps_what_finished(tmp_path):
    completed, document = run_suite(
        tmp_path, "--impl", "numpy", "--mode", "LSTM",
        "-p", "tests.meta_plugins.sigterm_after", SIGTERM_AFTER="25",
    )  # fmt: skip
    assert completed.returncode == 2  # pytest's "interrupted"
    assert document["run"]["complete"] is False
    assert 24 <= len(document["records"]) <= 25
    assert all(r["outcome"] == expected_outcome(r["case_id"]) for r in document["records"])


def test_unknown_option_values_are_usage_errors(tmp_path):
    completed, _ = run_suite(tmp_path, "--impl", "tensorflow")
    assert completed.returncode == 4
    assert "--impl: unknown ['tensorflow']" in completed.stderr


def test_the_results_file_is_readable_by_others_like_any_output(tmp_path):
    from conformance.results import write_json_atomic

    path = tmp_path / "r.json"
    write_json_atomic(path, {"schema": "x"})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_file_is_the_json_of_its_document_byte_for_byte(tmp_path):
    """ResultsFile writes each record's text made when it arrived, joined: exactly what
    serializing the whole document at once gives, at every write and at the end."""
    from conformance.results import SEPARATORS, ResultsFile

    results = ResultsFile(tmp_path / "r.json")
    records = [
        {"case_id": "a", "outcome": "passed", "metrics": {"output": {"max_abs_err": 0.5}}},
        {"case_id": 'b\u00e9"', "outcome": "failed", "metrics": {"x": float("nan")}},
        {"case_id": "c", "outcome": "error", "reason": "inf", "values": [float("-inf"), 1e-300]},
    ]
    for count, record in enumerate(records, 1):
        results.add(record)
        results.flush()
        written = (tmp_path / "r.json").read_text()
        assert written == json.dumps(results.document(), separators=SEPARATORS)
        assert len(json.loads(written)["records"]) == count
    results.close(0, interrupted=False)
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["run"]["complete"] is True
    assert document["records"][1]["metrics"]["x"] == "NaN"  # to_json_safe's, as ever


def test_a_record_s_text_made_by_a_worker_is_written_as_it_came(tmp_path):
    """The controller keeps a worker's text of a record (plugin.attach_record's) instead of
    making it again: the file is still the JSON of its document, byte for byte."""
    from conformance.plugin import RECORD_KEY, ResultsPlugin, attach_record
    from conformance.results import SEPARATORS

    class Node:
        nodeid = "conformance/test_checks.py::test_check[x]"
        user_properties: list = []

    class Result:
        def record(self, nodeid):
            return {"test": nodeid, "metrics": {"x": float("nan"), "y": 0.1}, "reason": "é"}

    attach_record(Node, Result())
    ((key, text),) = Node.user_properties
    assert key == RECORD_KEY

    class Report:
        nodeid, when, user_properties = Node.nodeid, "call", Node.user_properties

    plugin = ResultsPlugin(tmp_path / "r.json", None, None)
    plugin.pytest_runtest_logreport(Report)
    assert plugin.results._texts == [text] and plugin.results._texts[0] is text  # not made again
    plugin.results.flush()
    document = plugin.results.document()
    assert document["records"] == [to_json_safe(Result().record(Node.nodeid))]
    assert (tmp_path / "r.json").read_text() == json.dumps(document, separators=SEPARATORS)


def test_a_framework_that_is_not_installed_is_skipped_and_the_run_passes(tmp_path):
    completed, document = run_suite(
        tmp_path, "-n", "2", "--impl", "numpy,torch", "--mode", "GRU",
        "-p", "tests.meta_plugins.hide_torch",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:]
    torch = [r for r in document["records"] if r["implementation"] == "torch"]
    assert torch and all(r["outcome"] == "skipped" for r in torch)
    assert all("torch not installed (pip install '.[torch]')" in r["reason"] for r in torch)
    numpy = [r for r in document["records"] if r not in torch]
    assert all(r["outcome"] == expected_outcome(r["case_id"]) for r in numpy)


def test_a_settled_case_is_skipped_in_setup_with_its_declared_record(tmp_path):
    """A case the declarations settle (unsupported, not installed, no GPU) is concluded before
    its fixtures and test body: the controller gets its skip at setup and its teardown, no call,
    and the record the declarations give; a case that runs has all three phases."""
    phases = tmp_path / "phases.jsonl"
    completed, document = run_suite(
        tmp_path, "-n", "2", "--impl", "numpy,jax,torch-cuda", "--check", "forward",
        "--mode", "GRU,LSTM", "--dtype", "float32", "-p", "tests.meta_plugins.report_phases",
        REPORT_PHASES=str(phases),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:]
    reports: dict[str, list] = {}
    for line in phases.read_text().splitlines():
        nodeid, when, outcome = json.loads(line)
        reports.setdefault(nodeid, []).append((when, outcome))
    records = {r["case_id"]: r for r in document["records"]}
    selected = all_cases(
        ["numpy", "jax", "torch-cuda"], ("float32",), ("GRU", "LSTM"), checks=("forward",)
    )
    assert len(document["records"]) == len(selected) and set(records) == {c.id for c in selected}
    settled = 0
    for case_id, record in records.items():
        declared = declared_outcome(case_from_id(case_id))
        got = reports[record["test"]]
        if declared is None:
            assert [when for when, _ in got] == ["setup", "call", "teardown"], (case_id, got)
            continue
        settled += 1
        assert got == [("setup", "skipped"), ("teardown", "passed")], (case_id, got)
        assert record == to_json_safe(declared.record(record["test"]))
    assert settled and settled < len(records)  # jax's GRU cases: unsupported; numpy runs
    assert "unsupported: jax.experimental.rnn has only an LSTM" in completed.stdout  # -rs


def test_a_user_s_skip_mark_and_setup_only_come_before_the_declarations(tmp_path):
    """The declarations conclude a case last in its setup: a user's skip mark on an unsupported
    case still skips it as the user's; --setup-only runs no test and records none."""
    unsupported = "forward-GRU-L1-uni-seq_first-bias-h0-jax-float32"
    args = ["--impl", "numpy,jax", "--check", "forward", "--mode", "GRU", "--dtype", "float32"]
    args += ["-k", "L1-uni-seq_first-bias-h0"]
    completed, document = run_suite(
        tmp_path, *args, "-p", "tests.meta_plugins.quarantine", QUARANTINE=unsupported
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
    records = {r["case_id"]: r for r in document["records"]}
    assert declared_outcome(case_from_id(unsupported)).outcome == "unsupported"
    assert records[unsupported]["outcome"] == "skipped"
    assert records[unsupported]["reason"] == "quarantined"  # the mark's reason, as written
    completed, document = run_suite(tmp_path, *args, "--setup-only")
    assert completed.returncode == 0, completed.stdout[-2000:]
    assert document["records"] == []


def test_report_html_needs_the_results_file(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "--report-html", str(tmp_path / "r.html")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 4 and "--report-html needs --results-json" in completed.stderr


def test_a_hanging_case_times_out_and_the_rest_runs(tmp_path):
    pytest.importorskip("pytest_timeout", reason="pytest-timeout not installed (.[suite])")
    victim = "forward-GRU-L1-uni-seq_first-bias-h0-numpy-float32"
    completed, document = run_suite(
        tmp_path, "-n", "2", "--impl", "numpy", "--mode", "GRU", "--dtype", "float32",
        "--timeout", "3", "-p", "tests.meta_plugins.hang_case", HANG_CASE=victim,
    )  # fmt: skip
    assert completed.returncode == 1
    by_id = {r["case_id"]: r for r in document["records"]}
    assert by_id[victim]["outcome"] == "timeout"
    assert "time limit 3 s" in by_id[victim]["reason"]
    assert len(by_id) == len(all_cases(["numpy"], dtypes=("float32",), mode_labels=("GRU",)))
    assert all(r["outcome"] == expected_outcome(i) for i, r in by_id.items() if i != victim)


def test_nan_and_inf_outputs_keep_every_record_and_the_report(tmp_path):
    """Non-finite numbers are data: written as "NaN"/"Infinity" strings, never a lost run."""
    report = tmp_path / "report.html"
    completed, document = run_suite(
        tmp_path, "-n", "2", "--impl", "numpy", "--mode", "GRU", "--check", "forward",
        "--report-html", str(report), "-p", "tests.meta_plugins.poison_outputs",
    )  # fmt: skip
    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "INTERNALERROR" not in completed.stdout + completed.stderr
    cases = all_cases(["numpy"], mode_labels=("GRU",), checks=("forward",))
    assert len(document["records"]) == len(cases) and document["run"]["complete"] is True
    for record in document["records"]:
        config = record["config"]
        poisoned = config["bidirectional"] or config["num_layers"] == 2
        assert record["outcome"] == ("failed" if poisoned else "passed"), record["case_id"]
        output = record["metrics"]["output"]
        if poisoned:
            assert output["max_abs_err"] == output["tolerance_ratio"] == "Infinity"
        if config["num_layers"] == 2:
            assert record["metrics"]["h_n"]["worst"]["got"] == "-Infinity"
        elif config["bidirectional"]:
            assert output["worst"]["got"] == "NaN"
    assert report.exists() and "NaN" in report.read_text()

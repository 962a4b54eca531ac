"""The compatibility report: matrix, drill-down data, merged runs, escaping, Markdown, CLI."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cases import Case
from conformance.check import CaseResult
from reports import html, markdown
from reports.model import build, magnitude_class

ROOT = Path(__file__).resolve().parents[1]


def metric(ratio: float) -> dict:
    """How one tensor compares, as the suite writes it (a sequence tensor's worst element)."""
    return {"shape_ok": True, "max_abs_err": ratio * 1e-5, "max_rel_err": ratio * 2e-5,
            "tolerance_ratio": ratio, "mismatched": int(ratio > 1), "size": 315,
            "expected_shape": [7, 5, 9], "got_shape": [7, 5, 9],
            "worst": {"time step": 1, "batch row": 2, "layer": 0, "direction": "forward",
                      "unit": 3, "index": [1, 2, 3], "got": 0.5, "expected": 0.4}}  # fmt: skip


def record(case: Case, outcome: str, ratio: float | None = 0.01, reason: str = "") -> dict:
    """A record that validates against the schema (readers check it)."""
    result = CaseResult(case, outcome, reason)
    rec = result.record(f"conformance/test_checks.py::test_check[{case.id}]")
    if ratio is not None:
        rec["metrics"] = {"output": metric(ratio)}
    if outcome == "known-divergence":
        rec["divergences"] = [DIVERGENCE | {"implementation": case.implementation}]
    return rec


DIVERGENCE = {"implementation": "torch", "reason": "planted", "link": "https://example.org/1",
              "repro": "", "tensors": None, "raises": "", "bound": "finite"}  # fmt: skip


def document(records: list[dict], torch_version: str = "2.13.0") -> dict:
    return {
        "schema": "rnn-conformance/1",
        "environment": {"python": "3.11.7", "platform": "linux", "machine": "x86_64",
                        "device": "cpu", "packages": {"torch": torch_version, "numpy": "2.4.6"}},
        "run": {"started": "2026-11-23T10:11:14+00:00", "argv": ["conformance"], "complete": False},
        "records": records,
    }  # fmt: skip


GRU = Case("forward", "GRU", implementation="torch", dtype="float32")
LSTM = Case("forward", "LSTM", 2, True, True, 8, False, "zeros", "full", "torch", "float64")


def row_of(report, feature: str, value: str) -> int:
    return report.rows.index((feature, value))


def test_cells_count_outcomes_and_keep_the_worst_error():
    report = build([document([record(GRU, "passed", 0.02), record(LSTM, "failed", 3.0)])])
    assert [c.implementation for c in report.columns] == ["torch"]
    assert report.columns[0].label == "torch 2.13.0 · cpu"
    gru = report.cell(row_of(report, "mode", "GRU"), 0)
    assert gru.status == "pass" and gru.counts["pass"] == 1 and gru.worst == 0.02
    dtype32 = report.cell(row_of(report, "dtype", "float32"), 0)
    assert dtype32.records == [0]
    check = report.cell(row_of(report, "check", "forward"), 0)
    assert check.status == "fail" and check.worst == 3.0  # the most severe status shows
    assert check.counts["pass"] == 1 and check.counts["fail"] == 1


def test_unsupported_and_divergence_are_their_own_statuses_never_pass():
    report = build([document([record(GRU, "unsupported", None, "no such layer"),
                              record(LSTM, "known-divergence", 50.0, "flax#5594")])])  # fmt: skip
    assert report.cell(row_of(report, "mode", "GRU"), 0).status == "unsupported"
    assert report.cell(row_of(report, "mode", "LSTM"), 0).status == "known divergence"
    assert report.cell(row_of(report, "mode", "LSTM"), 0).worst is None  # not a precision figure


def test_two_runs_sit_side_by_side_and_changed_cells_are_marked():
    before = document([record(GRU, "passed"), record(LSTM, "passed")], "2.13.0")
    after = document([record(GRU, "failed", 40.0), record(LSTM, "passed")], "2.14.1")
    report = build([before, after], ["before.json", "after.json"])
    assert [c.label for c in report.columns] == ["torch 2.13.0 · cpu", "torch 2.14.1 · cpu"]
    gru = row_of(report, "mode", "GRU")
    assert report.cell(gru, 1).changed and not report.cell(gru, 0).changed
    assert not report.cell(row_of(report, "mode", "LSTM"), 1).changed
    page = html.render(report)
    assert page.count('class="cell s-fail changed"') >= 1
    assert "Δ changed" in markdown.render(report)


def test_the_same_environment_twice_is_told_apart_by_file():
    report = build([document([record(GRU, "passed")])] * 2, ["a.json", "b.json"])
    assert [c.label for c in report.columns] == ["torch 2.13.0 · cpu · a.json",
                                                 "torch 2.13.0 · cpu · b.json"]  # fmt: skip


def test_everything_from_a_results_file_is_escaped():
    hostile = "</script><script>alert('x')</script><img src=x onerror=alert(1)>"
    rec = record(GRU, "error", None, hostile)
    doc = document([rec])
    doc["environment"]["platform"] = hostile
    page = html.render(build([doc], [hostile]))
    assert "<script>alert" not in page and "<img src=x" not in page
    data = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(data.group(1))["reasons"][0]["text"] == hostile  # intact, as data
    piped = markdown.render(build([document([record(GRU, "passed")], torch_version="2.13|x")]))
    assert "torch 2.13\\|x" in piped


def test_the_page_is_self_contained():
    page = html.render(build([document([record(GRU, "passed")])]))
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external scripts, styles, fonts
    assert "<style>" in page and "<script>" in page


def test_cli_builds_html_and_markdown(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document([record(GRU, "passed")])))
    run = [sys.executable, "-m", "reports"]
    out = subprocess.run(run + ["build", str(path), "-o", str(tmp_path / "r.html")],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    md = subprocess.run(run + ["markdown", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert md.returncode == 0 and "\n| feature | value | torch" in md.stdout
    bad = subprocess.run(run + ["build", str(tmp_path / "missing.json"), "-o", "x.html"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "missing.json" in bad.stderr


def test_a_results_file_of_another_schema_is_refused(tmp_path):
    path = tmp_path / "r.json"
    other = copy.deepcopy(document([]))
    other["schema"] = "something-else/9"
    path.write_text(json.dumps(other))
    out = subprocess.run([sys.executable, "-m", "reports", "build", str(path), "-o", "x.html"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2 and "schema" in out.stderr


@pytest.mark.parametrize(
    "ratio, bucket",
    [
        (None, "m-none"),
        (0.0, "m-exact"),
        (2e-5, "m-4"),
        (0.02, "m-1"),
        (0.5, "m-0"),
        (1.5, "m-over"),
    ],
)
def test_error_colours_by_magnitude(ratio, bucket):
    assert magnitude_class(ratio) == bucket

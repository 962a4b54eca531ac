"""The report as porters read it (issue 14): "partial", one verdict line per implementation,
`reports query`, the size of known divergences, labels from facts, incomplete runs."""

from __future__ import annotations

import json
import math
import re

import pytest

from adapters.registry import IMPLEMENTATIONS
from conformance.cases import Case
from conformance.grid import all_cases
from reports import html, markdown
from reports.model import build
from reports.summary import summarize
from tests.test_reports import document, record, row_of
from tests.test_reports_hostile import run_reports, write_results

PROJ_REASON = next(x.reason for x in IMPLEMENTATIONS["keras"].limits if x.feature == "proj_size")


def keras_forward() -> list[dict]:
    """Keras's forward grid as it runs: proj_size unsupported, the rest passed."""
    records = []
    for case in all_cases(["keras"], checks=["forward"]):
        if case.proj_size:
            records.append(record(case, "unsupported", None, PROJ_REASON))
        else:
            records.append(record(case, "passed", 0.02))
    return records


def keras_document(complete: bool = True) -> dict:
    doc = document(keras_forward())
    doc["environment"]["packages"].update(keras="3.15.1", tensorflow="2.21.0")
    doc["run"]["complete"] = complete
    if complete:
        doc["run"].update(finished="2026-11-23T10:20:00+00:00", exitstatus=0)
    return doc


# --- 1: partial, and one line per implementation ---


def test_a_cell_of_passes_and_unsupported_cases_is_partial_never_pass():
    report = build([keras_document()])
    lstm = report.cell(row_of(report, "mode", "LSTM"), 0)
    assert lstm.counts["pass"] and lstm.counts["unsupported"]
    assert lstm.status == "partial"
    assert report.cell(row_of(report, "mode", "GRU"), 0).status == "pass"
    assert report.cell(row_of(report, "proj_size", "proj_size > 0"), 0).status == "unsupported"
    page = html.render(report)
    assert re.search(
        r'class="cell s-partial"[^>]*>\s*<span class="glyph"[^>]*>◐</span> partial', page
    )
    assert "96/192 pass · 96 unsup" in page  # LSTM: 96 of its 192 forward cases pass


def test_a_problem_outranks_partial():
    records = keras_forward()
    lstm = next(i for i, r in enumerate(records) if r["config"]["mode"] == "LSTM")
    records[lstm] = record(Case("forward", "LSTM", implementation="keras"), "failed", 5.0, "x")
    report = build([document(records)])
    assert report.cell(row_of(report, "mode", "LSTM"), 0).status == "fail"


def test_the_summary_and_the_page_lead_with_one_line_per_implementation(tmp_path):
    doc = keras_document()
    doc["records"] += [record(c, "passed", 0.01) for c in all_cases(["torch"], checks=["forward"])]
    expected = "keras: 384 of 480 pass, 96 unsupported (proj_size), 0 fail"
    text = summarize([doc])
    assert text.splitlines()[:2] == [expected, "torch: 480 of 480 pass, 0 fail"]
    page = html.render(build([doc]))
    verdicts = page[page.index('id="verdicts"') : page.index("</ul>")]
    assert expected in verdicts and "s-partial" in verdicts
    assert f"- {expected.replace('proj_size', 'proj' + chr(92) + '_size')}" in markdown.render(
        build([doc])
    )
    status, out, _ = run_reports("summary", write_results(tmp_path / "r.json", doc))
    assert status == 0 and out.startswith(expected + "\n")


def test_the_reference_compared_with_itself_is_no_column():
    doc = keras_document()
    doc["records"] += [record(c, "passed", 0.0) for c in all_cases(["numpy"], checks=["forward"])]
    report = build([doc])
    assert [c.implementation for c in report.columns] == ["keras"]
    assert len(report.reference) == 480
    page = html.render(report)
    assert "<th>numpy<br>" not in page
    assert "numpy (the reference, compared with itself): 480 of 480 pass, 0 fail" in page
    assert "numpy (the reference" in summarize([doc])


# --- 2: query ---


@pytest.fixture
def mixed_results(tmp_path) -> str:
    doc = keras_document()
    doc["records"] += [record(c, "passed", 0.01) for c in all_cases(["torch"], checks=["forward"])]
    return str(write_results(tmp_path / "r.json", doc))


def test_query_prints_a_verdict_per_implementation(mixed_results):
    status, out, err = run_reports(
        "query", mixed_results, "mode=LSTM", "num_layers=2", "bidirectional=true", "proj_size=8"
    )
    assert status == 0, err
    assert out.splitlines() == [
        "keras: unsupported (0 of 16 pass, 16 unsupported (proj_size), 0 fail; "
        + " ".join(PROJ_REASON.split())[:239]
        + ("…" if len(PROJ_REASON) > 240 else "")
        + ")",
        "torch: pass (16 of 16 pass, 0 fail)",
    ]


def test_query_says_partial_with_counts_and_reads_yes_no_and_alternatives(mixed_results):
    status, out, _ = run_reports("query", mixed_results, "mode=LSTM,GRU", "bias=no", "impl=keras")
    assert status == 0
    assert out.startswith("keras: partial (96 of 144 pass, 48 unsupported (proj_size), 0 fail; ")


@pytest.mark.parametrize(
    "term, message",
    [
        ("colour=red", "unknown key 'colour'; keys: "),
        ("mode=LSTMX", "no case has mode=lstmx; values of mode in these results files: "),
        ("num_layers=7", "values of num_layers in these results files: 1, 2, 3"),
        ("mode=", "'mode=' is not key=value"),
        ("=LSTM", "'=LSTM' is not key=value"),
    ],
)
def test_query_refuses_an_unknown_key_or_value_with_exit_2(mixed_results, term, message):
    status, out, err = run_reports("query", mixed_results, term)
    assert status == 2 and out == "" and message in err


# --- 3: the size of known divergences ---


def divergent_document() -> dict:
    records = [record(Case("forward", "GRU", implementation="torch"), "passed", 0.011)]
    records.append(
        record(
            Case("forward", "GRU", implementation="torch", dtype="float32"),
            "known-divergence",
            3.5e5,
        )
    )
    return document(records)


def test_a_known_divergence_shows_its_worst_error_in_cell_summary_and_markdown():
    report = build([divergent_document()])
    gru = report.cell(row_of(report, "mode", "GRU"), 0)
    assert gru.worst == 0.011 and gru.worst_divergence == 3.5e5
    assert "≈ 3.5e+05× tol" in html.render(report)
    assert "divergence 3.5e+05× tol" in markdown.render(report)
    text = summarize([divergent_document()])
    assert "torch: 1 of 2 pass, 1 known divergence (worst 3.5e+05× tol), 0 fail" in text
    float32 = next(line for line in text.splitlines() if "float32" in line and "forward" in line)
    assert float32.split()[-1] == "3.5e+05"  # the summary table's divergence column


def test_the_histograms_count_known_divergences_apart():
    dists = html.distributions(build([divergent_document()]))
    float32 = next(d for d in dists if "float32" in d["name"])
    assert [bar["kind"] for bar in float32["bars"]] == ["divergence"]


# --- 9: labels from facts; incomplete runs ---


def test_columns_name_every_package_an_implementation_runs_on_with_its_build_tag():
    doc = keras_document()
    doc["records"] += [record(c, "passed") for c in all_cases(["torch"], checks=["forward"])][:2]
    doc["environment"]["packages"]["torch"] = "2.13.0+cpu"
    labels = {c.implementation: c.label for c in build([doc]).columns}
    assert labels == {
        "keras": "keras 3.15.1 · tensorflow 2.21.0 · cpu",
        "torch": "torch 2.13.0+cpu · cpu",
    }


def test_a_cuda_column_says_its_gpu_not_the_runs_cpu():
    doc = document([record(all_cases(["torch-cuda"], checks=["forward"])[0], "passed")])
    doc["environment"]["device"] = "cpu; cuda: NVIDIA H100 80GB HBM3"
    assert build([doc]).columns[0].label == "torch 2.13.0 · NVIDIA H100 80GB HBM3"
    doc["environment"]["device"] = "cpu"
    assert build([doc]).columns[0].label == "torch 2.13.0 · cuda (no GPU named)"


def test_summary_markdown_and_page_say_when_a_run_was_incomplete(tmp_path):
    for complete in (True, False):
        doc = keras_document(complete)
        said = "incomplete run" in summarize([doc], ["r.json"])
        assert said is not complete
        assert ("incomplete run" in markdown.render(build([doc], ["r.json"]))) is not complete
        assert ('role="alert"' in html.render(build([doc], ["r.json"]))) is not complete


def test_the_page_data_of_a_full_grid_stays_small():
    """Everything repeated is stored once: the whole grid's page stays under 3 MB."""
    records = []
    for case in all_cases():
        limit = next(iter(IMPLEMENTATIONS[case.implementation].limits), None)
        if case.proj_size and limit is not None:
            records.append(record(case, "unsupported", None, limit.reason))
        else:
            records.append(record(case, "passed", 0.0123456789))
    page = html.render(build([document(records)]))
    assert len(page.encode()) < 3_000_000, len(page.encode())
    data = json.loads(
        re.search(r'id="report-data" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    assert len(data["records"]) == len(records) - len(all_cases(["numpy"]))


# --- 7: Δ marks changed behaviour, not a different selection ---


def test_a_different_selection_is_no_change_but_another_error_decade_is():
    cases = all_cases(["torch"], checks=["forward"], mode_labels=("GRU",))
    before = document([record(c, "passed", 0.01) for c in cases[:10]], "2.13.0")
    wider = document([record(c, "passed", 0.01) for c in cases], "2.14.1")
    report = build([before, wider], ["a.json", "b.json"])
    assert not any(cell.changed for cell in report.cells.values())
    moved = [record(c, "passed", 0.01) for c in cases[:10]]
    moved[3] = record(cases[3], "passed", 0.5)  # still passes, but 50 times further off
    report = build([before, document(moved, "2.14.1")], ["a.json", "b.json"])
    changed = {report.rows[r] for (r, c), cell in report.cells.items() if cell.changed}
    assert ("mode", "GRU") in changed and all(
        c == 1 for (r, c), cell in report.cells.items() if cell.changed
    )
    jitter = [record(c, "passed", 0.01) for c in cases[:10]]
    jitter[3] = record(cases[3], "passed", 0.0099)  # across a decade's boundary, 1% off
    report = build([before, document(jitter, "2.14.1")], ["a.json", "b.json"])
    assert not any(cell.changed for cell in report.cells.values())


def test_a_configuration_nobody_ran_says_why_in_query(tmp_path):
    doc = keras_document()
    doc["records"] += [
        record(c, "passed") for c in all_cases(["torch"], mode_labels=("GRU",), checks=["forward"])
    ]
    status, out, _ = run_reports("query", write_results(tmp_path / "r.json", doc), "mode=GRU")
    assert "keras: pass" in out
    doc["records"] = [r for r in doc["records"] if r["implementation"] == "torch"] + [
        record(all_cases(["keras"], mode_labels=("LSTM",), checks=["forward"])[0], "passed")
    ]
    status, out, _ = run_reports("query", write_results(tmp_path / "r.json", doc), "mode=GRU")
    assert (
        "keras: no case (none of its cases has this configuration: not selected in this run)" in out
    )


# --- 9: the environment records versions and devices as they are ---


def test_a_framework_reported_version_keeps_its_build_tag(tmp_path, monkeypatch):
    from conformance import results

    package = tmp_path / "fakeframework"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "version.py").write_text("__version__ = '2.13.0+cu130'\ncuda = '13.0'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert results.reported_version("fakeframework") == "2.13.0+cu130"
    assert results.reported_version("no_such_framework_here") is None


def test_the_device_label_names_the_gpus_the_driver_lists(tmp_path, monkeypatch):
    from conformance import results

    monkeypatch.setattr(results, "NVIDIA_GPUS", tmp_path)
    assert results.device_label() == "cpu"
    (tmp_path / "0000:01:00.0").mkdir()
    (tmp_path / "0000:01:00.0" / "information").write_text(
        "Model: \t NVIDIA H100 80GB HBM3\nIRQ: 1\n"
    )
    assert results.device_label() == "cpu; cuda: NVIDIA H100 80GB HBM3"


def test_the_page_keeps_the_worst_tensor_of_a_pass_and_every_bad_tensor_of_a_failure():
    from reports.page_data import page_data
    from tests.test_reports import metric

    passed = record(Case("forward", "GRU", implementation="torch"), "passed", 0.01)
    passed["metrics"]["h_n"] = metric(0.2)
    failed = record(Case("forward", "GRU", implementation="torch", dtype="float32"), "failed", 0.5)
    failed["metrics"] |= {"h_n": metric(30.0), "c_n": metric(math.nan)}
    failed["metrics"]["c_n"]["worst"] = {}
    data = page_data(build([document([passed, failed])]))
    (pass_row, fail_row) = data["records"]
    assert [t[0] for t in pass_row[5]] == ["h_n"] and len(pass_row[5][0]) == 4  # no location
    assert [t[0] for t in fail_row[5]] == ["c_n", "h_n"]  # NaN first; output is within tolerance
    assert "worst" not in fail_row[5][1][4] and "time step 1" in fail_row[5][1][4]


def test_an_empty_cell_says_why_it_was_not_run():
    cases = all_cases(["torch"], checks=["forward"], mode_labels=("GRU",))
    doc = document(
        [record(cases[0], "passed")]
        + [record(all_cases(["keras"], checks=["forward"])[0], "passed")]
    )
    page = html.render(build([doc]))  # complete is False in document(): the run may have stopped
    assert 'not run<span class="counts">not selected or run stopped</span>' in page
    doc["run"].update(complete=True, finished="2026-11-23T10:20:00+00:00", exitstatus=0)
    assert 'not run<span class="counts">not selected</span>' in html.render(build([doc]))


def test_query_refuses_what_cannot_be_answered_and_reads_list_values(tmp_path):
    results = write_results(tmp_path / "r.json", keras_document())
    status, _, err = run_reports("query", results, "check=forward", "check=lengths")
    assert status == 2 and "check is given twice" in err
    status, _, err = run_reports("query", results, "mode=RNN_RELU", "nonlinearity=tanh")
    assert status == 2 and "no case has all of" in err  # not "not selected in this run"
    empty = keras_document()
    empty["records"] = []
    status, _, err = run_reports("query", write_results(tmp_path / "e.json", empty), "mode=LSTM")
    assert status == 2 and "no records" in err
    lengths = keras_document()
    case = all_cases(["keras"], checks=["lengths"], mode_labels=("GRU",))[0]
    lengths["records"].append(record(case, "passed", 0.01))
    status, out, err = run_reports(
        "query", write_results(tmp_path / "l.json", lengths), "sequence_lengths=[3, 7, 1, 3, 5]"
    )
    assert status == 0 and out.startswith("keras: pass (1 of 1 pass"), err


def test_runs_are_told_apart_by_their_paths_and_a_file_given_twice_is_refused(tmp_path):
    for shard in ("shard1", "shard2"):
        (tmp_path / shard).mkdir()
        write_results(tmp_path / shard / "results.json", keras_document())
    one, two = (str(tmp_path / s / "results.json") for s in ("shard1", "shard2"))
    status, out, err = run_reports("summary", one, two)
    assert status == 0, err
    assert "shard1/results.json" in out and "shard2/results.json" in out
    status, _, err = run_reports(
        "query", one, str(tmp_path / "shard1" / ".." / "shard1" / "results.json"), "mode=LSTM"
    )
    assert status == 2 and "given twice" in err

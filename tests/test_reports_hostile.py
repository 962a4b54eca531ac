"""`python -m reports` on files it did not write: wrong types, NaN and infinity, hostile names and
links, baselines with missing, pickled, linked or FIFO files. Each ends in a result or a clear
usage error, never a traceback, a hang, live markup or a silent "0 regressions"."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from conformance.baseline import arrays_path, encode_arrays, save_arrays
from conformance.grid import all_cases
from conformance.results import load
from reports import html, markdown
from reports.__main__ import main
from reports.compare import compare_tensor
from reports.model import build, magnitude_class
from reports.page_data import page_data
from reports.summary import summarize
from tests.test_reports import DIVERGENCE, document, record

ROOT = Path(__file__).resolve().parents[1]
CASES = all_cases(["torch"], dtypes=("float32",), mode_labels=("GRU",))[:4]
CASES64 = all_cases(["torch"], dtypes=("float64",), mode_labels=("GRU",))[:4]


def run_reports(*args: str) -> tuple[int, str, str]:
    """`python -m reports ARGS` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def write_results(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "output": rng.standard_normal((3, 2, 4)).astype(np.float32),
        "h_n": rng.standard_normal((1, 2, 4)).astype(np.float32),
    }


def plant_arrays(directory: Path, case_id: str, arrays: dict) -> None:
    """An arrays file under any name, as a hostile or foreign baseline may hold: the suite's own
    writer refuses names that are no case id, so it is written here directly."""
    path = arrays_path(directory, case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_arrays(arrays))


def make_baseline(directory: Path, cases=CASES, outcome: str = "passed", arrays=None) -> Path:
    """A baseline as --save-baseline writes it: runs/*.json and arrays/<case id>.npz."""
    (directory / "runs").mkdir(parents=True)
    records = [record(case, outcome, None if outcome == "skipped" else 0.01) for case in cases]
    write_results(directory / "runs" / "run-1.json", document(records))
    if outcome != "skipped":
        for case in cases:
            save_arrays(directory, case.id, (arrays or {}).get(case.id, tensors()))
    return directory


def no_traceback(*texts: str) -> None:
    assert not any("Traceback" in text for text in texts)


# --- item 2: nothing compared is an error of its own, and every reason is said ---


def test_disjoint_baselines_compare_nothing_and_exit_3(tmp_path):
    old = make_baseline(tmp_path / "old", CASES)
    new = make_baseline(tmp_path / "new", CASES64)  # float32 against float64: no case in common
    status, out, err = run_reports("compare", old, new)
    assert status == 3, out + err
    assert out.startswith("compared 0 cases: 0 regressions")
    assert "4 only in the old baseline" in out and "4 only in the new baseline" in out
    assert "nothing compared" in err


def test_a_deleted_arrays_directory_is_not_compared_with_the_reason(tmp_path):
    old = make_baseline(tmp_path / "old")
    new = make_baseline(tmp_path / "new")
    for path in (new / "arrays").iterdir():
        path.unlink()
    (new / "arrays").rmdir()
    status, out, err = run_reports("compare", old, new, "--json", tmp_path / "c.json")
    assert status == 3, out + err
    changes = json.loads((tmp_path / "c.json").read_text())
    assert changes["compared"] == 0
    assert {item["why"] for item in changes["not_compared"]} == {"arrays missing"}
    assert all("new baseline" in item["detail"] for item in changes["not_compared"])


def test_one_missing_arrays_file_is_listed_and_the_rest_compared(tmp_path):
    old = make_baseline(tmp_path / "old")
    new = make_baseline(tmp_path / "new")
    (new / "arrays" / f"{CASES[1].id}.npz").unlink()
    status, out, _ = run_reports("compare", old, new)
    assert status == 0
    assert out.startswith("compared 3 cases: 0 regressions (in 0 cases), 0 improvements, 1 not")
    assert f"not compared  {CASES[1].id}: arrays missing (no arrays file in the new" in out


def test_a_run_where_everything_was_skipped_compares_nothing(tmp_path):
    old = make_baseline(tmp_path / "old")
    new = make_baseline(tmp_path / "new", outcome="skipped")
    status, out, err = run_reports("compare", old, new)
    assert status == 3 and "4 skipped" in out and "nothing compared" in err


def test_the_exit_statuses_are_in_the_help():
    status, out, _ = run_reports("--help")
    assert status == 0
    assert "1 compare found a regression" in out and "3 compare compared nothing" in out
    assert "2 usage error" in out


# --- item 4: links are live only when they are http(s) ---


HOSTILE_LINKS = [
    "javascript:alert(document.domain)",
    " javascript:alert(1)",
    "JaVaScRiPt:x",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:x",
    "//evil.example/x",
    "https://",
    "docs/findings/x.md",
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_link_that_is_not_http_is_text_never_an_href(link):
    rec = record(CASES[0], "known-divergence", 2.0, "planted")
    rec["divergences"] = [DIVERGENCE | {"link": link}]
    page = html.render(build([document([rec])]))
    data = json.loads(
        re.search(r'id="report-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    )
    assert data["reasons"][0]["link"] == link and data["reasons"][0]["href"] == ""
    assert "WEB_LINK.test(r.href)" in page  # the script checks again before it sets a.href


def test_an_https_link_stays_a_link():
    rec = record(CASES[0], "known-divergence", 2.0, "planted")
    rec["divergences"] = [DIVERGENCE | {"link": "https://github.com/google/flax/issues/5594"}]
    data = page_data(build([document([rec])]))
    assert data["reasons"][0]["href"] == "https://github.com/google/flax/issues/5594"


def test_neither_page_makes_a_link_from_data(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    run_reports("compare", old, new, "-o", tmp_path / "diff.html")
    diff = (tmp_path / "diff.html").read_text()
    assert "href" not in diff and "<script" not in diff
    templates = ROOT / "reports" / "templates"
    template = (templates / "report.html.j2").read_text() + (templates / "report.js").read_text()
    assert "href=" not in template  # no attribute from data; the script sets one, checked:
    assignments = re.findall(r".*\.href = .*", template)
    assert len(assignments) == 2, assignments
    for assignment in assignments:  # a checked web link, or the CSV the page itself made
        checked = "WEB_LINK.test(r.href)" in template.split(assignment)[0].splitlines()[-1]
        assert checked or assignment.strip() == "a.href = URL.createObjectURL(blob);"


# --- item 5: NaN and infinity are data in every report ---


def non_finite_document() -> dict:
    rec = record(CASES[0], "failed", 1.0, "output: NaN")
    rec["metrics"]["output"].update(
        max_abs_err="Infinity", max_rel_err="Infinity", tolerance_ratio="Infinity", mismatched=3
    )
    rec["metrics"]["output"]["worst"].update(got="NaN", expected="-Infinity")
    return document([rec, record(CASES[1], "passed", 0.5)])


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_build_the_page_markdown_and_summary(tmp_path):
    path = write_results(tmp_path / "r.json", non_finite_document())
    status, out, err = run_reports("build", path, "-o", tmp_path / "r.html")
    assert status == 0, err
    page = (tmp_path / "r.html").read_text()
    data = strict_json(re.search(r'type="application/json">(.*?)</script>', page, re.S).group(1))
    (name, max_abs, _, ratio, where) = data["records"][0][5][0]  # its tensors: worst first
    assert (name, max_abs, ratio) == ("output", "Infinity", "Infinity") and "got nan" in where
    assert 'typeof v === "string" ? v' in page  # shown as "Infinity", not as a number
    assert "m-over" in page and "inf× tol" in page  # coloured and sorted as the worst
    status, out, err = run_reports("markdown", path)
    assert status == 0 and "worst inf× tol" in out, err
    status, out, err = run_reports("summary", path)
    assert status == 0 and "failed" in out, err


def test_nan_is_worse_than_any_error_in_the_model():
    doc = document([record(CASES[0], "passed", 0.5), record(CASES[1], "failed", 2.0)])
    doc["records"][1]["metrics"]["output"]["tolerance_ratio"] = math.nan
    report = build([doc])
    assert math.isnan(report.cell(0, 0).worst)  # the check row holds both
    assert magnitude_class(math.nan) == magnitude_class(math.inf) == "m-over"
    assert "NaN" in markdown.render(report)
    html.render(report)
    doc["records"][0]["metrics"]["output"]["tolerance_ratio"] = math.nan  # summary: passed only
    assert "NaN" in summarize([doc])


def test_compare_json_is_strict_json_with_non_finite_values(tmp_path):
    old_arrays, new_arrays = tensors(), tensors()
    old_arrays["output"][0, 0, 0], new_arrays["output"][0, 0, 0] = np.inf, np.nan
    old = make_baseline(tmp_path / "old", arrays={CASES[0].id: old_arrays})
    new = make_baseline(tmp_path / "new", arrays={CASES[0].id: new_arrays})
    status, out, err = run_reports(
        "compare", old, new, "--json", tmp_path / "c.json", "-o", tmp_path / "d.html"
    )
    assert status == 1, out + err
    (change,) = strict_json((tmp_path / "c.json").read_text())["changes"]
    assert change["old_value"] == "Infinity" and change["new_value"] == "NaN"
    assert change["max_abs_diff"] == "Infinity" and change["where"] == [0, 0, 0]


# --- item 8: a wrongly typed field is a usage error that says where and why ---


def wrong_top_level(doc):
    return [doc]


def records_null(doc):
    doc["records"] = None


def metric_string(doc):
    doc["records"][1]["metrics"]["output"]["max_abs_err"] = "1e-7"


def metrics_list(doc):
    doc["records"][1]["metrics"] = [1, 2]


def reason_null(doc):
    doc["records"][1]["reason"] = None


def config_wrong(doc):
    doc["records"][1]["config"] = "GRU"


def outcome_unknown(doc):
    doc["records"][1]["outcome"] = "flaky"


BROKEN = {
    wrong_top_level: "at $: ",
    records_null: "at $.records: None is not of type 'array'",
    metric_string: "record 1 (case {case}) at $.records[1].metrics.output.max_abs_err:",
    metrics_list: "record 1 (case {case}) at $.records[1].metrics: [1, 2] is not of type",
    reason_null: "record 1 (case {case}) at $.records[1].reason: None is not of type 'string'",
    config_wrong: "record 1 (case {case}) at $.records[1].config: 'GRU' is not of type",
    outcome_unknown: "record 1 (case {case}) at $.records[1].outcome: 'flaky' is not one of: "
    "crashed, error, timeout, failed, known-divergence, passed, unsupported, skipped (the "
    "outcomes of conformance/outcomes.py)",
}


@pytest.mark.parametrize("command", ["build", "markdown", "summary"])
@pytest.mark.parametrize("breaking", list(BROKEN), ids=lambda f: f.__name__)
def test_a_wrongly_typed_field_is_a_usage_error_naming_it(breaking, command, tmp_path):
    doc = document([record(CASES[0], "passed"), record(CASES[1], "passed")])
    doc = breaking(doc) or doc
    path = write_results(tmp_path / "broken.json", doc)
    status, out, err = (
        run_reports(command, path, "-o", tmp_path / "x")
        if command != "summary"
        else run_reports(command, path)
    )
    assert status == 2, out + err
    assert f"error: {path}: " + BROKEN[breaking].format(case=CASES[1].id) in err
    assert not (tmp_path / "x").exists()
    no_traceback(out, err)


def test_bare_nan_and_infinity_literals_read_like_the_strings(tmp_path):
    doc = document([record(CASES[0], "failed", 2.0, "output")])
    worst = doc["records"][0]["metrics"]["output"]["worst"]
    worst.update(got=math.nan, expected=-math.inf)
    doc["records"][0]["metrics"]["output"]["max_abs_err"] = math.inf
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(doc))  # allow_nan: NaN, -Infinity, Infinity bare
    assert "NaN" in path.read_text() and '"NaN"' not in path.read_text()
    loaded = load(path)["records"][0]["metrics"]["output"]
    assert math.isnan(loaded["worst"]["got"]) and loaded["worst"]["expected"] == -math.inf
    assert loaded["max_abs_err"] == math.inf
    doc["records"][0]["metrics"]["output"]["max_abs_err"] = math.nan  # an error is never NaN
    path.write_text(json.dumps(doc))
    status, _, err = run_reports("summary", path)
    assert status == 2 and "max_abs_err: 'NaN' is not valid" in err


def test_json_that_is_not_a_results_file_is_a_usage_error(tmp_path):
    huge_number = b'{"schema": "rnn-conformance/1", "records": 1' + b"0" * 5000 + b"}"
    for content in (b"", b"{", b"[" * 100000, huge_number, b'"\xff\xfe"', b"NaN"):
        path = tmp_path / "bad.json"
        path.write_bytes(content)
        status, out, err = run_reports("summary", path)
        assert status == 2 and str(path) in err, err
        no_traceback(out, err)


# --- item 9: outputs are checked before the work, and made where they go ---


def test_compare_writes_into_a_directory_it_creates(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    diff, changes = tmp_path / "out" / "deeper" / "diff.html", tmp_path / "j" / "c.json"
    status, out, err = run_reports("compare", old, new, "-o", diff, "--json", changes)
    assert status == 0, out + err
    assert diff.read_text().startswith("<!doctype html>") and json.loads(changes.read_text())


@pytest.mark.parametrize("command", ["build", "markdown", "compare-o", "compare-json"])
def test_an_unwritable_output_is_a_usage_error_before_the_work(command, tmp_path):
    results = write_results(tmp_path / "r.json", document([record(CASES[0], "passed")]))
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    (tmp_path / "a-file").write_text("x")
    for output, problem in (
        (tmp_path, "is a directory"),
        (tmp_path / "a-file" / "x.html", "is not a directory"),
    ):
        args = {
            "build": ("build", results, "-o", output),
            "markdown": ("markdown", results, "-o", output),
            "compare-o": ("compare", old, new, "-o", output),
            "compare-json": ("compare", old, new, "--json", output),
        }[command]
        status, out, err = run_reports(*args)
        assert status == 2 and problem in err and out == "", out + err  # nothing done yet


# --- item 12: a pickled array is named, that case is not compared, the rest is ---


MARKER = Path("/tmp") / f"rnn-conformance-hostile-pickle-{os.getpid()}"


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def test_a_pickled_npz_is_named_and_the_rest_is_compared(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit()
    hostile = new / "arrays" / f"{CASES[2].id}.npz"
    np.savez(hostile, output=payload, h_n=np.zeros(2))
    status, out, err = run_reports("compare", old, new, "--json", tmp_path / "c.json")
    assert status == 0, out + err
    assert out.startswith("compared 3 cases: 0 regressions")
    assert f"not compared  {CASES[2].id}: arrays unreadable ({hostile}: ValueError: " in out
    assert "allow_pickle" in out
    (item,) = json.loads((tmp_path / "c.json").read_text())["not_compared"]
    assert item["why"] == "arrays unreadable" and str(hostile) in item["detail"]
    assert not MARKER.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip", b"PK\x03\x04garbage", "npy"],
    ids=["empty", "text", "torn-zip", "bare-npy"],
)
def test_an_unreadable_npz_is_named_and_not_compared(content, tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    path = new / "arrays" / f"{CASES[0].id}.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        path.write_bytes(content)
    status, out, err = run_reports("compare", old, new)
    assert status == 0 and f"arrays unreadable ({path}: " in out, out + err
    no_traceback(out, err)


# --- item 13: Markdown cells from a results file carry no markup ---


def test_markdown_escapes_markup_from_results_files(tmp_path):
    doc = document([record(CASES[0], "passed")])
    doc["environment"]["packages"]["torch"] = "<img src=x onerror=alert(1)>`x`|*y*&[l](u)"
    doc["environment"]["device"] = "<script>alert(1)</script>\n| injected |"
    path = write_results(tmp_path / "<b>run<b>.json", doc)
    status, out, err = run_reports("markdown", path)
    assert status == 0, err
    assert "<" not in out and ">" not in out.replace("->", "")  # tags are entities
    assert "&lt;img src=x onerror=alert(1)&gt;\\`x\\`\\|\\*y\\*&amp;\\[l\\](u)" in out
    header, rule, *rows = [line for line in out.splitlines() if line.startswith("|")]
    assert header.count(" | ") == rule.count("---|") - 1  # no cell split by a pipe from data
    assert all(row.count(" | ") == header.count(" | ") for row in rows)


# --- item 14: a baseline is read only inside itself, and only its regular files ---


def test_a_link_out_of_the_baseline_is_not_read(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    outside = tmp_path / "outside.npz"
    np.savez(outside, **tensors(seed=1))  # would be a regression if it were read
    target = new / "arrays" / f"{CASES[0].id}.npz"
    target.unlink()
    target.symlink_to(outside)
    status, out, err = run_reports("compare", old, new)
    assert status == 0, out + err
    assert f"arrays unreadable ({target}: leads out of" in out


def test_a_link_out_of_runs_is_a_usage_error(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    outside = write_results(tmp_path / "elsewhere.json", document([record(CASES[0], "passed")]))
    (new / "runs" / "run-2.json").symlink_to(outside)
    status, _, err = run_reports("compare", old, new)
    assert status == 2 and "leads out of" in err


@pytest.mark.parametrize("where", ["arrays", "runs"])
def test_a_fifo_is_refused_without_blocking(where, tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    fifo = new / where / (f"{CASES[0].id}.npz" if where == "arrays" else "run-0.json")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    completed = subprocess.run(
        [sys.executable, "-m", "reports", "compare", str(old), str(new)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"{fifo}: not a regular file" in completed.stdout + completed.stderr
    assert completed.returncode == (0 if where == "arrays" else 2)


def test_ids_that_are_not_cases_are_listed_never_counted(tmp_path):
    old, new = make_baseline(tmp_path / "old"), make_baseline(tmp_path / "new")
    for directory in (old, new):
        doc = json.loads((directory / "runs" / "run-1.json").read_text())
        for case_id in ("not-a-case", "..", CASES[0].id.replace("GRU", "GRUX")):
            doc["records"].append(record(CASES[0], "passed") | {"case_id": case_id})
            plant_arrays(directory, case_id, tensors(seed=len(str(directory))))  # they differ
        write_results(directory / "runs" / "run-1.json", doc)
    status, out, err = run_reports("compare", old, new, "--json", tmp_path / "c.json")
    assert status == 0, out + err  # the differing arrays of non-cases are never read
    assert out.startswith("compared 4 cases: 0 regressions")
    not_compared = json.loads((tmp_path / "c.json").read_text())["not_compared"]
    assert {item["case_id"] for item in not_compared} == {
        "not-a-case",
        "..",
        CASES[0].id.replace("GRU", "GRUX"),
    }
    assert {item["why"] for item in not_compared} == {"not a case of this suite"}


# --- item 15: non-finite values compare exactly ---


@pytest.mark.parametrize(
    "old, new",
    [
        (np.inf, np.nan),
        (np.nan, np.inf),
        (np.inf, -np.inf),
        (np.nan, 1.0),
        (1.0, np.nan),
        (np.inf, 1e30),
        (1e30, np.inf),
        (-np.inf, 0.0),
        (np.nan, 0.0),
    ],
)
def test_any_change_of_or_to_a_non_finite_value_is_a_regression_there(old, new):
    a = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    b = a + np.float32(1e-7) * (a != 0)  # every other element moves, within 4 ULP
    a[1, 2, 3], b[1, 2, 3] = old, new
    change = compare_tensor(a, b)
    assert change is not None and change["where"] == [1, 2, 3]
    assert change["max_abs_diff"] == math.inf


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_the_same_non_finite_value_agrees(value):
    a = np.zeros((2, 3), np.float64)
    a[0, 1] = value
    assert compare_tensor(a, a.copy()) is None


def test_a_nan_in_the_reference_does_not_let_other_values_pass():
    a = np.array([np.nan, 1.0, np.inf])
    assert compare_tensor(a, np.array([np.nan, 1.0, np.inf])) is None
    assert compare_tensor(a, np.array([np.nan, 2.0, np.inf]))["where"] == [1]


# --- item 16: the summary never drops a record silently ---


def test_the_summary_of_no_records_says_so(tmp_path):
    path = write_results(tmp_path / "empty.json", document([]))
    status, out, _ = run_reports("summary", path)
    assert status == 0 and out.startswith("no records in empty.json")
    status, out, _ = run_reports("markdown", path)
    assert status == 0 and "No records" in out


def test_a_summary_counts_what_it_does_not_know():
    doc = document([record(CASES[0], "passed"), record(CASES[1], "passed")])
    doc["records"][1]["outcome"] = "flaky"  # a caller's own record: load() refuses it
    assert "outcomes this suite does not know (conformance/outcomes.py): ['flaky']" in summarize(
        [doc]
    )

"""Property-based tests: random and hostile input to the results reader, the reports and `compare`.

Whatever a results file or a baseline holds, `python -m reports` ends with a result or a clean
usage error (ValueError / exit 2 with a message), never a traceback; and its pages never carry
live markup from the data: no tag, event handler or link that the template did not write.
"""

from __future__ import annotations

import json
import math
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed (.[dev])")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from conformance.check import CaseResult  # noqa: E402
from conformance.grid import all_cases  # noqa: E402
from conformance.jsonsafe import to_json_safe  # noqa: E402
from conformance.outcomes import NAMES  # noqa: E402
from conformance.results import SCHEMA, load  # noqa: E402
from conformance.results_schema import compile_schema, schema  # noqa: E402
from reports import html, markdown  # noqa: E402
from reports.model import build  # noqa: E402
from reports.summary import summarize  # noqa: E402
from tests.test_reports_hostile import plant_arrays, run_reports  # noqa: E402

CHECKS = schema()["$defs"]["record"]["properties"]["check"]["enum"]
POOL = [c for c in all_cases(["torch", "numpy"], mode_labels=("GRU", "LSTM")) if c.check in CHECKS]
POOL = POOL[:: max(1, len(POOL) // 40)]  # ~40 cases of both check kinds and dtypes
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

HOSTILE = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<b>x</b>",
    "NaN",
    "Infinity",
    "-Infinity",
    "{{ 7*7 }}",
    "{% raw %}",
    "${x}",
    "| a | b |",
    "`code`",
    "\u2028\u2029",
    "<!--",
    "]]>",
    "&amp;",
    "\"'><svg onload=alert(1)>",
    "https://example.org/<script>",
    "../../etc",
    "**bold** _x_ [l](javascript:x) ~~s~~ $m$",
    "\\|",
    "\x00\x1f\x7f",
    "é😀",
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.sampled_from(list("aZ09 -_.:/<>&\"'`|*[]()\\;=#!~$\n\t")), max_size=20),
    st.text(max_size=12),
)
NONEMPTY = TEXT.filter(bool)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 1e-320, 1e308, math.inf, -math.inf, math.nan]),
)
ERROR = st.floats(min_value=0, allow_infinity=True, allow_nan=False)  # "Infinity", never NaN
VALUE = st.floats(allow_nan=True, allow_infinity=True)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBER | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


# --- valid documents with hostile contents ---


@st.composite
def metric(draw, passed: bool, name: str) -> dict:
    """How tensor `name` compares: output's worst element has a time step, h_n's and c_n's not."""
    sequence = name == "output" or (name not in ("h_n", "c_n") and draw(st.booleans()))
    direction = draw(st.sampled_from(["forward", "backward"]))
    worst = {
        "batch row": 0,
        "layer": 0,
        "direction": direction,
        "unit": 1,
        "index": [0, 0, 1],
        "got": draw(VALUE),
        "expected": draw(VALUE),
    }
    if sequence:
        worst = {"time step": draw(st.integers(0, 9)), **worst}
    ratio = draw(st.floats(0, 1)) if passed else draw(ERROR)
    return {
        "shape_ok": True,
        "max_abs_err": draw(ERROR),
        "max_rel_err": draw(ERROR),
        "tolerance_ratio": ratio,
        "mismatched": 0 if passed else draw(st.integers(0, 5)),
        "size": 6,
        "expected_shape": [2, 3],
        "got_shape": [2, 3],
        "worst": worst,
    }


@st.composite
def results_record(draw, outcomes=NAMES) -> dict:
    case = draw(st.sampled_from(POOL))
    outcome = draw(st.sampled_from(outcomes))
    reason = "" if outcome == "passed" else draw(TEXT)
    rec = CaseResult(case, outcome, reason).record(draw(NONEMPTY))
    rec["rerun"] = "pytest " + "x" + draw(TEXT)
    rec["duration_s"] = draw(st.floats(0, 1e9))
    if outcome in ("passed", "failed") or (outcome == "known-divergence" and draw(st.booleans())):
        names = draw(
            st.lists(
                st.sampled_from(["output", "h_n", "c_n", "x"]), min_size=1, max_size=3, unique=True
            )
        )
        rec["metrics"] = {name: draw(metric(outcome == "passed", name)) for name in names}
    if outcome == "known-divergence" or (outcome in ("failed", "error") and draw(st.booleans())):
        rec["divergences"] = [
            {
                "implementation": draw(NONEMPTY),
                "reason": draw(NONEMPTY),
                "link": draw(NONEMPTY),
                "repro": draw(TEXT),
                "tensors": draw(st.none() | st.lists(TEXT, max_size=2)),
                "raises": draw(TEXT),
                "bound": draw(NONEMPTY),
            }
        ]
    return rec


@st.composite
def results_document(draw) -> dict:
    packages = draw(st.dictionaries(TEXT, NONEMPTY, max_size=3))
    return {
        "schema": SCHEMA,
        "environment": {
            "python": "3.11.7",
            "platform": draw(TEXT),
            "machine": draw(TEXT),
            "device": draw(NONEMPTY),
            "packages": packages,
        },
        "run": {
            "started": "2026-11-23T10:11:14+00:00",
            "argv": draw(st.lists(TEXT, max_size=3)),
            "complete": False,
        },
        "records": draw(st.lists(results_record(), max_size=6)),
    }


# --- what a page may contain ---


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


TEMPLATE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "p",
    "br",
    "b",
    "code",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "section",
    "div",
    "svg",
    "line",
    "rect",
    "text",
    "script",
    "ul",
    "li",
    "form",
    "label",
    "select",
    "option",
    "button",
    "dialog",
    "details",
    "summary",
    "input",
}
LIVE_ATTRIBUTES = {"href", "src", "srcdoc", "action", "formaction", "xlink:href", "style"}


def assert_no_live_markup(page: str, scripts: int) -> None:
    """Only the template's tags, no handler or link attribute, and only the template's scripts.
    Data sits in the JSON script (its `<` escaped by tojson), in text and in attribute values."""
    parser = Tags()
    parser.feed(page)
    assert {tag for tag, _ in parser.tags} <= TEMPLATE_TAGS
    for tag, attributes in parser.tags:
        for name, _ in attributes:
            assert not name.startswith("on") and name not in LIVE_ATTRIBUTES, (tag, name)
    assert [tag for tag, _ in parser.tags].count("script") == scripts
    if scripts:
        start = page.index('<script id="report-data" type="application/json">')
        data = page[start : page.index("</script>", start)]
        assert "<" not in data[data.index(">") + 1 :]  # tojson escapes it as \u003c


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def render_everything(documents: list[dict], names: list[str]) -> None:
    report = build(documents, names)
    assert_no_live_markup(html.render(report), scripts=2)
    text = markdown.render(report)
    assert "<" not in text and ">" not in text  # every < > from data is an entity
    header, _, *rows = [line for line in text.splitlines() if line.startswith("|")]
    assert all(row.count(" | ") == header.count(" | ") for row in rows)  # no cell split by data
    summarize(documents, names)


# --- the reader ---


@settings(SETTINGS, max_examples=100)
@given(value=JSON)
def test_any_json_is_read_or_refused_with_a_message(value):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.json"
        path.write_text(json.dumps(value))  # bare NaN / Infinity included
        try:
            document = load(path)
        except ValueError as error:
            assert str(path) in str(error)
            return
        render_everything([document], ["r.json"])  # only a valid document gets here


@st.composite
def mutated_document(draw):
    """A valid document with one value somewhere replaced by any JSON value."""
    document = draw(results_document())
    node, path = document, []
    while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        if not isinstance(node[key], (dict, list)):
            break
        node = node[key]
    if not path:
        return draw(JSON)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = draw(JSON)
    return document


@settings(SETTINGS, max_examples=100)
@given(document=mutated_document())
def test_a_mutated_document_is_read_or_refused_and_both_checks_agree(document):
    import jsonschema

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.json"
        path.write_text(json.dumps(to_json_safe(document)))
        try:
            loaded = load(path)
        except ValueError as error:
            assert str(path) in str(error)
            loaded = None
        if loaded is not None:
            render_everything([loaded], ["r.json"])
    # The compiled record check agrees with jsonschema on whatever the mutation made.
    records = document.get("records") if isinstance(document, dict) else None
    if isinstance(records, list):
        full = schema()
        slow = jsonschema.Draft202012Validator({"$ref": "#/$defs/record", "$defs": full["$defs"]})
        fast = compile_schema(full, "#/$defs/record")
        for rec in json.loads(json.dumps(to_json_safe(records))):
            assert fast(rec) == slow.is_valid(rec)


# --- the report builder ---


@settings(SETTINGS, max_examples=60)
@given(documents=st.lists(results_document(), min_size=1, max_size=3), names=st.lists(TEXT))
def test_any_valid_document_builds_every_report_without_live_markup(documents, names):
    with tempfile.TemporaryDirectory() as directory:
        loaded = []
        for i, document in enumerate(documents):
            path = Path(directory) / f"r{i}.json"
            path.write_text(json.dumps(to_json_safe(document), allow_nan=False))
            loaded.append(load(path))  # the strategy makes valid files only
    names = (names + [f"r{i}.json" for i in range(len(documents))])[: len(documents)]
    render_everything(loaded, names)


# --- compare ---

REAL = st.sampled_from([np.float32, np.float64, np.int32, np.bool_])
ARRAY = hnp.arrays(
    dtype=REAL | st.sampled_from([np.complex64, "U3"]),  # not real numbers: not compared
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
)


def real_arrays():
    names = st.sampled_from(["output", "h_n", "c_n", "<x>"])
    real = hnp.arrays(dtype=REAL, shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    return st.dictionaries(names, real, min_size=1, max_size=3)


@st.composite
def arrays_file(draw):
    """What arrays/<case id>.npz holds: mostly named arrays, else no file, any bytes, a link out
    of the baseline, or a pickled object."""
    kind = draw(st.sampled_from(["arrays", "none", "bytes", "link-out", "pickle"]))
    if kind == "arrays":
        names = st.sampled_from(["output", "h_n", "c_n", "<x>"])
        return draw(st.dictionaries(names, ARRAY, min_size=1, max_size=3))
    return {"none": None, "bytes": draw(st.binary(max_size=40))}.get(kind, kind)


CASES = POOL[:4]
NOT_CASES = ["not-a-case", "..", "forward-GRU"]


@st.composite
def results_record_of(draw, case_id: str, ran: bool = False) -> dict:
    """A valid record for `case_id`: of that case when it is one, of any case renamed if not;
    `ran`: one with tensors (passed, failed or known-divergence)."""
    rec = draw(results_record(("passed", "failed", "known-divergence") if ran else NAMES))
    case = next((c for c in CASES if c.id == case_id), None)
    if case is not None:
        rec |= {
            "check": case.check,
            "implementation": case.implementation,
            "config": case.config(),
            "case_id": case.id,
        }
        return rec
    return rec | {"case_id": case_id}


@st.composite
def changed_arrays(draw, arrays, clean: bool):
    """The same arrays, or one element moved (to NaN or infinity too), or other arrays."""
    how = draw(st.sampled_from(["same", "poke", "other"]))
    if how == "other" or not isinstance(arrays, dict) or not arrays:
        other = draw(real_arrays()) if clean else draw(arrays_file())
        return other if how == "other" else arrays
    poked = {name: array.copy() for name, array in arrays.items()}
    name = draw(st.sampled_from(sorted(poked)))
    if poked[name].size and poked[name].dtype.kind == "f":
        flat = poked[name].reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(VALUE)
    return poked


@st.composite
def baseline_pair(draw) -> tuple[dict, dict]:
    """Two baselines over mostly the same cases (and some ids that are none). Half of them are
    clean (valid runs files, every case on both sides, real arrays the same or moved), so that
    values are compared; the other half may hold anything a baseline can."""
    clean = draw(st.booleans())
    ids = draw(
        st.lists(
            st.sampled_from([c.id for c in CASES] + NOT_CASES), min_size=1, max_size=5, unique=True
        )
    )
    broken = None if clean or draw(st.booleans()) else draw(st.sampled_from([0, 1]))
    sides = []
    for index in range(2):
        runs = draw(st.sampled_from(["garbage", "none"])) if index == broken else "valid"
        sides.append({"records": [], "arrays": {}, "runs": runs, "garbage": draw(JSON)})
    for case_id in ids:
        record = draw(results_record_of(case_id, clean))
        arrays = draw(real_arrays()) if clean else draw(arrays_file())
        for index, side in enumerate(sides):
            if not clean and draw(st.booleans()) and draw(st.booleans()):
                continue  # on one side only
            if index == 1 and draw(st.booleans()):
                record = draw(results_record_of(case_id, clean))  # another outcome, perhaps
            side["records"].append(record)
            side["arrays"][case_id] = arrays if index == 0 else draw(changed_arrays(arrays, clean))
    return sides[0], sides[1]


def write_side(directory: Path, side: dict, outside: Path) -> None:
    (directory / "runs").mkdir(parents=True)
    document = {
        "schema": SCHEMA,
        "environment": {
            "python": "3.11.7",
            "platform": "p",
            "machine": "m",
            "device": "cpu",
            "packages": {"torch": "<b>2</b>"},
        },
        "run": {"started": "2026-11-23T10:11:14+00:00", "argv": [], "complete": False},
        "records": side["records"],
    }
    if side["runs"] == "valid":
        text = json.dumps(to_json_safe(document), allow_nan=False)
        (directory / "runs" / "run-1.json").write_text(text)
    elif side["runs"] == "garbage":
        (directory / "runs" / "run-1.json").write_text(json.dumps(side["garbage"]))
    (directory / "arrays").mkdir()
    for case_id, content in side["arrays"].items():
        path = directory / "arrays" / f"{case_id}.npz"
        if content is None:
            continue
        if content == "link-out":
            path.symlink_to(outside)
        elif content == "pickle":
            payload = np.empty(1, dtype=object)
            payload[0] = {"a": 1}
            np.savez(path, output=payload)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            plant_arrays(directory, case_id, content)


@settings(SETTINGS, max_examples=20)
@given(pair=baseline_pair())
def test_any_baselines_compare_or_are_refused_cleanly(pair):
    old, new = pair
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        outside = root / "outside.npz"
        np.savez(outside, output=np.full(3, np.nan))
        write_side(root / "old", old, outside)
        write_side(root / "new", new, outside)
        diff, changes_json = root / "d" / "diff.html", root / "c.json"
        status, out, err = run_reports(
            "compare", root / "old", root / "new", "-o", diff, "--json", changes_json
        )
        assert "Traceback" not in out + err
        event(f"exit status {status}")  # --hypothesis-show-statistics: every path is taken
        if status == 2:  # a runs file that is not a valid results file, or none
            assert err.splitlines()[-1].startswith("python -m reports: error: ")
            assert not changes_json.exists()
            return
        assert status in (0, 1, 3), (status, out, err)
        changes = strict_json(changes_json.read_text())
        for item in changes["not_compared"]:
            event(f"not compared: {item['why']}")
        for change in changes["changes"]:
            event(f"change: {change['kind']}")
        assert_no_live_markup(diff.read_text(), scripts=0)
        ids = {r["case_id"] for r in old["records"]} | {r["case_id"] for r in new["records"]}
        listed = [item["case_id"] for item in changes["not_compared"]]
        assert len(listed) == len(set(listed)) and changes["compared"] + len(listed) == len(ids)
        cases = {c.id for c in all_cases()}
        assert not (ids - cases) - set(listed)  # a non-case is never compared
        assert (status == 3) == (changes["compared"] == 0)
        assert (status == 1) == any(c["regression"] for c in changes["changes"])


def test_hypothesis_is_pinned():
    constraints = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text()
    assert f"hypothesis=={hypothesis.__version__}" in constraints

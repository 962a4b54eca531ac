"""From results files to the compatibility matrix: columns, feature rows, cells, changes.

A column is one implementation in one environment (its package version and device), so several
runs merged side by side become columns of their own. A row is one value of one feature (mode,
layers, directions, ...). A cell holds the cases of its column that have its row's value.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.axes import ALL_AXES
from conformance.outcomes import SEVERITY, STATUS_OF_OUTCOME

from .facts import device_of, packages_of

__all__ = ["SEVERITY", "STATUS_OF_OUTCOME"]  # the suite's vocabulary, re-exported for reports

# The implementation every other is compared with: its records check the harness (the reference
# against itself), so it is summarised apart and never shown as a column of results.
REFERENCE = "numpy"
PROBLEM_STATUSES = ("crash", "error", "timeout", "fail")
# A cell's status, most severe first: "partial" is a cell where some cases pass and others do
# not (unsupported, a known divergence, not run), which "pass" alone would hide from a porter.
STATUSES = (*PROBLEM_STATUSES, "known divergence", "partial", "pass", "unsupported", "not run")


def status_of(counts: Counter) -> str:
    """The status of a group of cases from their counts by status (see STATUSES)."""
    present = [s for s in SEVERITY if counts[s]]
    problems = [s for s in present if s in PROBLEM_STATUSES]
    if problems:
        return problems[0]
    if "pass" in present and len(present) > 1:
        return "partial"
    shown = [s for s in present if s != "not run"] or present
    return shown[0] if shown else "not run"


FEATURES = [  # one row group per axis of the grid (conformance/axes.py), then dtype
    ("check", lambda r: r["check"]),
    *((axis.feature, lambda r, axis=axis: axis.describe(r["config"])) for axis in ALL_AXES),
    ("dtype", lambda r: r["config"]["dtype"]),
]


def layer_config(record: dict) -> str:
    """The case id without implementation and dtype: a heatmap row."""
    case_id = record.get("case_id") or record["test"]
    suffix = f"-{record['implementation']}-{record['config']['dtype']}"
    return case_id.removesuffix(suffix).replace("-", " ")


def worst_of(values: Iterable[float | None]) -> float | None:
    """The largest value, None when there is none; a NaN is worse than any number (max() would
    keep or drop it depending on where it stands)."""
    present = [v for v in values if v is not None]
    if any(math.isnan(v) for v in present):
        return math.nan
    return max(present) if present else None


def worst_metric(record: dict, metric: str) -> float | None:
    """The largest `metric` (max_abs_err, tolerance_ratio, ...) over a record's tensors."""
    return worst_of(t.get(metric) for t in record.get("metrics", {}).values())


def number_text(value: float | None, spec: str = ".3g") -> str:
    """A number for text and Markdown: "-" for none, "NaN", "inf" and "-inf" for non-finite ones."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    return format(value, spec)  # inf and -inf read as such


def worst_ratio(record: dict) -> float | None:
    return worst_metric(record, "tolerance_ratio")


@dataclass
class Column:
    implementation: str
    environment: str  # e.g. "torch 2.13.0 · cpu"
    run: int  # index of the results file it came from
    label: str = ""


@dataclass
class Cell:
    records: list[int] = field(default_factory=list)  # indices into Report.records
    counts: Counter = field(default_factory=Counter)
    worst: float | None = None  # over passed and failed cases: the precision figure
    worst_divergence: float | None = None  # over known divergences: how far they are off
    changed: bool = False

    @property
    def status(self) -> str:
        return status_of(self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Report:
    runs: list[dict]  # environment and run info per results file
    columns: list[Column]
    rows: list[tuple[str, str]]
    cells: dict[tuple[int, int], Cell]  # (row, column) -> cell
    records: list[dict]  # every record, with "column" added
    reference: list[dict] = field(default_factory=list)  # the reference's own records, per run

    def cell(self, row: int, column: int) -> Cell:
        return self.cells.get((row, column), Cell())


def environment_label(document: dict, implementation: str) -> str:
    """The versions of the packages the implementation ran on, as the run recorded them (build
    tags such as "+cpu" kept), and its device: facts, never guessed from the name."""
    environment = document.get("environment", {})
    versions = environment.get("packages", {})
    parts = [f"{p} {versions.get(p, '?')}" for p in packages_of(implementation)]
    return " · ".join([*parts, device_of(implementation, environment.get("device", "?"))])


def build(documents: list[dict], names: list[str] | None = None) -> Report:
    names = names or [f"run {i + 1}" for i in range(len(documents))]
    columns: dict[tuple[str, str, int], int] = {}
    column_list: list[Column] = []
    records: list[dict] = []
    labels_seen: dict[tuple[str, str], set[int]] = defaultdict(set)

    reference: list[dict] = []
    for run, document in enumerate(documents):
        for record in document["records"]:
            impl = record["implementation"]
            if impl == REFERENCE:
                reference.append({**record, "run": run})
                continue
            env = environment_label(document, impl)
            labels_seen[(impl, env)].add(run)
            key = (impl, env, run)
            if key not in columns:
                columns[key] = len(column_list)
                column_list.append(Column(impl, env, run))
            records.append({**record, "column": columns[key], "run": run})

    # One column per (implementation, environment); two runs of the same environment stay apart.
    for column in column_list:
        same = labels_seen[(column.implementation, column.environment)]
        column.label = column.environment + (f" · {names[column.run]}" if len(same) > 1 else "")
    order = sorted(range(len(column_list)), key=lambda i: (column_list[i].implementation, i))
    renumber = {old: new for new, old in enumerate(order)}
    column_list = [column_list[i] for i in order]
    for record in records:
        record["column"] = renumber[record["column"]]

    row_values: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for name, value_of in FEATURES:
            row_values[name].add(value_of(record))
    rows = [(name, value) for name, _ in FEATURES for value in sorted(row_values[name])]
    row_index = {row: i for i, row in enumerate(rows)}

    cells: dict[tuple[int, int], Cell] = {}
    for index, record in enumerate(records):
        for name, value_of in FEATURES:
            cell = cells.setdefault((row_index[(name, value_of(record))], record["column"]), Cell())
            cell.records.append(index)
            cell.counts[STATUS_OF_OUTCOME.get(record["outcome"], "error")] += 1
            ratio = worst_ratio(record)
            if ratio is not None and record["outcome"] in ("passed", "failed"):
                cell.worst = worst_of((cell.worst, ratio))
            elif ratio is not None and record["outcome"] == "known-divergence":
                cell.worst_divergence = worst_of((cell.worst_divergence, ratio))

    mark_changes(column_list, rows, cells, records)
    runs = [
        {"name": names[i], "environment": d.get("environment", {}), "run": d.get("run", {})}
        for i, d in enumerate(documents)
    ]
    return Report(runs, column_list, rows, cells, records, reference)


def behaviour(record: dict) -> tuple[str, float | None]:
    """What a case did, as Δ compares it: its status and its worst error as a multiple of the
    tolerance."""
    return STATUS_OF_OUTCOME.get(record["outcome"], "error"), worst_ratio(record)


def behaved_otherwise(then: tuple[str, float | None], now: tuple[str, float | None]) -> bool:
    """Another status, or an error at least ten times larger or smaller (a NaN or an infinite
    error against a finite one, an error against none): jitter across a decade's boundary, as
    float32 errors do from run to run, is not a change."""
    if then[0] != now[0]:
        return True
    a, b = then[1], now[1]
    if a is None or b is None:
        return (a is None) != (b is None)
    if not (math.isfinite(a) and math.isfinite(b)):
        return not (a == b or (math.isnan(a) and math.isnan(b)))
    if a <= 0 or b <= 0:
        return (a <= 0) != (b <= 0) and max(a, b) > 1e-6  # exact agreement vs a visible error
    return abs(math.log10(b / a)) >= 1


def mark_changes(columns: list[Column], rows: list, cells: dict, records: list[dict]) -> None:
    """A cell changed when a case it shares with its implementation's previous column behaved
    otherwise there (another status, or an error ten times larger or smaller). Cases only one of
    the two runs selected change nothing: a different selection is not a different behaviour."""
    by_case = [dict[str, tuple]() for _ in columns]
    for record in records:
        by_case[record["column"]][record.get("case_id") or record["test"]] = behaviour(record)
    previous: dict[str, int] = {}
    for c, column in enumerate(columns):
        before = previous.get(column.implementation)
        if before is not None:
            for r in range(len(rows)):
                cell = cells.get((r, c))
                for index in cell.records if cell else ():
                    case = records[index].get("case_id") or records[index]["test"]
                    then = by_case[before].get(case)
                    if then is not None and behaved_otherwise(then, by_case[c][case]):
                        cell.changed = True
                        break
        previous[column.implementation] = c


def decades_under_tolerance(ratio: float) -> int:
    """0 to 4: how many decades below its tolerance an error is (4 for 1e-4x or less, and 0; 0 for
    a NaN or an infinite error, which are as far from agreeing as an error gets)."""
    if not math.isfinite(ratio) or ratio < 0:
        return 0
    return 4 if ratio == 0 else min(4, max(0, math.floor(-math.log10(ratio))))


def magnitude_class(ratio: float | None) -> str:
    """Colour bucket of an error as a multiple of its tolerance (m-2: within 1e-2x of it); NaN
    and infinity are over it."""
    if ratio is None:
        return "m-none"
    if ratio > 1 or not math.isfinite(ratio):
        return "m-over"
    if ratio == 0:
        return "m-exact"
    return f"m-{decades_under_tolerance(ratio)}"

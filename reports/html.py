"""The self-contained HTML compatibility report (inline CSS and JS, no network needed)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps

from .model import (
    SEVERITY,
    STATUSES,
    Cell,
    Report,
    magnitude_class,
    number_text,
    worst_metric,
)
from .page_data import page_data, web_link
from .query import values_of
from .verdicts import column_verdicts, counts_text, incomplete_runs, reference_line

__all__ = ["render", "render_diff", "web_link"]

SHORT = {
    "crash": "crash",
    "error": "error",
    "timeout": "timeout",
    "fail": "fail",
    "known divergence": "div",
    "partial": "partial",
    "pass": "pass",
    "unsupported": "unsup",
    "not run": "not run",
}
# A shape beside every colour, so no status is told by colour alone (colour-blind readers,
# greyscale prints).
GLYPH = {
    "crash": "‼",
    "error": "!",
    "timeout": "⌛",
    "fail": "✗",
    "known divergence": "≈",
    "partial": "◐",
    "pass": "✓",
    "unsupported": "∅",
    "not run": "·",
}
TEMPLATES = Path(__file__).with_name("templates")
# Keys a porter picks a configuration by, in the picker's order (others are sizes).
PICKER_KEYS = (
    "check", "mode", "nonlinearity", "num_layers", "bidirectional", "batch_first", "proj_size",
    "bias", "initial_state", "lengths", "dtype",
)  # fmt: skip


def cell_counts(cell: Cell) -> str:
    """ "96/192 pass · 96 unsup": what passed out of the cell's cases, then the rest."""
    passed = f"{cell.counts['pass']}/{cell.total} pass" if cell.counts["pass"] else ""
    rest = [f"{cell.counts[s]} {SHORT[s]}" for s in SEVERITY if s != "pass" and cell.counts[s]]
    return " · ".join(p for p in (passed, *rest) if p)


def picker_choices(report: Report) -> list[tuple[str, list[str]]]:
    """Each picker key with the values the records have, as `query` writes them."""
    choices = []
    for key in PICKER_KEYS:
        values = set()
        for record in report.records:
            if key == "mode":  # the label (RNN_TANH) says what mode and nonlinearity say
                values |= {v for v in values_of(record, key) if v != "RNN"}
            elif key == "check" or key in record["config"]:
                values |= values_of(record, key)
        if len(values) > 1:
            choices.append((key, sorted(values, key=lambda v: (len(v), v))))
    return choices


KIND_OF_OUTCOME = {"passed": "agree", "failed": "agree", "known-divergence": "divergence"}
MAX_NOT_COMPARED_LISTED = 2000  # a diff of disjoint baselines would list every case
LOWEST_DECADE, HIGHEST_DECADE = -18, 1  # the lowest bar also holds exact zeros
BAR = 10  # px per decade


def distributions(report: Report) -> list[dict]:
    """Per implementation and dtype, cases per decade of their worst absolute error: those
    judged by precision (passed, failed) and, stacked above them, the known divergences, whose
    size is part of what they declare."""
    groups: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    tolerance: dict[str, float] = {}
    for record in report.records:
        kind = KIND_OF_OUTCOME.get(record["outcome"])
        worst = worst_metric(record, "max_abs_err") if kind else None
        if worst is None:
            continue
        column = report.columns[record["column"]]
        name = f"{column.implementation} {record['config']['dtype']} ({column.label})"
        groups[name][kind][decade_of(worst)] += 1
        if "tolerance" in record:
            tolerance[name] = record["tolerance"]["atol"]

    def x_of(decade: float) -> float:
        return BAR * (decade - LOWEST_DECADE)

    result = []
    for name in sorted(groups):
        counts = groups[name]
        decades = range(LOWEST_DECADE, HIGHEST_DECADE + 1)
        top = max(counts["agree"][d] + counts["divergence"][d] for d in decades)
        bars = []
        for d in decades:
            base = 0
            for kind in ("agree", "divergence"):
                if counts[kind][d]:
                    h = max(1, round(50 * counts[kind][d] / top))
                    bars.append(
                        {"x": x_of(d), "y": 55 - base - h, "h": h, "kind": kind,
                         "count": counts[kind][d], "range": bar_range(d)}
                    )  # fmt: skip
                    base += h
        atol = tolerance.get(name)
        drawn = atol is not None and atol > 0 and math.isfinite(atol)
        result.append(
            {
                "name": name,
                "bars": bars,
                "width": x_of(HIGHEST_DECADE + 1),
                "ticks": [(x_of(d), f"1e{d}") for d in (-15, -10, -5, 0)],
                "tolerance_x": x_of(math.log10(atol)) if drawn else None,
                "atol": atol,
            }
        )
    return result


def decade_of(error: float) -> int:
    """The histogram bar of an error: its decade, the lowest bar for 0 and below, the highest for
    1e1 and above, NaN and infinity included (the worst there is)."""
    if not math.isfinite(error) or error >= 10.0**HIGHEST_DECADE:
        return HIGHEST_DECADE
    if error <= 0:
        return LOWEST_DECADE
    return min(HIGHEST_DECADE, max(LOWEST_DECADE, math.floor(math.log10(error))))


def bar_range(decade: int) -> str:
    if decade == LOWEST_DECADE:
        return f"below 1e{decade + 1} (exact zeros included)"
    if decade == HIGHEST_DECADE:
        return f"of 1e{decade} or more (NaN and infinity included)"
    return f"in [1e{decade}, 1e{decade + 1})"


def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"])
    )


def diff_rollup(comparison) -> list[dict]:
    """Per implementation: regressions and improvements, and in how many cases."""
    rows: dict[str, dict] = {}
    for change in comparison.changes:
        row = rows.setdefault(
            change.implementation,
            {"implementation": change.implementation, "regressions": 0, "improvements": 0,
             "cases": set(), "regressed": set()},
        )  # fmt: skip
        row["regressions" if change.regression else "improvements"] += 1
        row["cases"].add(change.case_id)
        if change.regression:
            row["regressed"].add(change.case_id)
    return sorted(rows.values(), key=lambda r: (-len(r["regressed"]), r["implementation"]))


def changes_by_case(comparison) -> list[tuple[str, bool, list]]:
    """(case id, regressed, its changes), regressed cases first, each case once."""
    grouped: dict[str, list] = defaultdict(list)
    for change in comparison.changes:
        grouped[change.case_id].append(change)
    return sorted(
        ((case, any(c.regression for c in changes), changes) for case, changes in grouped.items()),
        key=lambda item: (not item[1], item[0]),
    )


def environment_changes(comparison) -> list[tuple[str, str, str]]:
    """Python, platform and device where the two baselines' runs differ (packages apart)."""

    def values(baseline, key):
        return ", ".join(sorted({str(e.get(key, "-")) for e in baseline.environments})) or "-"

    return [
        (key, values(comparison.old, key), values(comparison.new, key))
        for key in ("python", "platform", "machine", "device")
        if values(comparison.old, key) != values(comparison.new, key)
    ]


def render_diff(comparison, title: str = "Recurrent-layer regression check") -> str:
    from .compare import package_changes, text

    return (
        templates()
        .get_template("diff.html.j2")
        .render(
            title=title,
            summary=text(comparison).splitlines()[0],
            regressions=len(comparison.regressions),
            compared=comparison.compared,
            old_dir=str(comparison.old.directory),
            new_dir=str(comparison.new.directory),
            packages=package_changes(comparison),
            environment=environment_changes(comparison),
            rollup=diff_rollup(comparison),
            cases=changes_by_case(comparison),
            not_compared=comparison.not_compared,
            max_listed=MAX_NOT_COMPARED_LISTED,
            number=number_text,
            glyph=GLYPH,
        )
    )


def render(report: Report, title: str = "Recurrent-layer compatibility report") -> str:
    environment = templates()
    # compact separators: the whole grid's data is most of the page; tojson's spaces add 10%
    data = htmlsafe_json_dumps(page_data(report), separators=(",", ":"))
    return environment.get_template("report.html.j2").render(
        title=title,
        built=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        runs=report.runs,
        incomplete=incomplete_runs(report),
        verdicts=[(v.status, f"{name}: {counts_text(v)}") for name, v in column_verdicts(report)],
        reference=reference_line(report),
        columns=report.columns,
        rows=report.rows,
        cell_at=report.cell,
        severity=SEVERITY,
        statuses=STATUSES,
        short=SHORT,
        glyph=GLYPH,
        cell_counts=cell_counts,
        magnitude=magnitude_class,
        number=number_text,
        any_changed=any(cell.changed for cell in report.cells.values()),
        picker=picker_choices(report),
        # an empty cell: the run did not select those cases, or stopped before them
        not_selected="not selected"
        + (
            " or run stopped" if any(r["run"].get("complete") is False for r in report.runs) else ""
        ),
        distributions=distributions(report),
        data=data,
    )

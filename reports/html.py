"""The self-contained HTML compatibility report (inline CSS and JS, no network needed)."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from conformance.jsonsafe import to_json_safe

from .model import (
    SEVERITY,
    STATUS_OF_OUTCOME,
    Report,
    decades_under_tolerance,
    layer_config,
    magnitude_class,
    number_text,
    worst_metric,
    worst_ratio,
)

SHORT = {
    "crash": "crash",
    "error": "error",
    "timeout": "timeout",
    "fail": "fail",
    "known divergence": "div",
    "pass": "pass",
    "unsupported": "unsup",
    "not run": "not run",
}
TEMPLATES = Path(__file__).with_name("templates")
# The only links a report makes live: http(s) with a host and nothing a browser would strip or
# reinterpret (whitespace, control characters). Anything else, a repository path included, is text.
WEB_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f/?#]+[^\s\x00-\x1f\x7f]*", re.IGNORECASE)


def web_link(link: str) -> str:
    """`link` when it may be an href, else ""."""
    return link if isinstance(link, str) and WEB_LINK.fullmatch(link) else ""


def short_number(value):
    return float(f"{value:.3g}") if isinstance(value, float) and math.isfinite(value) else value


def compact_metrics(metrics: dict) -> dict:
    shown = {
        k: short_number(metrics.get(k)) for k in ("max_abs_err", "max_rel_err", "tolerance_ratio")
    }
    worst = {k: v for k, v in (metrics.get("worst") or {}).items() if k != "index"}
    if metrics.get("shape_ok", True) is False:
        shown.update(
            shape_ok=False,
            got_shape=metrics.get("got_shape"),
            expected_shape=metrics.get("expected_shape"),
        )
    return shown | ({"worst": worst} if worst else {})


def compact(record: dict) -> dict:
    """What the drill-down shows of a record, without repeating what the page already says."""
    return {
        "case_id": record.get("case_id") or record["test"],
        "status": STATUS_OF_OUTCOME.get(record["outcome"], "error"),
        "config": record["config"],
        "reason": record.get("reason", "")[:2000],
        "link": (link := next((d.get("link", "") for d in record.get("divergences", [])), "")),
        "href": web_link(link),  # the page's script makes a live link of this alone
        "metrics": {name: compact_metrics(m) for name, m in record.get("metrics", {}).items()},
        "rerun": record.get("rerun", ""),
    }


def heat_class(record: dict) -> str:
    status = STATUS_OF_OUTCOME.get(record["outcome"], "error").replace(" ", "-")
    if status != "pass":
        return f"h-{status}"
    return f"h-pass-{decades_under_tolerance(worst_ratio(record) or 0.0)}"


def heatmap(report: Report):
    column_keys = sorted(
        {(r["column"], r["config"]["dtype"]) for r in report.records},
        key=lambda k: (k[0], k[1]),
    )
    several_runs = len(report.runs) > 1  # then the environment tells the columns apart
    names = [
        f"{report.columns[c].implementation} {d}"
        + (f" · {report.columns[c].label}" if several_runs else "")
        for c, d in column_keys
    ]
    by_row: dict[str, dict] = defaultdict(dict)
    for record in report.records:
        by_row[layer_config(record)][(record["column"], record["config"]["dtype"])] = record
    rows = []
    for name in sorted(by_row):
        cells = []
        for key in column_keys:
            record = by_row[name].get(key)
            if record is None:
                cells.append(("h-not-run", f"{name}: not run"))
                continue
            ratio = worst_ratio(record)
            tip = f"{name} · {record['implementation']} {key[1]}: {record['outcome']}"
            if ratio is not None:
                tip += f", {number_text(ratio, '.2g')}× tolerance"
            cells.append((heat_class(record), tip))
        rows.append((name, cells))
    return names, rows


MAX_NOT_COMPARED_LISTED = 2000  # a diff of disjoint baselines would list every case
LOWEST_DECADE, HIGHEST_DECADE = -18, 1  # the lowest bar also holds exact zeros
BAR = 10  # px per decade


def distributions(report: Report) -> list[dict]:
    groups: dict[str, Counter] = defaultdict(Counter)
    tolerance: dict[str, float] = {}
    for record in report.records:
        if record["outcome"] not in ("passed", "failed"):
            continue
        worst = worst_metric(record, "max_abs_err")
        if worst is None:
            continue
        column = report.columns[record["column"]]
        name = f"{column.implementation} {record['config']['dtype']} ({column.label})"
        groups[name][decade_of(worst)] += 1
        if "tolerance" in record:
            tolerance[name] = record["tolerance"]["atol"]

    def x_of(decade: float) -> float:
        return BAR * (decade - LOWEST_DECADE)

    result = []
    for name in sorted(groups):
        counts = groups[name]
        top = max(counts.values())
        bars = [
            {
                "x": x_of(d),
                "h": max(1, round(50 * counts[d] / top)),
                "decade": d,
                "count": counts[d],
                "range": bar_range(d),
            }
            for d in range(LOWEST_DECADE, HIGHEST_DECADE + 1)
            if counts[d]
        ]
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


def render_diff(comparison, title: str = "Recurrent-layer regression check") -> str:
    from .compare import package_changes, text

    return (
        templates()
        .get_template("diff.html.j2")
        .render(
            title=title,
            summary=text(comparison).splitlines()[0],
            old_dir=str(comparison.old.directory),
            new_dir=str(comparison.new.directory),
            packages=package_changes(comparison),
            changes=comparison.changes,
            not_compared=comparison.not_compared,
            max_listed=MAX_NOT_COMPARED_LISTED,
            number=number_text,
        )
    )


def render(report: Report, title: str = "Recurrent-layer compatibility report") -> str:
    environment = templates()
    heat_columns, heat_rows = heatmap(report)
    data = {  # NaN and infinity as "NaN"/"Infinity": a bare NaN would break JSON.parse
        "records": to_json_safe([compact(r) for r in report.records]),
        "cells": {f"{r}-{c}": cell.records for (r, c), cell in report.cells.items()},
    }
    return environment.get_template("report.html.j2").render(
        title=title,
        built=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        runs=report.runs,
        columns=report.columns,
        rows=report.rows,
        cell_at=report.cell,
        severity=SEVERITY,
        short=SHORT,
        magnitude=magnitude_class,
        number=number_text,
        any_changed=any(cell.changed for cell in report.cells.values()),
        heat_columns=heat_columns,
        heat_rows=heat_rows,
        distributions=distributions(report),
        data=data,
    )

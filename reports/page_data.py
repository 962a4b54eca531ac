"""The data the page's script reads (drill-down, picker, heatmap), small enough for the whole
grid: the page of ~21000 records must stay under 3 MB and open in under 2 s.

Everything repeated is stored once and referred to by index: reasons (with their link and the
short name of the limit an `unsupported` comes from), configurations (with the matrix rows they
fall in), and configuration keys every case shares. A record keeps only its worst tensor when it
passed, and every out-of-tolerance tensor otherwise; the results file has all of them.
"""

from __future__ import annotations

import json
import math
import re

from conformance.jsonsafe import to_json_safe

from .facts import limit_of
from .model import FEATURES, STATUS_OF_OUTCOME, STATUSES, Report, worst_ratio
from .query import no_case_reason

# The only links a report makes live: http(s) with a host and nothing a browser would strip or
# reinterpret (whitespace, control characters). Anything else, a repository path included, is text.
WEB_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f/?#]+[^\s\x00-\x1f\x7f]*", re.IGNORECASE)
REASON_CHARACTERS = 2000
# The commands a record gets from its case id; a record whose commands differ keeps its own.
RERUN = "pytest 'conformance/test_checks.py::test_check[{}]'"
REPRO = "python -m conformance.repro {}"
DECLARED = "conformance/divergences.py"  # where a known divergence is declared, with its bound


def web_link(link: str) -> str:
    """`link` when it may be an href, else ""."""
    return link if isinstance(link, str) and WEB_LINK.fullmatch(link) else ""


def short_number(value, digits: int = 3):
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value


def where(worst: dict) -> str:
    """ "time step 6, batch row 1, ...: got -0.2335, expected 0.0162" (the check's own keys)."""
    at = ", ".join(f"{k} {v}" for k, v in worst.items() if k not in ("got", "expected", "index"))
    if "got" not in worst:
        return at
    return f"{at}: got {worst.get('got')}, expected {worst.get('expected')}"


def tensor_row(name: str, metrics: dict, with_where: bool) -> list:
    """[name, max abs, max rel, x tolerance, where or shape problem]."""
    row = [name] + [
        short_number(metrics.get(k)) for k in ("max_abs_err", "max_rel_err", "tolerance_ratio")
    ]
    if metrics.get("shape_ok", True) is False or metrics.get("problem"):
        problem = metrics.get("problem") or ""
        shapes = f"shape {metrics.get('got_shape')}, expected {metrics.get('expected_shape')}"
        row.append(" ".join(p for p in (problem, shapes) if p))
    elif with_where and metrics.get("worst"):
        row.append(where(metrics["worst"]))
    return row


def out_of_tolerance(metrics: dict) -> bool:
    ratio = metrics.get("tolerance_ratio")
    if metrics.get("shape_ok", True) is False or metrics.get("problem"):
        return True
    return isinstance(ratio, float) and not ratio <= 1  # NaN is out


def badness(metrics: dict) -> float:
    """How far off a tensor is, to rank tensors: a wrong shape or a NaN is the worst there is; a
    tensor with no values compared ranks last."""
    ratio = metrics.get("tolerance_ratio")
    if metrics.get("shape_ok", True) is False or metrics.get("problem"):
        return math.inf
    if not isinstance(ratio, (int, float)):
        return -1.0
    return math.inf if math.isnan(ratio) else float(ratio)


def tensors(record: dict) -> list:
    """The worst tensor, and for a case that did not pass every tensor out of tolerance."""
    ranked = sorted(record.get("metrics", {}).items(), key=lambda item: -badness(item[1]))
    if not ranked:
        return []
    passed = record["outcome"] == "passed"
    chosen = ranked[:1] + ([] if passed else [t for t in ranked[1:] if out_of_tolerance(t[1])])
    return [tensor_row(name, m, with_where=not passed) for name, m in chosen]


def stem(record: dict) -> str | None:
    """The case id without "-IMPLEMENTATION-DTYPE", when the id ends so (the page rebuilds it)."""
    case_id = record.get("case_id") or ""
    suffix = f"-{record['implementation']}-{record['config']['dtype']}"
    return case_id.removesuffix(suffix) if case_id.endswith(suffix) else None


def constant_keys(records: list[dict]) -> dict:
    """Configuration keys with one value in every record: said once, not per case."""
    if not records:
        return {}
    first = records[0]["config"]
    return {
        k: v
        for k, v in first.items()
        if all(k in r["config"] and r["config"][k] == v for r in records)
        and not isinstance(v, (list, dict))
    }


def page_data(report: Report) -> dict:
    """The JSON the page embeds (NaN and infinity as "NaN"/"Infinity": JSON.parse has none)."""
    row_index = {row: i for i, row in enumerate(report.rows)}
    constants = constant_keys(report.records)
    reasons: dict[tuple, int] = {}
    configs: dict[str, int] = {}
    config_list: list[dict] = []
    records = []
    for record in report.records:
        config = {k: v for k, v in record["config"].items() if k not in constants}
        entry = {"check": record["check"], "stem": stem(record), **config}
        key = json.dumps(to_json_safe(entry), sort_keys=True)
        if key not in configs:
            configs[key] = len(config_list)
            rows = [row_index[(name, value_of(record))] for name, value_of in FEATURES]
            config_list.append({"rows": rows, **entry})
        status = STATUS_OF_OUTCOME.get(record["outcome"], "error")
        divergence = next(iter(record.get("divergences", [])), {})
        link, div_repro = divergence.get("link", ""), divergence.get("repro", "")
        limit = (
            limit_of(record["implementation"], record.get("reason", ""))
            if status == "unsupported"
            else ""
        )
        reason_key = (record.get("reason", "")[:REASON_CHARACTERS], link, limit, div_repro)
        reason = reasons.setdefault(reason_key, len(reasons))
        row = [
            configs[key],
            record["column"],
            STATUSES.index(status),
            reason,
            short_number(worst_ratio(record), 6),
            tensors(record),
        ]
        extra = {}
        if entry["stem"] is None:
            extra["id"] = record.get("case_id") or record["test"]
        case_id = record.get("case_id") or record["test"]
        if record.get("rerun", "") != RERUN.format(case_id):
            extra["rerun"] = record.get("rerun", "")
        if record.get("repro", "") != REPRO.format(case_id):
            extra["repro"] = record.get("repro", "")
        if extra:
            row.append(extra)
        records.append(row)
    return to_json_safe(
        {
            "statuses": list(STATUSES),
            "columns": [
                {"implementation": c.implementation, "label": c.label} for c in report.columns
            ],
            "several": len(report.runs) > 1,
            "no_case": no_case_reason(report),
            "rows": [list(row) for row in report.rows],
            "constants": constants,
            "reasons": [
                {
                    "text": text,
                    "link": link,
                    "href": web_link(link),
                    "limit": limit,
                    "repro": repro,
                    "declared": DECLARED if repro or link else "",
                }
                for (text, link, limit, repro) in reasons
            ],
            "configs": config_list,
            "records": records,
        }
    )

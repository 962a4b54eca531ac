"""A text summary of results files: outcomes and worst errors per implementation and dtype."""

from __future__ import annotations

from collections import defaultdict

from conformance.outcomes import NAMES, PROBLEMS

from .model import worst_metric

MAX_PROBLEMS_SHOWN = 20
OUTCOME_ORDER = NAMES


def worst(records: list[dict], metric: str) -> float | None:
    """Worst value over the cases that agree: a known divergence's error is not precision."""
    values = [worst_metric(r, metric) for r in records if r["outcome"] == "passed"]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def summarize(documents: list[dict]) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for document in documents:
        for record in document["records"]:
            key = (record["implementation"], record["check"], record["config"]["dtype"])
            groups[key].append(record)

    header = f"{'implementation':<20} {'check':<8} {'dtype':<8} "
    header += " ".join(f"{o:>9.9}" for o in OUTCOME_ORDER)
    header += f" {'max abs err':>12} {'max rel err':>12} {'x tolerance':>12}  (over passed cases)"
    lines = [header, "-" * len(header)]
    for (impl, check, dtype), records in sorted(groups.items()):
        counts = defaultdict(int)
        for record in records:
            counts[record["outcome"]] += 1
        cells = " ".join(f"{counts[o] or '':>9}" for o in OUTCOME_ORDER)
        numbers = [worst(records, m) for m in ("max_abs_err", "max_rel_err", "tolerance_ratio")]
        shown = " ".join(f"{'-' if n is None else f'{n:.3g}':>12}" for n in numbers)
        lines.append(f"{impl:<20} {check:<8} {dtype:<8} {cells} {shown}")

    problems = [
        r for document in documents for r in document["records"] if r["outcome"] in PROBLEMS
    ]
    if problems:
        lines += ["", f"{len(problems)} cases need attention:"]
        lines += [
            f"  {r['outcome']:<8} {r['test']}\n           {r['reason'][:200]}" for r in problems
        ]
    return "\n".join(lines)

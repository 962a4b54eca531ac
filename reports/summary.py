"""A text summary of results files: outcomes and worst errors per implementation and dtype."""

from __future__ import annotations

from collections import defaultdict

from conformance.outcomes import NAMES, PROBLEMS

from .model import build, number_text, worst_metric, worst_of
from .verdicts import implementation_lines, incomplete_runs, reference_line

MAX_PROBLEMS_SHOWN = 20
OUTCOME_ORDER = NAMES


def worst(records: list[dict], metric: str, outcome: str = "passed") -> float | None:
    """Worst value over the cases that agree: a known divergence's error is not precision, and
    is shown on its own (how far off the declared disagreement is)."""
    return worst_of(worst_metric(r, metric) for r in records if r["outcome"] == outcome)


def summarize(documents: list[dict], names: list[str] | None = None) -> str:
    names = names or [f"run {i + 1}" for i in range(len(documents))]
    records = [record for document in documents for record in document["records"]]
    if not records:
        return f"no records in {', '.join(names)}: nothing ran, or the run stopped before a case"
    report = build(documents, names)
    lines = [*incomplete_runs(report), *implementation_lines(report)]
    lines += [reference_line(report)] if report.reference else []
    lines.append("")
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for record in records:
        key = (record["implementation"], record["check"], record["config"]["dtype"])
        groups[key].append(record)

    header = f"{'implementation':<20} {'check':<10} {'dtype':<8} "
    header += " ".join(f"{o:>9.9}" for o in OUTCOME_ORDER)
    header += f" {'max abs err':>12} {'max rel err':>12} {'x tolerance':>12} {'div x tol':>12}"
    # the precision figures are over passed cases; the last, over known divergences: how far off
    header += "  (passed cases; div: known divergences)"
    lines += [header, "-" * len(header)]
    for (impl, check, dtype), group in sorted(groups.items()):
        counts: dict[str, int] = defaultdict(int)
        for record in group:
            counts[record["outcome"]] += 1
        cells = " ".join(f"{counts[o] or '':>9}" for o in OUTCOME_ORDER)
        numbers = [worst(group, m) for m in ("max_abs_err", "max_rel_err", "tolerance_ratio")]
        numbers.append(worst(group, "tolerance_ratio", "known-divergence"))
        shown = " ".join(f"{number_text(n, '.3g'):>12}" for n in numbers)
        lines.append(f"{impl:<20} {check:<10} {dtype:<8} {cells} {shown}")

    # The schema admits only the known outcomes; a caller that built records itself still sees
    # every record counted somewhere.
    unknown = sorted({r["outcome"] for r in records} - set(OUTCOME_ORDER))
    if unknown:
        lines += ["", f"outcomes this suite does not know (conformance/outcomes.py): {unknown}"]
    problems = [r for r in records if r["outcome"] in PROBLEMS]
    if problems:
        lines += ["", f"{len(problems)} cases need attention:"]
        lines += [
            f"  {r['outcome']:<8} {r['test']}\n           {r['reason'][:200]}" for r in problems
        ]
    return "\n".join(lines)

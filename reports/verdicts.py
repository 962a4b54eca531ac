"""One verdict per implementation, in words a porter reads: "keras: 384 of 480 pass, 96
unsupported (proj_size), 0 fail". The page's top lines, `summary` and `query` all say it so."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .facts import limit_of
from .model import (
    REFERENCE,
    STATUS_OF_OUTCOME,
    STATUSES,
    Report,
    number_text,
    status_of,
    worst_of,
    worst_ratio,
)

REASON_CHARACTERS = 240  # a query line stays readable; the full reason is in the file and page


@dataclass
class Verdict:
    counts: Counter = field(default_factory=Counter)  # by report status
    limits: Counter = field(default_factory=Counter)  # unsupported cases by declared limit
    not_run: Counter = field(default_factory=Counter)  # not-run cases by reason
    reasons: dict[str, Counter] = field(default_factory=dict)  # status -> reason -> cases
    worst_divergence: float | None = None
    worst_failure: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        return status_of(self.counts) if self.total else "no case"


def verdict_of(records: Iterable[dict]) -> Verdict:
    verdict = Verdict()
    for record in records:
        status = STATUS_OF_OUTCOME.get(record["outcome"], "error")
        verdict.counts[status] += 1
        reason = record.get("reason", "")
        if status == "unsupported":
            verdict.limits[limit_of(record["implementation"], reason)] += 1
        elif status == "not run":
            verdict.not_run[one_line(reason, 60)] += 1
        if status != "pass":
            verdict.reasons.setdefault(status, Counter())[reason] += 1
        ratio = worst_ratio(record)
        if status == "known divergence":
            verdict.worst_divergence = worst_of((verdict.worst_divergence, ratio))
        elif status == "fail":
            verdict.worst_failure = worst_of((verdict.worst_failure, ratio))
    return verdict


def one_line(text: str, limit: int = REASON_CHARACTERS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def times_tolerance(ratio: float | None) -> str:
    return f"worst {number_text(ratio, '.2g')}× tol" if ratio is not None else ""


def breakdown(counter: Counter) -> str:
    """ "proj_size" for one reason, "proj_size 320, gradients 128" for several."""
    if len(counter) == 1:
        return next(iter(counter))
    return ", ".join(f"{name} {n}" for name, n in counter.most_common())


def counts_text(verdict: Verdict) -> str:
    """ "384 of 480 pass, 96 unsupported (proj_size), 0 fail": what passed out of what ran, then
    every other status there is; fail is always said, 0 included."""
    counts = verdict.counts
    parts = [f"{counts['pass']} of {verdict.total} pass"]
    if counts["unsupported"]:
        parts.append(f"{counts['unsupported']} unsupported ({breakdown(verdict.limits)})")
    if counts["known divergence"]:
        worst = times_tolerance(verdict.worst_divergence)
        parts.append(
            f"{counts['known divergence']} known divergence" + (f" ({worst})" * bool(worst))
        )
    fail = f"{counts['fail']} fail"
    if counts["fail"] and verdict.worst_failure is not None:
        fail += f" ({times_tolerance(verdict.worst_failure)})"
    parts.append(fail)
    parts += [f"{counts[s]} {s}" for s in ("error", "crash", "timeout") if counts[s]]
    if counts["not run"]:
        parts.append(f"{counts['not run']} not run ({breakdown(verdict.not_run)})")
    return ", ".join(parts)


def main_reason(verdict: Verdict) -> str:
    """The reason of the most severe status that is not a pass, the commonest one there."""
    for status in STATUSES:  # most severe first; pass has no reason
        if status in verdict.reasons:
            reason, _ = verdict.reasons[status].most_common(1)[0]
            return one_line(reason)
    return ""


def column_names(report: Report) -> list[str]:
    """An implementation's name, with its environment where several runs are side by side."""
    several = len(report.runs) > 1
    return [c.implementation + (f" ({c.label})" if several else "") for c in report.columns]


def column_verdicts(report: Report, keep=lambda record: True) -> list[tuple[str, Verdict]]:
    by_column: list[list[dict]] = [[] for _ in report.columns]
    for record in report.records:
        if keep(record):
            by_column[record["column"]].append(record)
    return [(n, verdict_of(rs)) for n, rs in zip(column_names(report), by_column)]


def implementation_lines(report: Report) -> list[str]:
    """One line per implementation (per column): the page's top and `summary`'s first lines."""
    return [f"{name}: {counts_text(v)}" for name, v in column_verdicts(report)]


def reference_line(report: Report) -> str:
    """The reference checked against itself: a check of the harness, not a result."""
    if not report.reference:
        return ""
    verdict = verdict_of(report.reference)
    return f"{REFERENCE} (the reference, compared with itself): {counts_text(verdict)}"


def incomplete_runs(report: Report) -> list[str]:
    """A sentence for each run whose file says it did not finish: its records are not all."""
    notes = []
    for run in report.runs:
        info = run.get("run", {})
        if info.get("complete") is False:
            how = "still running or stopped" if "finished" not in info else "interrupted"
            notes.append(
                f"{run['name']}: incomplete run ({how}; run.complete is false): "
                "cases may be missing from every count below"
            )
    return notes

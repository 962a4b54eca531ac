"""The compatibility matrix as Markdown, for CI logs and pull requests."""

from __future__ import annotations

import re

from .model import SEVERITY, Report, number_text
from .verdicts import implementation_lines, incomplete_runs, reference_line

MARK = {
    "pass": "✅ pass",
    "partial": "◐ partial",
    "fail": "❌ fail",
    "unsupported": "➖ unsupported",
    "known divergence": "🟣 known divergence",
    "error": "💥 error",
    "crash": "💥 crash",
    "timeout": "⏱ timeout",
    "not run": "· not run",
}


# Characters that GitHub-flavoured Markdown (PR comments, job summaries) gives a meaning inside a
# table cell: emphasis, code spans, links and images, the cell's end, strikethrough, math. A
# backslash makes each literal; HTML's own (<, >, &) become entities, so a name from a results
# file can neither open a tag nor end the table. (Heading and list marks only count at the start
# of a line, which a cell never is.)
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~$])")
HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def escape(text: str) -> str:
    """`text` (from a results file) as literal text in one table cell, on one line."""
    text = " ".join(str(text).split())  # newlines and tabs would end the row
    text = MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    return "".join(HTML_ENTITIES.get(c, c) for c in text)


def verdict_lines(report: Report) -> list[str]:
    """Above the table: incomplete runs, then one verdict per implementation, as a list."""
    lines = [f"**⚠ {escape(note)}**" for note in incomplete_runs(report)]
    lines += [f"- {escape(line)}" for line in implementation_lines(report)]
    if report.reference:
        lines.append(f"- {escape(reference_line(report))}")
    return [*lines, ""] if lines else []


def render(report: Report) -> str:
    header = ["feature", "value"] + [
        escape(f"{c.implementation} ({c.label})") for c in report.columns
    ]
    lines = verdict_lines(report)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r, (feature, value) in enumerate(report.rows):
        cells = []
        for c in range(len(report.columns)):
            cell = report.cell(r, c)
            if not cell.records:
                cells.append(MARK["not run"])
                continue
            passed = [f"{cell.counts['pass']}/{cell.total} pass"] if cell.counts["pass"] else []
            rest = [f"{cell.counts[s]} {s}" for s in SEVERITY if s != "pass" and cell.counts[s]]
            counts = ", ".join(passed + rest)
            worst = "" if cell.worst is None else f", worst {number_text(cell.worst, '.2g')}× tol"
            if cell.worst_divergence is not None:
                worst += f", divergence {number_text(cell.worst_divergence, '.2g')}× tol"
            changed = " **Δ changed**" if cell.changed else ""
            cells.append(f"{MARK[cell.status]} ({counts}{worst}){changed}")
        lines.append("| " + " | ".join([escape(feature), escape(value)] + cells) + " |")
    if not report.records:
        lines.append("")
        lines.append("_No records in these results files._")
    return "\n".join(lines) + "\n"

"""The compatibility matrix as Markdown, for CI logs and pull requests."""

from __future__ import annotations

from .model import SEVERITY, Report

MARK = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "unsupported": "➖ unsupported",
    "known divergence": "🟣 known divergence",
    "error": "💥 error",
    "crash": "💥 crash",
    "timeout": "⏱ timeout",
    "not run": "· not run",
}


def escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report) -> str:
    header = ["feature", "value"] + [
        escape(f"{c.implementation} ({c.label})") for c in report.columns
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r, (feature, value) in enumerate(report.rows):
        cells = []
        for c in range(len(report.columns)):
            cell = report.cell(r, c)
            if not cell.records:
                cells.append(MARK["not run"])
                continue
            counts = ", ".join(f"{cell.counts[s]} {s}" for s in SEVERITY if cell.counts[s])
            worst = "" if cell.worst is None else f", worst {cell.worst:.2g}× tol"
            changed = " **Δ changed**" if cell.changed else ""
            cells.append(f"{MARK[cell.status]} ({counts}{worst}){changed}")
        lines.append("| " + " | ".join([escape(feature), escape(value)] + cells) + " |")
    return "\n".join(lines) + "\n"

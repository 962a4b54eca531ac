"""`python -m reports query RESULTS key=value ...`: what each implementation does with one
configuration, as `name: verdict (counts; reason)`.

Keys are the record's `check`, its `config` keys (mode, num_layers, bidirectional, ...) and
`implementation`; a value may list alternatives (`mode=LSTM,GRU`). A key or value that no record
has is a usage error that lists what there is, never an empty answer that reads like "nothing
fails".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from conformance.axes import MODE_LABELS

from .model import REFERENCE, Report
from .verdicts import Verdict, column_verdicts, counts_text, main_reason, verdict_of

ALIASES = {"layers": "num_layers", "impl": "implementation", "directions": "bidirectional"}
LABEL_OF_MODE = {modes: label for label, modes in MODE_LABELS.items()}  # (RNN, tanh) -> RNN_TANH
TRUE, FALSE = ("true", "1", "yes", "bi"), ("false", "0", "no", "uni")


class QueryError(ValueError):
    """A key or value no record has (the message says which there are)."""


def text_of(value) -> str:
    """A value as a query writes it: JSON's true/false, numbers and strings as they are."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def values_of(record: dict, key: str) -> set[str]:
    """The values a record answers to for `key`, lower case: a mode answers to its label
    (RNN_TANH) and to its class (RNN)."""
    if key == "check":
        return {text_of(record["check"])}
    if key == "implementation":
        return {text_of(record["implementation"])}
    config = record["config"]
    if key == "mode":
        label = LABEL_OF_MODE.get((config["mode"], config.get("nonlinearity", "tanh")), "")
        return {text_of(config["mode"]), text_of(label)} - {""}
    if key not in config:
        return set()
    return {text_of(config[key])}


def wanted(key: str, value: str) -> set[str]:
    """The lower-case values `value` asks for: alternatives split, yes/no read as booleans."""
    out = set()
    for part in re.split(r",(?![^\[]*\])", value):  # a list value's own commas stay
        part = part.strip().lower()
        if part in TRUE and key in ("bidirectional", "batch_first", "bias"):
            part = "true"
        elif part in FALSE and key in ("bidirectional", "batch_first", "bias"):
            part = "false"
        out.add(part)
    return out


def parse(report: Report, terms: list[str]) -> Callable[[dict], bool]:
    """A record filter from key=value terms; QueryError for a malformed term, an unknown key or
    a value no record has."""
    records = report.records + report.reference
    if not records:
        raise QueryError("no records: nothing ran, or the run stopped before its first case")
    known_keys = sorted(
        {"check", "implementation", "mode"} | {k for r in records for k in r["config"]}
    )
    conditions: list[tuple[str, set[str]]] = []
    for term in terms:
        key, sep, value = term.partition("=")
        key = ALIASES.get(key.strip(), key.strip())
        if not sep or not key or not value.strip():
            raise QueryError(f"{term!r} is not key=value (e.g. mode=LSTM dtype=float32)")
        if key not in known_keys:
            raise QueryError(f"unknown key {key!r}; keys: {', '.join(known_keys)}")
        if any(key == given for given, _ in conditions):
            raise QueryError(f"{key} is given twice; list alternatives as {key}=a,b")
        present = set().union(*(values_of(r, key) for r in records)) if records else set()
        asked = wanted(key, value)
        missing = sorted(asked - {p.lower() for p in present})
        if missing:
            raise QueryError(
                f"no case has {key}={','.join(missing)}; values of {key} in these results "
                f"files: {', '.join(sorted(present)) or 'none'}"
            )
        conditions.append((key, asked))
    return lambda record: all(
        {v.lower() for v in values_of(record, k)} & asked for k, asked in conditions
    )


def answer(report: Report, terms: list[str]) -> list[str]:
    """`name: verdict (counts; reason)` per implementation, for the cases that match `terms`."""
    keep = parse(report, terms)
    if terms and not any(keep(r) for r in report.records + report.reference):
        raise QueryError(
            f"no case has all of {' '.join(terms)} together (each exists on its own): "
            "the settings contradict each other or were never run together"
        )
    keys = [t.partition("=")[0].strip() for t in terms]
    by_implementation = any(ALIASES.get(k, k) == "implementation" for k in keys)
    lines = []
    for name, verdict in column_verdicts(report, keep):
        if not verdict.total:
            if not by_implementation:  # asked for others by name: this one is not news
                lines.append(f"{name}: no case ({no_case_reason(report)})")
            continue
        lines.append(f"{name}: {line(verdict)}")
    reference = verdict_of(r for r in report.reference if keep(r))
    if reference.total:
        lines.append(f"{REFERENCE} (the reference, compared with itself): {line(reference)}")
    return lines


def no_case_reason(report: Report) -> str:
    """Why an implementation has no case of a configuration: it was not selected, or the run
    stopped before it got there."""
    if any(run.get("run", {}).get("complete") is False for run in report.runs):
        return "none recorded: not selected, or the run stopped first (incomplete run)"
    return "none of its cases has this configuration: not selected in this run"


def line(verdict: Verdict) -> str:
    counts, reason = counts_text(verdict), main_reason(verdict)
    said = reason and f"({reason})" not in counts  # a not-run reason is in the counts already
    return f"{verdict.status} ({counts}{f'; {reason}' if said else ''})"

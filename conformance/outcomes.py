"""The suite's one vocabulary of outcomes, most severe first: the plugin, the results file and the
reports all read it from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str  # in the results file
    status: str  # in the reports
    pytest: str  # what pytest shows for it
    meaning: str
    problem: bool = False  # needs a person's attention


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("crashed", "crash", "failed", "the worker process died running the case", True),
    Outcome("error", "error", "failed", "the implementation raised; the traceback is kept", True),
    Outcome("timeout", "timeout", "failed", "the case ran past its time limit", True),
    Outcome("failed", "fail", "failed", "a shape or value differs from the reference", True),
    Outcome(
        "known-divergence",
        "known divergence",
        "xfailed",
        "a declared, explained disagreement (conformance/divergences.py)",
    ),
    Outcome("passed", "pass", "passed", "every compared tensor agrees with the reference"),
    Outcome(
        "unsupported",
        "unsupported",
        "skipped",
        "the implementation cannot express this setting (adapters/registry.py says why)",
    ),
    Outcome("skipped", "not run", "skipped", "the framework is not installed here"),
)
BY_NAME = {outcome.name: outcome for outcome in OUTCOMES}
NAMES = tuple(BY_NAME)
PROBLEMS = tuple(o.name for o in OUTCOMES if o.problem)
STATUS_OF_OUTCOME = {o.name: o.status for o in OUTCOMES}
SEVERITY = tuple(o.status for o in OUTCOMES)  # report statuses, most severe first

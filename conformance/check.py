"""Run one case and judge it, for any check kind, independent of pytest."""

from __future__ import annotations

import re
import shlex
import time
import traceback
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np

import adapters
from adapters import Request
from adapters.layout import to_time_major
from adapters.request import Tensors

from .cases import Case, widened
from .checks import CHECKS
from .checks.kind import CheckKind, Runner
from .compare import (
    TIME_MAJOR,
    Compared,
    TensorComparison,
    compare_tensor,
    compare_tensors,
    counted_mask,
)
from .divergences import KnownDivergence, computed_instead, divergences_for
from .tolerances import Tolerance, tolerance_for

TEST_FILE = "conformance/test_checks.py"
TEST_FUNCTION = "test_check"
# the node id of a case: its case id between the brackets
NODE_PATTERN = re.compile(rf"::{TEST_FUNCTION}\[(?P<case_id>[^\]]+)\]$")


def node_id(case: Case) -> str:
    return f"{TEST_FILE}::{TEST_FUNCTION}[{case.id}]"


def rerun_command(case: Case) -> str:
    """pytest collects a case outside its implementation's pairwise sample only when asked to."""
    from .grid import sampled_out

    every = " --every-configuration" if sampled_out(case) else ""
    return f"pytest {shlex.quote(node_id(case))}{every}"


def repro_command(case: Case, example: str = "") -> str:
    """`example`: one drawn example of a check kind that draws them (its text, e.g.
    "seq_len=3,batch=1,..."), rerun alone."""
    command = f"python -m conformance.repro {case.id}"
    return f"{command} --example {shlex.quote(example)}" if example else command


@lru_cache(maxsize=1024)
def _reference(key: Case) -> Tensors:
    kind = CHECKS[key.check]
    return kind.reference(widened(kind.request(key)))


def reference(case: Case) -> Tensors:
    """The oracle for the case: float64, time-major, from exactly the values the case gets."""
    return _reference(replace(case, implementation="", batch_first=False))


def tolerance_of(case: Case) -> Tolerance:
    """The bound the case is judged by: its check kind's, calibrated for the case where the kind
    calibrates (low_precision), else for its dtype."""
    kind = CHECKS[case.check]
    return kind.calibrated(case) if kind.calibrated is not None else kind.tolerance(case.dtype)


def describe_tolerance(tolerance: Tolerance) -> str:
    if tolerance.atol == tolerance.rtol == 0:
        return "exact equality"
    return f"tolerance |err| <= {tolerance.atol:g} + {tolerance.rtol:g}*|ref|"


def sides(kind: CheckKind, runner: Runner, case: Case, request: Request) -> tuple[object, Tensors]:
    """What is compared: the implementation's tensors and the reference, unless the check kind
    obtains both sides itself (a relation between runs of the same implementation)."""
    if kind.sides is not None:
        return kind.sides(runner, case, request)
    return runner(case.implementation, request), reference(case)


@dataclass
class CaseResult:
    case: Case
    outcome: str
    reason: str = ""
    comparisons: list[TensorComparison] = field(default_factory=list)
    duration_s: float = 0.0
    divergences: list[KnownDivergence] = field(default_factory=list)
    details: str = ""  # a traceback, for the failure message only
    outputs: Tensors | None = None  # the named tensors as the implementation returned them
    # a check kind that draws examples: the example the comparisons are of (the falsifying
    # one), its text for the repro command, and the `examples` summary of the record
    example: Case | None = None
    example_text: str = ""
    examples: dict | None = None
    # failed only because these declared divergences did not show: what a check kind that
    # draws examples judges over all of them (an example too small to show one is no fix)
    not_showing: list[KnownDivergence] = field(default_factory=list)

    def metrics(self) -> dict:
        return {c.name: c.metrics() for c in self.comparisons}

    def record(self, test: str) -> dict:
        """One record of the results file (docs/RESULTS.md)."""
        record = {
            "test": test,
            "check": self.case.check,
            "implementation": self.case.implementation,
            "config": (self.example or self.case).config(),
            "outcome": self.outcome,
            "reason": self.reason,
            "metrics": self.metrics(),
            "duration_s": round(self.duration_s, 6),
            "case_id": self.case.id,
            "tolerance": vars(tolerance_of(self.case)),
            "rerun": rerun_command(self.case),
            "repro": repro_command(self.case, self.example_text),
        }
        if self.examples is not None:
            record["examples"] = self.examples
        if self.divergences:
            record["divergences"] = [d.as_record() for d in self.divergences]
        return record

    def report(self) -> str:
        kind = CHECKS[self.case.check]
        lines = [
            f"{self.case.implementation} {self.case.id}: {self.outcome}"
            + (f" - {self.reason}" if self.reason else ""),
            f"  {self.case.check}: {kind.description}",
            f"  compared with {kind.expected_from}; {describe_tolerance(tolerance_of(self.case))}",
        ]
        lines += [f"  {c.describe()}" for c in self.comparisons]
        if self.details:
            lines.append(self.details.rstrip())
        lines += [f"  upstream repro: {d.repro}" for d in self.divergences if d.repro]
        if self.examples is not None:
            lines.append(f"  examples: {self.examples}")
        repro = repro_command(self.case, self.example_text)
        lines += [f"  rerun: {rerun_command(self.case)}", f"  repro: {repro}"]
        return "\n".join(lines)


def declared_outcome(case: Case) -> CaseResult | None:
    """The outcome the declarations give `case` without running it (not installed, unsupported
    by the registry, our adapter's gap, not judged by its check kind), or None: it runs."""
    kind = CHECKS[case.check]
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    if reason := impl.unavailable_reason():
        return CaseResult(case, "skipped", reason)
    if reason := impl.unsupported_reason(case.setting):  # the registry, whatever the runner
        return CaseResult(case, "unsupported", reason)
    if reason := impl.gap_reason(case.setting):  # our adapter's gap, not the framework's
        return CaseResult(case, "skipped", reason)
    if kind.gradients and not impl.gradients:  # our adapter's gap, not the framework's
        reason = f"not run: the {case.implementation} adapter does not compute gradients yet"
        return CaseResult(case, "skipped", reason)
    if reason := kind.not_judged(case):
        return CaseResult(case, "skipped", reason)
    return None


def run_case(case: Case, runner: Runner = adapters.run_request) -> CaseResult:
    if (declared := declared_outcome(case)) is not None:
        return declared
    kind = CHECKS[case.check]
    if kind.search is not None and case.sizes is None:  # a case of examples, drawn
        return kind.search(case, runner)
    request = kind.request(case)
    start = time.perf_counter()
    try:
        got, expected = sides(kind, runner, case, request)
    except adapters.NotInstalled as missing:  # e.g. a GPU the framework build cannot use
        return CaseResult(case, "skipped", str(missing))
    except adapters.Unsupported as unsupported:
        return CaseResult(
            case, "unsupported", str(unsupported), duration_s=time.perf_counter() - start
        )
    except Exception as error:  # the implementation broke: report it, do not hide it
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        result = judge_error(case, summary)
        result.duration_s = time.perf_counter() - start
        result.details = traceback.format_exc(limit=-8)
        return result
    duration = time.perf_counter() - start

    evidence = Evidence(case, kind.compared(case, request), got, expected, request)
    comparisons = compare_tensors(
        case.spec,
        evidence.compared,
        got,
        evidence.reference,
        tolerance_of(case),
        np.dtype(case.dtype),
    )
    result = judge_comparisons(case, comparisons, evidence)
    result.duration_s, result.outputs = duration, got if isinstance(got, dict) else None
    return result


@dataclass
class Evidence:
    """What a judgement may compare again: the implementation's tensors, what was compared, the
    expected tensors (the reference, or a relation's other side), and the case's request (in
    float64 for what a divergence says is computed instead, made only when a bound asks for it)."""

    case: Case
    compared: tuple[Compared, ...]
    got: object
    reference: Tensors
    request: Request

    @cached_property
    def widened_request(self) -> Request:
        return widened(self.request)

    def _compared(self, name: str) -> Compared:
        return next(c for c in self.compared if c.name == name)

    def recompare(self, name: str, expected: Tensors, tolerance: Tolerance) -> TensorComparison:
        compared = self._compared(name)
        got = self.got.get(compared.source)
        return compare_tensor(self.case.spec, compared, got, expected[compared.source], tolerance)

    def finite(self, name: str) -> bool:
        compared = self._compared(name)
        values = self.got.get(compared.source)
        if compared.layout in TIME_MAJOR:
            values = to_time_major(values, self.case.batch_first)
        if compared.steps is not None:
            values = values[np.broadcast_to(counted_mask(compared, values.ndim), values.shape)]
        return bool(np.all(np.isfinite(values)))


def bound_holds(
    divergence: KnownDivergence,
    declared: list[KnownDivergence],
    name: str,
    evidence: Evidence,
    tolerance: Tolerance,
) -> bool:
    """The explained tensor is what the divergence says the framework computes instead."""
    if divergence.within:
        loose = tolerance_for(divergence.within)
        return evidence.recompare(name, evidence.reference, loose).ok
    if divergence.computes is not None or divergence.computes_with is not None:
        instead = computed_instead(declared, evidence.widened_request, evidence.reference)
        return evidence.recompare(name, instead, tolerance).ok
    return divergence.finite and evidence.finite(name)


def differs(case: Case) -> str:
    """How a failure's reason starts: what the named tensors disagree with."""
    kind = CHECKS[case.check]
    return "differs from the reference in" if kind.against_reference else "breaks the relation in"


def judge_error(case: Case, summary: str) -> CaseResult:
    """An exception is a known divergence only where a declaration expects exactly it."""
    first_line = summary.splitlines()[0]
    explaining = [d for d in divergences_for(case) if d.explains_error(summary)]
    if not explaining:
        return CaseResult(case, "error", summary, divergences=divergences_for(case))
    reason = "; ".join(f"{d.reason} ({d.link})" for d in explaining)
    return CaseResult(
        case, "known-divergence", f"{reason}; raised {first_line}", divergences=explaining
    )


def judge_comparisons(
    case: Case, comparisons: list[TensorComparison], evidence: Evidence
) -> CaseResult:
    differing = [c for c in comparisons if not c.ok]
    declared = divergences_for(case)
    if not declared:
        if not differing:
            return CaseResult(case, "passed", comparisons=comparisons)
        reason = f"{differs(case)} " + ", ".join(c.name for c in differing)
        return CaseResult(case, "failed", reason, comparisons=comparisons)

    # A looser tolerance one declaration grants (float32 accuracy) applies to the others' bounds.
    tolerance = max(
        [tolerance_of(case)] + [tolerance_for(d.within) for d in declared if d.within],
        key=lambda t: t.atol + t.rtol,
    )
    unexplained = []
    for c in differing:
        structural = bool(c.problem) or not c.shape_ok  # never a known divergence
        if structural or not any(
            d.explains(c.name) and bound_holds(d, declared, c.name, evidence, tolerance)
            for d in declared
        ):
            unexplained.append(c.name)
    gone = [d for d in declared if d.raises or not any(d.explains(c.name) for c in differing)]
    if unexplained:
        reason = (
            f"{differs(case)} {', '.join(unexplained)}, beyond the declared "
            f"divergence ({'; '.join(f'{d.link}: {d.bound}' for d in declared)})"
        )
        return CaseResult(case, "failed", reason, comparisons, divergences=declared)
    if gone:
        reason = "; ".join(
            f"declared known divergence no longer reproduces ({d.link}): "
            + ("it expects an exception, none was raised" if d.raises else "those tensors agree")
            for d in gone
        )
        reason += "; remove or narrow it in conformance/divergences.py"
        result = CaseResult(case, "failed", reason, comparisons, divergences=declared)
        result.not_showing = gone
        return result
    reason = "; ".join(f"{d.reason} ({d.link})" for d in declared)
    return CaseResult(case, "known-divergence", reason, comparisons, divergences=declared)

"""Run one case and judge it, for any check kind, independent of pytest."""

from __future__ import annotations

import shlex
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np

import adapters
from adapters import Request
from adapters.request import Tensors

from .cases import Case, widened
from .checks import CHECKS
from .compare import Compared, TensorComparison, compare_tensor, compare_tensors
from .divergences import KnownDivergence, computed_instead, divergences_for
from .tolerances import Tolerance, tolerance_for

TEST_FILE = "conformance/test_checks.py"
TEST_FUNCTION = "test_check"
Runner = Callable[[str, Request], Tensors]  # the signature of adapters.run_request


def node_id(case: Case) -> str:
    return f"{TEST_FILE}::{TEST_FUNCTION}[{case.id}]"


def rerun_command(case: Case) -> str:
    return f"pytest {shlex.quote(node_id(case))}"


def repro_command(case: Case) -> str:
    return f"python -m conformance.repro {case.id}"


@lru_cache(maxsize=1024)
def _reference(key: Case) -> Tensors:
    kind = CHECKS[key.check]
    return kind.reference(widened(kind.request(key)))


def reference(case: Case) -> Tensors:
    """The oracle for the case: float64, time-major, from exactly the values the case gets."""
    return _reference(replace(case, implementation="", batch_first=False))


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

    def metrics(self) -> dict:
        return {c.name: c.metrics() for c in self.comparisons}

    def record(self, test: str) -> dict:
        """One record of the results file (docs/RESULTS.md)."""
        record = {
            "test": test,
            "check": self.case.check,
            "implementation": self.case.implementation,
            "config": self.case.config(),
            "outcome": self.outcome,
            "reason": self.reason,
            "metrics": self.metrics(),
            "duration_s": round(self.duration_s, 6),
            "case_id": self.case.id,
            "tolerance": vars(tolerance_for(self.case.dtype)),
            "rerun": rerun_command(self.case),
            "repro": repro_command(self.case),
        }
        if self.divergences:
            record["divergences"] = [d.as_record() for d in self.divergences]
        return record

    def report(self) -> str:
        tol = tolerance_for(self.case.dtype)
        lines = [
            f"{self.case.implementation} {self.case.id}: {self.outcome}"
            + (f" - {self.reason}" if self.reason else ""),
            f"  {self.case.check}: {CHECKS[self.case.check].description}",
            f"  compared with the NumPy reference in float64; tolerance |err| <= "
            f"{tol.atol:g} + {tol.rtol:g}*|ref|",
        ]
        lines += [f"  {c.describe()}" for c in self.comparisons]
        if self.details:
            lines.append(self.details.rstrip())
        lines += [f"  upstream repro: {d.repro}" for d in self.divergences if d.repro]
        lines += [f"  rerun: {rerun_command(self.case)}", f"  repro: {repro_command(self.case)}"]
        return "\n".join(lines)


def run_case(case: Case, runner: Runner = adapters.run_request) -> CaseResult:
    kind = CHECKS[case.check]
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    if reason := impl.unavailable_reason():
        return CaseResult(case, "skipped", reason)

    if reason := impl.unsupported_reason(case.setting):  # the registry, whatever the runner
        return CaseResult(case, "unsupported", reason)
    if kind.gradients and not impl.gradients:  # our adapter's gap, not the framework's
        reason = f"not run: the {case.implementation} adapter does not compute gradients yet"
        return CaseResult(case, "skipped", reason)
    request = kind.request(case)
    start = time.perf_counter()
    try:
        got = runner(case.implementation, request)
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

    evidence = Evidence(case, kind.compared(case, request), got, reference(case), request)
    comparisons = compare_tensors(
        case.spec,
        evidence.compared,
        got,
        evidence.reference,
        tolerance_for(case.dtype),
        np.dtype(case.dtype),
    )
    result = judge_comparisons(case, comparisons, evidence)
    result.duration_s, result.outputs = duration, got if isinstance(got, dict) else None
    return result


@dataclass
class Evidence:
    """What a judgement may compare again: the implementation's tensors, what was compared, the
    reference, and the case's request (in float64 for what a divergence says is computed
    instead, made only when a bound asks for it)."""

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
        if compared.steps is not None:
            steps = compared.steps if not self.case.batch_first else compared.steps.T
            values = values[steps]
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
        reason = "differs from the reference in " + ", ".join(c.name for c in differing)
        return CaseResult(case, "failed", reason, comparisons=comparisons)

    # A looser tolerance one declaration grants (float32 accuracy) applies to the others' bounds.
    tolerance = max(
        [tolerance_for(case.dtype)] + [tolerance_for(d.within) for d in declared if d.within],
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
            f"differs from the reference in {', '.join(unexplained)}, beyond the declared "
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
        return CaseResult(case, "failed", reason, comparisons, divergences=declared)
    reason = "; ".join(f"{d.reason} ({d.link})" for d in declared)
    return CaseResult(case, "known-divergence", reason, comparisons, divergences=declared)

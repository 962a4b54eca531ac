"""Run one case and judge it: the forward check, independent of pytest."""

from __future__ import annotations

import shlex
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

import adapters
from adapters import numpy_reference
from adapters.layout import zero_state

from .cases import Case, make_data
from .compare import TensorComparison, compare_forward
from .divergences import KnownDivergence, divergence_for
from .tolerances import tolerance_for

TEST_FILE = "conformance/test_forward.py"
Runner = Callable[..., tuple]  # the signature of adapters.run


def rerun_command(case: Case) -> str:
    return f"pytest {shlex.quote(f'{TEST_FILE}::test_forward[{case.id}]')}"


def repro_command(case: Case) -> str:
    return f"python -m conformance.repro {case.id}"


@lru_cache(maxsize=1024)
def reference(layer_config: Case) -> tuple:
    """The oracle: float64, time-major, zero states passed explicitly (the plainest path)."""
    data = make_data(layer_config)
    spec = layer_config.spec
    batch = data.x.shape[1]
    h0 = zero_state(spec, batch, spec.output_size, np.float64) if data.h0 is None else data.h0
    c0 = zero_state(spec, batch, spec.hidden_size, np.float64) if data.c0 is None else data.c0
    return numpy_reference.forward(
        spec, data.params, data.x, h0, c0 if spec.has_cell_state else None
    )


@dataclass
class CaseResult:
    case: Case
    outcome: str
    reason: str = ""
    comparisons: list[TensorComparison] = field(default_factory=list)
    duration_s: float = 0.0
    divergence: KnownDivergence | None = None
    details: str = ""  # a traceback, for the failure message only
    outputs: tuple | None = None  # (output, h_n, c_n) as the implementation returned them

    def metrics(self) -> dict:
        return {c.name: c.metrics() for c in self.comparisons}

    def record(self, test: str) -> dict:
        """One record of the results file (CONTRACT.md section 2), with a few added keys."""
        record = {
            "test": test,
            "check": "forward",
            "implementation": self.case.implementation,
            "config": self.case.config(),
            "outcome": self.outcome,
            "reason": self.reason,
            "metrics": self.metrics(),
            "duration_s": round(self.duration_s, 6),
            "case_id": self.case.id,
            "tolerance": vars(tolerance_for(self.case.dtype)),
            "rerun": rerun_command(self.case),
        }
        if self.divergence is not None:
            record["divergence"] = {
                "reason": self.divergence.reason,
                "link": self.divergence.link,
                "repro": self.divergence.repro,
            }
        return record

    def report(self) -> str:
        tol = tolerance_for(self.case.dtype)
        lines = [
            f"{self.case.implementation} {self.case.id}: {self.outcome}"
            + (f" - {self.reason}" if self.reason else ""),
            f"  compared with the NumPy reference in float64; tolerance |err| <= "
            f"{tol.atol:g} + {tol.rtol:g}*|ref|",
        ]
        lines += [f"  {c.describe()}" for c in self.comparisons]
        if self.details:
            lines.append(self.details.rstrip())
        if self.divergence is not None and self.divergence.repro:
            lines.append(f"  upstream repro: {self.divergence.repro}")
        lines += [f"  rerun: {rerun_command(self.case)}", f"  repro: {repro_command(self.case)}"]
        return "\n".join(lines)


def run_case(case: Case, runner: Runner = adapters.run) -> CaseResult:
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    if reason := impl.unavailable_reason():
        return CaseResult(case, "skipped", reason)

    data = make_data(case)
    dtype = np.dtype(case.dtype)
    x = data.x.astype(dtype)
    x = np.ascontiguousarray(np.swapaxes(x, 0, 1)) if case.batch_first else x
    h0 = None if data.h0 is None else data.h0.astype(dtype)
    c0 = None if data.c0 is None else data.c0.astype(dtype)

    start = time.perf_counter()
    try:
        output, h_n, c_n = runner(case.implementation, case.spec, data.params, x, h0, c0)
    except adapters.NotInstalled as missing:  # e.g. a GPU the framework build cannot use
        return CaseResult(case, "skipped", str(missing))
    except adapters.Unsupported as unsupported:
        return CaseResult(
            case, "unsupported", str(unsupported), duration_s=time.perf_counter() - start
        )
    except Exception as error:  # the implementation broke: report it, do not hide it
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        divergence = divergence_for(case)
        outcome, reason = "error", summary
        if divergence is not None:
            outcome = "known-divergence"
            reason = f"{divergence.reason} ({divergence.link}); raised {summary.splitlines()[0]}"
        return CaseResult(
            case,
            outcome,
            reason,
            duration_s=time.perf_counter() - start,
            divergence=divergence,
            details=traceback.format_exc(limit=-8),
        )
    duration = time.perf_counter() - start

    comparisons = compare_forward(
        case.spec, (output, h_n, c_n), reference(case.layer_config), tolerance_for(case.dtype)
    )
    agrees = all(c.ok for c in comparisons)
    divergence = divergence_for(case)
    if divergence is None:
        outcome, reason = ("passed", "") if agrees else ("failed", _failure_reason(comparisons))
    elif agrees:
        outcome = "failed"
        reason = (
            f"declared known divergence no longer reproduces ({divergence.link}): "
            "the implementation now agrees; remove it from conformance/divergences.py"
        )
    else:
        outcome, reason = "known-divergence", f"{divergence.reason} ({divergence.link})"
    outputs = (output, h_n, c_n)
    return CaseResult(case, outcome, reason, comparisons, duration, divergence, outputs=outputs)


def _failure_reason(comparisons: list[TensorComparison]) -> str:
    bad = [c for c in comparisons if not c.ok]
    return "differs from the reference in " + ", ".join(c.name for c in bad)

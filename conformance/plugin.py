"""pytest wiring: command-line options, the case grid, and the results file across xdist workers.

Workers attach each case's record to its report (user_properties); the controller (or the single
process without xdist) receives every report and alone writes the results file. A report that
arrives without a record (a worker crash, a timeout, a harness error) still becomes a record, so
every case that was scheduled is accounted for.
"""

from __future__ import annotations

import json
import os
import re
import signal
import traceback
from pathlib import Path

import pytest

from adapters import heap

from . import baseline, compile_cache
from .cases import Case
from .check import NODE_PATTERN, CaseResult, declared_outcome, rerun_command
from .declarations import stale_declarations
from .grid import case_from_id
from .jsonsafe import from_json_safe, to_json_safe
from .options import (
    ResultsClaim,
    add_options,
    check_output_paths,
    default_timeout,
    selected_cases,
)
from .results import ResultsFile, record_text, write_text_atomic

RECORD_KEY = "conformance_record"
ARRAYS_KEY = "conformance_arrays"  # the .npz bytes of a case's tensors, for the baseline


def attach_record(node, result: CaseResult) -> None:
    record = to_json_safe(result.record(node.nodeid))
    node.user_properties.append((RECORD_KEY, record_text(record)))


def attach_arrays(node, result: CaseResult) -> None:
    """With --save-baseline, send the case's tensors with its report: the controller writes
    them (a remote worker's disk is not where the baseline is)."""
    if node.config.getoption("save_baseline") and result.outputs is not None:
        node.user_properties.append((ARRAYS_KEY, baseline.encode_arrays(result.outputs)))


def settle_heap(result: CaseResult) -> None:
    """After the first case that ran its implementation on this worker, keep what the framework
    loaded out of later full garbage collections (adapters/heap.py). Not after a case skipped
    or unsupported (most are settled by the declarations before their test runs; an adapter can
    still raise Unsupported or NotInstalled), which loaded nothing of the framework's."""
    if result.duration_s > 0 and result.outcome not in ("unsupported", "skipped"):
        heap.settle(result.case.implementation)


def conclude(result: CaseResult, runxfail: bool = False) -> None:
    """Turn a judged case into pytest's vocabulary; never call `unsupported` a pass. Under
    pytest's --runxfail a known divergence fails with its whole report, as pytest.xfail() would
    let it."""
    if result.outcome == "passed":
        return
    if result.outcome == "skipped":
        pytest.skip(result.reason)
    if result.outcome == "unsupported":
        pytest.skip(f"unsupported: {result.reason}")
    if result.outcome == "known-divergence" and not runxfail:
        repros = "".join(f"; repro: {d.repro}" for d in result.divergences if d.repro)
        # pytest.xfail() as pytest.fail(pytrace=False): pytest would otherwise format the
        # traceback of every xfail, parsing our sources' AST for each (about 9 ms a case,
        # docs/PERFORMANCE.md), into a report that shows the reason alone
        raise pytest.xfail.Exception(f"known divergence: {result.reason}{repros}", pytrace=False)
    pytest.fail(result.report(), pytrace=False)


def conclude_declared(item) -> None:
    """Conclude a case its declarations settle (not installed, unsupported, our adapter's gap,
    not judged) at the end of its setup, before its test body: the record rides on the setup
    report, and pytest sends two reports instead of three (docs/PERFORMANCE.md, "Cases settled
    in setup"). A case that runs is left to its test, and so is everything else: --setup-only
    and --setup-plan (which run no test), and declarations that raise (the test reports it)."""
    if item.config.getoption("setuponly", False) or item.config.getoption("setupplan", False):
        return
    case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
    if not isinstance(case, Case):
        return
    try:
        declared = declared_outcome(case)
    except Exception:  # run_case asks again in the test, which reports the error as ever
        return
    if declared is not None:
        attach_record(item, declared)
        conclude(declared)


def _record_without_result(report) -> dict | None:
    """A record for a case whose test body could not attach one."""
    match = NODE_PATTERN.search(report.nodeid)
    if not match:
        return None
    if report.when == "???":  # pytest-xdist's report for the item a dead worker was running
        outcome = "crashed"
    elif report.when == "setup" and report.skipped:
        outcome = "skipped"
    elif report.failed and "Timeout" in report.longreprtext:
        outcome = "timeout"
    elif report.failed and report.when in ("setup", "call"):
        outcome = "error"
    else:
        return None
    try:
        case = case_from_id(match["case_id"])
    except ValueError:
        return None
    result = CaseResult(case, outcome, _reason_without_result(report, outcome))
    result.duration_s = float(getattr(report, "duration", 0.0))
    return result.record(report.nodeid)


TIMEOUT_MESSAGE = re.compile(r"Timeout \(>?(?P<seconds>[0-9.]+)s\)")


def _reason_without_result(report, outcome: str) -> str:
    if outcome == "skipped" and isinstance(report.longrepr, tuple):  # (path, line, message)
        return str(report.longrepr[2]).removeprefix("Skipped: ")  # a user's skip mark's reason
    text = report.longreprtext.strip()
    if outcome == "timeout":
        limit = TIMEOUT_MESSAGE.search(text)
        seconds = f" {float(limit['seconds']):g} s" if limit else ""
        return f"timed out: ran past the case time limit{seconds} (pytest --timeout SECONDS)"
    if outcome == "crashed":
        return f"the worker process died while running this case ({text.splitlines()[-1]})"
    lines = [line for line in text.splitlines() if line.startswith("E ")] or text.splitlines()
    return lines[-1].removeprefix("E").strip() if lines else outcome


class ResultsPlugin:
    def __init__(
        self,
        path,
        report_path: str | None,
        baseline_copy: Path | None,
        claim: ResultsClaim | None = None,
        baseline_dir: str | None = None,
    ):
        self.claim = claim
        self.results = ResultsFile(path)
        self.baseline_dir = baseline_dir  # --save-baseline: where the cases' arrays go
        self.baseline_errors: list[str] = []  # arrays that could not be written there
        self.report_path = report_path
        self.baseline_copy = baseline_copy  # the baseline keeps the run's results too
        self.recorded: set[str] = set()
        self.report_error = ""

    @pytest.hookimpl(tryfirst=True)  # before junitxml and the like see the arrays' bytes
    def pytest_runtest_logreport(self, report) -> None:
        props = dict(report.user_properties)
        encoded = props.pop(ARRAYS_KEY, None)
        if encoded is not None:  # written once, then dropped: the reports stay small
            report.user_properties = [p for p in report.user_properties if p[0] != ARRAYS_KEY]
        if report.nodeid in self.recorded:
            return
        text = None
        if report.when in ("setup", "call") and RECORD_KEY in props:  # setup: settled
            text = props[RECORD_KEY]
            record = json.loads(text)
        else:
            record = _record_without_result(report)
        if record is not None:
            self.recorded.add(report.nodeid)
            self.results.add(record, text)
        if self.baseline_dir and encoded is not None and report.when == "call":
            self.write_arrays(report.nodeid, encoded)

    def write_arrays(self, nodeid: str, encoded: bytes) -> None:
        """One case's arrays into the baseline; a failure is reported and fails the run at the
        end, but loses neither this case's record nor the rest of the run."""
        match = NODE_PATTERN.search(nodeid)
        try:
            if not match:
                raise ValueError(f"{nodeid} names no case")
            baseline.write_arrays(self.baseline_dir, match["case_id"], encoded)
        except (OSError, ValueError) as error:
            self.baseline_errors.append(f"{nodeid}: {type(error).__name__}: {error}")

    @pytest.hookimpl
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if self.baseline_errors and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
        self.results.close(exitstatus, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        if self.claim:
            self.claim.release()
        if self.baseline_copy:
            write_text_atomic(self.baseline_copy, self.results.text())
        if self.report_path:
            try:
                self.write_report()
            except Exception as error:  # the results file is already complete: keep it
                self.report_error = "".join(traceback.format_exception_only(type(error), error))
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def write_report(self) -> None:
        from reports import html
        from reports.model import build

        report = build([from_json_safe(self.results.document())], [self.results.path.name])
        path = Path(self.report_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html.render(report), encoding="utf-8")

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter) -> None:
        counts: dict[str, dict[str, int]] = {}
        for record in self.results.records:
            per_impl = counts.setdefault(record["implementation"], {})
            per_impl[record["outcome"]] = per_impl.get(record["outcome"], 0) + 1
        terminalreporter.section("conformance results")
        for impl, outcomes in counts.items():
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
            terminalreporter.write_line(f"{impl:>20}: {summary}")
        divergences: dict[str, int] = {}
        for record in self.results.records:
            if record["outcome"] == "known-divergence":
                for divergence in record.get("divergences", []):
                    key = f"{record['implementation']} {record['check']}: {divergence['link']}"
                    divergences[key] = divergences.get(key, 0) + 1
        for key, count in sorted(divergences.items()):
            terminalreporter.write_line(f"known divergence, {count} cases - {key}")
        terminalreporter.write_line(
            f"{len(self.results.records)} records written to {self.results.path}"
        )
        if self.baseline_errors:
            terminalreporter.write_line(
                f"the baseline {self.baseline_dir} lacks the arrays of "
                f"{len(self.baseline_errors)} cases, which could not be written (the run fails):",
                red=True,
            )
            for error in self.baseline_errors[:10]:
                terminalreporter.write_line(f"  {error}", red=True)
        if self.report_error:
            terminalreporter.write_line(
                f"compatibility report NOT written ({self.report_error.strip()}); the results "
                f"file is complete: python -m reports build {self.results.path} -o REPORT.html",
                red=True,
            )
        elif self.report_path:
            terminalreporter.write_line(f"compatibility report: {self.report_path}")


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


SINGLE_THREADED_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def auto_workers() -> int:
    """How many workers `pytest -n auto` starts on this machine: pytest-xdist's own count (its
    PYTEST_XDIST_AUTO_NUM_WORKERS, else the physical cores through psutil, else the CPUs this
    process may run on)."""
    from types import SimpleNamespace

    from xdist.plugin import pytest_xdist_auto_num_workers

    return pytest_xdist_auto_num_workers(
        SimpleNamespace(option=SimpleNamespace(numprocesses="auto"))
    )


def share_the_cores(workers: int) -> None:
    """Size each worker's framework thread pools to its share of the cores.

    With -n auto every worker would otherwise start TensorFlow, XLA and PyTorch pools as large as
    the machine, so N workers run N times that many busy threads on N cores. Set before any
    framework is imported (the adapters import them on first use; Keras child processes inherit
    the environment); a variable the user set is left alone.
    """
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(name, threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    if threads == "1" and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = SINGLE_THREADED_XLA


def configure(config) -> None:
    selected_cases(config)  # bad option values are usage errors, before collection
    default_timeout(config)
    compile_cache.configure(config)  # before any framework is imported here or in a worker
    if hasattr(config, "workerinput"):  # an xdist worker: the controller owns the file
        share_the_cores(int(config.workerinput.get("workercount", 1)))
        return
    check_output_paths(config)
    for message in stale_declarations():
        config.issue_config_time_warning(pytest.PytestWarning(f"stale declaration: {message}"), 2)
    if config.pluginmanager.hasplugin("xdist"):
        from .scheduling import CaseGroups  # imports xdist

        config.pluginmanager.register(
            CaseGroups(whole_implementations=config.getoption("quick")),
            "conformance-case-groups",
        )
    path = config.getoption("results_json")
    baseline_dir = config.getoption("save_baseline")
    baseline_run = baseline.new_run_path(baseline_dir) if baseline_dir else None
    if path or baseline_run:
        copy = baseline_run if path else None  # without --results-json it is written there
        claim = ResultsClaim(path) if path else None
        plugin = ResultsPlugin(
            path or baseline_run, config.getoption("report_html"), copy, claim, baseline_dir
        )
        config.pluginmanager.register(plugin, "conformance-results")
        # `kill` and CI timeouts send SIGTERM: end like Ctrl-C so the file is finalised.
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


__all__ = [
    "add_options",
    "attach_arrays",
    "attach_record",
    "conclude",
    "configure",
    "rerun_command",
    "selected_cases",
]

"""Where each implementation's time goes: python -m conformance.profile [--impl ...] [--check ...]

For each implementation and check kind, in a fresh process of its own (so that the framework's
import is part of what is measured, as on a pytest-xdist worker) with the thread settings of a
worker of `pytest -n auto` (`--workers N` for those of `-n N`; `plugin.share_the_cores`: the
machine's CPUs shared among the workers, XLA single-threaded where a worker has one; a variable
the user set is left alone), it times:

- **import**: importing the framework packages the implementation needs and its adapter (NumPy
  is imported by the harness before anything is timed, so `numpy` shows only its adapter);
- **first case**: the first supported float32 case: building the layers, tracing or compiling
  them, exporting (ONNX), and running once;
- **again**: the same case once more: what is left once the structure is built or compiled;
- **new weights**: the same structure with other weights and inputs: equal to `again` when the
  weights are inputs of the built program, as large as `first case` when they are baked into it;
- **per case**: the mean over up to `--cases` cases of the grid (both dtypes, every structure in
  grid order), as a pytest run sees them, with the sum it adds up to over the whole grid.

Each figure is wall time in that process and the CPU time (user + sys) it took beside it.
`--compile-cache DIR` points every process it starts at JAX's compilation cache in DIR, as
`pytest conformance -n auto --compile-cache DIR` does (the same programs under the same keys: a
cache that such a run filled serves the profile with the same --workers, and the other way
round), and says how many programs DIR held before and after: with an empty DIR the JAX
implementations' first case and per case include XLA compiling, and a second run with the same
DIR shows what is left when the programs are loaded instead.
`--from RESULTS` instead sums the cases' own durations from a results file, per implementation
and check kind. The output is a Markdown table (docs/PERFORMANCE.md has one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

import adapters

from .checks import CHECKS
from .compile_cache import programs_in, use_compile_cache
from .plugin import auto_workers, share_the_cores

Timing = tuple[float, float]  # (wall s, CPU s)


def timed(function) -> tuple[object, Timing]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, (time.perf_counter() - wall, time.process_time() - cpu)


def other_weights(request: adapters.Request) -> adapters.Request:
    """The same structure, dtype and layout with different values everywhere."""
    rng = np.random.default_rng(1)

    def other(a):
        return None if a is None else (a * rng.uniform(0.5, 1.0, size=a.shape)).astype(a.dtype)

    params = {name: other(value) for name, value in request.params.items()}
    return replace(request, params=params, x=other(request.x), h0=other(request.h0))


def profile_one(name: str, check: str, cases: int) -> dict:
    """The phases of one implementation on one check kind, in this (fresh) process."""
    from .check import run_case
    from .grid import all_cases

    impl = adapters.IMPLEMENTATIONS[name]
    if reason := impl.unavailable_reason():
        return {"implementation": name, "check": check, "skipped": reason}

    def load():
        for package in impl.requires:
            importlib.import_module(package)
        impl.load()

    _, imported = timed(load)
    kind = CHECKS[check]
    grid = all_cases(implementations=[name], checks=[check])
    supported = [c for c in grid if not impl.unsupported_reason(c.setting)]
    if not supported:
        return {"implementation": name, "check": check, "skipped": "no supported case"}
    first = next((c for c in supported if c.dtype == "float32"), supported[0])
    request = kind.request(first)
    _, first_time = timed(lambda: adapters.run_request(name, request))
    _, again = timed(lambda: adapters.run_request(name, request))
    _, new_weights = timed(lambda: adapters.run_request(name, other_weights(request)))
    step = max(1, len(supported) // cases)
    sample = supported[::step][:cases]
    durations = [timed(lambda case=case: run_case(case))[1] for case in sample]
    per_case = tuple(float(np.mean([d[i] for d in durations])) for i in (0, 1))
    return {
        "implementation": name,
        "check": check,
        "import": imported,
        "first": first_time,
        "again": again,
        "new_weights": new_weights,
        "per_case": per_case,
        "sampled": len(sample),
        "grid": len(grid),
        "supported": len(supported),
    }


def seconds(timing: Timing, scale: float = 1.0, unit: str = "s") -> str:
    return f"{timing[0] * scale:.3g} {unit} ({timing[1] * scale:.3g})"


def profile_table(rows: list[dict]) -> str:
    lines = [
        "| implementation | check | import | first case | again | new weights | per case "
        "(sampled) | grid: cases, est. sum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['implementation']} | {row['check']} | {row['skipped']} |")
            continue
        estimate = (row["per_case"][0] * row["supported"], row["per_case"][1] * row["supported"])
        lines.append(
            f"| {row['implementation']} | {row['check']} | {seconds(row['import'])} | "
            f"{seconds(row['first'])} | {seconds(row['again'], 1e3, 'ms')} | "
            f"{seconds(row['new_weights'], 1e3, 'ms')} | "
            f"{seconds(row['per_case'], 1e3, 'ms')} ({row['sampled']}) | "
            f"{row['supported']} of {row['grid']}, {seconds(estimate)} |"
        )
    lines.append("")
    lines.append("Wall time, CPU time (user+sys) in parentheses, each in its own process.")
    return "\n".join(lines)


def results_table(path: str) -> str:
    """Per implementation and check kind: cases run and the sum and mean of their durations."""
    from .results import load

    records = load(path)["records"]
    totals: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in records:
        if record["outcome"] not in ("skipped", "unsupported"):
            totals[record["implementation"], record["check"]].append(record["duration_s"])
    lines = [
        "| implementation | check | cases run | sum | mean per case | slowest |",
        "|---|---|---|---|---|---|",
    ]
    for (impl, check), durations in sorted(totals.items(), key=lambda item: -sum(item[1])):
        lines.append(
            f"| {impl} | {check} | {len(durations)} | {sum(durations):.1f} s | "
            f"{1e3 * float(np.mean(durations)):.1f} ms | {max(durations):.2f} s |"
        )
    overall = sum(sum(d) for d in totals.values())
    lines.append("")
    lines.append(
        f"{len(records)} records; the cases' durations sum to {overall:.1f} s (the time in "
        "the implementations, summed over workers: framework imports and pytest's own work "
        "are not in it)."
    )
    return "\n".join(lines)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def workers(text: str) -> int | str:
    return text if text == "auto" else positive(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.profile", description=__doc__)
    parser.add_argument("--impl", default=None, help="comma-separated; default: every CPU one")
    parser.add_argument("--check", help="comma-separated check kinds (default forward)")
    parser.add_argument("--cases", type=positive, help="cases sampled for 'per case' (default 24)")
    parser.add_argument("--from", dest="results", metavar="RESULTS", help="a results file")
    parser.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="JAX's compilation cache for every process it starts (as pytest's option); the "
        "output says how many programs DIR held before and after",
    )
    parser.add_argument(
        "--workers",
        type=workers,
        default="auto",
        help="the thread settings of a worker of pytest -n WORKERS (default auto)",
    )
    parser.add_argument("--one", nargs=2, metavar=("IMPL", "CHECK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.results:
        options = ("impl", "check", "cases", "compile_cache")
        given = [f"--{name.replace('_', '-')}" for name in options if getattr(args, name)]
        given += ["--workers"] * (args.workers != "auto")
        if given:
            parser.error(f"{', '.join(given)}: for a profile that runs cases, not with --from")
        try:
            print(results_table(args.results))
        except (OSError, ValueError) as error:
            print(f"python -m conformance.profile: {error}", file=sys.stderr)
            return 2
        return 0
    cases = args.cases or 24
    if args.one:  # the child process: one implementation, one check kind, JSON out
        print(json.dumps(profile_one(*args.one, cases=cases)))
        return 0
    names = (
        args.impl.split(",")
        if args.impl
        else [n for n, i in adapters.IMPLEMENTATIONS.items() if i.device == "cpu"]
    )
    checks = (args.check or "forward").split(",")
    for value, known, option in (
        (names, adapters.IMPLEMENTATIONS, "--impl"),
        (checks, CHECKS, "--check"),
    ):
        if unknown := [v for v in value if v not in known]:
            parser.error(f"{option}: unknown {unknown}; choose from {', '.join(known)}")
    # each child gets the thread settings of a worker of `pytest -n WORKERS`; XLA's flags among
    # them are part of JAX's cache key, so the cache is the one such runs use
    share_the_cores(auto_workers() if args.workers == "auto" else args.workers)
    if args.compile_cache:  # JAX's environment variables: each child reads them as it imports jax
        try:
            use_compile_cache(args.compile_cache)
        except pytest.UsageError as error:
            parser.error(str(error))
        cached = programs_in(args.compile_cache)
    rows = []
    for name in names:
        for check in checks:
            command = [sys.executable, "-m", "conformance.profile", "--one", name, check]
            command += ["--cases", str(cases)]
            child = subprocess.run(command, capture_output=True, text=True, env=os.environ)
            if child.returncode != 0:
                message = (child.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"implementation": name, "check": check, "skipped": message})
            else:
                rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"profiled {name} {check}", file=sys.stderr, flush=True)
    print(profile_table(rows))
    if args.compile_cache:
        print(
            f"\nJAX's compilation cache {args.compile_cache}: {cached} programs before the "
            f"profile and {programs_in(args.compile_cache)} after."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

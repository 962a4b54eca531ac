"""Time the grid as users run it: python -m conformance.benchmark [--impl ...] [--check ...]

Runs `pytest conformance -n auto` in a fresh process (framework start-up included) and prints the
wall-clock time and the CPU time (user + sys of every process it started) with the number of
cases, so the figures in the README can be reproduced. `--results-json PATH` keeps the run's
results file, for `python -m conformance.profile --from PATH` (the cases' own durations, less
sensitive to a loaded machine than the wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter

import pytest

from adapters import IMPLEMENTATIONS

from .checks import CHECKS
from .compile_cache import programs_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.benchmark", description=__doc__)
    parser.add_argument(
        "--impl", default=",".join(IMPLEMENTATIONS), help="default: every registered one"
    )
    parser.add_argument("--check", default=",".join(CHECKS), help="default: every check kind")
    parser.add_argument("--dtype", help="float64, float32, ...: default every dtype a check runs")
    parser.add_argument("--workers", default="auto", help="pytest-xdist -n value")
    parser.add_argument("--quick", action="store_true", help="pytest conformance --quick")
    parser.add_argument(
        "--every-configuration", action="store_true", help="also the pairwise-sampled ones"
    )
    parser.add_argument("--results-json", metavar="PATH", help="keep the results file there")
    parser.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="pytest conformance --compile-cache DIR; the output says how many programs it held "
        "before the run and after (an empty one is a cold run: run again for a warm one)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results_json or os.path.join(tmp, "results.json")
        command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"]
        command += ["-n", args.workers, "--impl", args.impl, "--check", args.check]
        command += ["--results-json", results] + (["--dtype", args.dtype] if args.dtype else [])
        command += ["--quick"] * args.quick + ["--every-configuration"] * args.every_configuration
        command += ["--compile-cache", args.compile_cache] if args.compile_cache else []
        try:
            cached = programs_in(args.compile_cache) if args.compile_cache else 0
        except pytest.UsageError as error:
            parser.error(str(error))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            with open(results) as f:
                records = json.load(f)["records"]
        except (OSError, ValueError, KeyError) as error:  # pytest stopped before writing it
            output = (completed.stdout + completed.stderr).strip().splitlines()
            print("\n".join(output[-30:]), file=sys.stderr)
            print(f"no results from pytest (exit {completed.returncode}): {error}", file=sys.stderr)
            return completed.returncode or 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    outcomes = Counter(r["outcome"] for r in records)
    print(
        f"checks {args.check}; {args.impl}; "
        + ("--quick; " if args.quick else f"{args.dtype or 'every dtype'}; ")
        + ("every configuration" if args.every_configuration else "CI selection")
        + (
            f"; compile cache {args.compile_cache}, {cached} programs before the run and "
            f"{programs_in(args.compile_cache)} after:"
            if args.compile_cache
            else ":"
        )
        + f"\n{len(records)} cases in "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU (user+sys) with -n {args.workers} on "
        f"{os.cpu_count()} cores (pytest exit {completed.returncode}; "
        + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
        + ")"
    )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())

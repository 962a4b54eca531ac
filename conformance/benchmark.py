"""Time the whole forward grid as users run it: python -m conformance.benchmark [--impl ...]

Runs `pytest conformance -n auto` in a fresh process (framework start-up included) and prints the
wall-clock time with the number of cases, so the figure in the README can be reproduced.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

from adapters import IMPLEMENTATIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.benchmark", description=__doc__)
    parser.add_argument(
        "--impl", default=",".join(IMPLEMENTATIONS), help="default: every registered one"
    )
    parser.add_argument("--workers", default="auto", help="pytest-xdist -n value")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = os.path.join(tmp, "results.json")
        command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"]
        command += ["-n", args.workers, "--impl", args.impl, "--results-json", results]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        with open(results) as f:
            records = json.load(f)["records"]
    outcomes = Counter(r["outcome"] for r in records)
    print(
        f"forward grid, {args.impl}, float64+float32:\n{len(records)} cases in {wall:.1f} s wall "
        f"with -n {args.workers} on {os.cpu_count()} cores (pytest exit {completed.returncode}; "
        + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
        + ")"
    )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())

"""Rerun one case outside pytest and print what differs: python -m conformance.repro CASE_ID"""

from __future__ import annotations

import argparse
import sys

from .cases import case_from_id
from .check import run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__)
    parser.add_argument("case_id", help="e.g. LSTM-L2-bi-batch_first-proj8-bias-h0-keras-float32")
    args = parser.parse_args(argv)
    try:
        case = case_from_id(args.case_id)
    except ValueError as error:
        parser.error(str(error))
    result = run_case(case)
    print(result.report())
    return 0 if result.outcome in ("passed", "unsupported", "known-divergence", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())

"""Rerun one case outside pytest and print what differs: python -m conformance.repro CASE_ID

CASE_ID is a case id (as in the results file) or the pytest node id that names it.
"""

from __future__ import annotations

import argparse
import sys

from .check import run_case
from .grid import case_from_id
from .outcomes import PROBLEMS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__)
    parser.add_argument(
        "case_id", help="e.g. lengths-LSTM-L2-bi-batch_first-proj0-bias-h0-varlen-keras-float32"
    )
    args = parser.parse_args(argv)
    try:
        case = case_from_id(args.case_id)
    except ValueError as error:
        parser.error(str(error))
    result = run_case(case)
    print(result.report())
    return 1 if result.outcome in PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())

"""Rerun one case outside pytest and print what differs: python -m conformance.repro CASE_ID

CASE_ID is a case id (as in the results file) or the pytest node id that names it. A check kind
that draws examples (sizes) runs the case's examples under the CI profile (or --hypothesis-profile
NAME); --example TEXT, as a failure prints it, reruns that one example alone.
"""

from __future__ import annotations

import argparse
import sys

from hypothesis import settings

from . import profiles
from .check import run_case
from .checks import CHECKS
from .grid import case_from_id
from .outcomes import PROBLEMS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__)
    parser.add_argument(
        "case_id", help="e.g. lengths-LSTM-L2-bi-batch_first-proj0-bias-h0-varlen-keras-float32"
    )
    parser.add_argument(
        "--example",
        metavar="TEXT",
        help="of a check kind that draws examples, the one example to rerun, e.g. "
        "seq_len=3,batch=1,input_size=2,hidden_size=1,num_layers=1,bidirectional=0,"
        "batch_first=0,proj_size=0,bias=1,initial_state=given,seed=0",
    )
    parser.add_argument(
        "--hypothesis-profile",
        default=profiles.CI,
        metavar="NAME",
        help=f"the examples' settings profile (default {profiles.CI}; {profiles.NIGHTLY})",
    )
    args = parser.parse_args(argv)
    try:
        case = case_from_id(args.case_id)
        settings.load_profile(args.hypothesis_profile)
    except Exception as error:  # an unknown case id or profile: a usage error, said as such
        parser.error(str(error))
    if args.example is not None:
        if CHECKS[case.check].search is None:
            parser.error(f"--example: the {case.check} check draws no examples")
        from .checks.sizes import example_text, parse_example

        try:
            case = parse_example(case, args.example)
        except ValueError as error:
            parser.error(str(error))
    result = run_case(case)
    if case.sizes is not None:  # the report's repro command names the example again
        result.example, result.example_text = case, example_text(case)
    print(result.report())
    return 1 if result.outcome in PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m reports summary RESULTS.json [...]: outcomes and worst errors as a text table."""

from __future__ import annotations

import argparse
import sys

from conformance.results import load

from .summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="print a text summary of results files")
    summary.add_argument("results", nargs="+", help="results files (pytest --results-json)")
    args = parser.parse_args(argv)
    try:
        documents = [load(path) for path in args.results]
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(summarize(documents))
    return 0


if __name__ == "__main__":
    sys.exit(main())

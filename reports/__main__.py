"""Reports from results files (pytest conformance --results-json).

python -m reports build a.json [b.json ...] -o report.html   the HTML compatibility report
python -m reports markdown a.json [b.json ...] [-o out.md]   the same matrix in Markdown
python -m reports summary a.json [b.json ...]                outcomes and worst errors as text
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.results import load

from . import html, markdown
from .model import build
from .summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("build", "write the HTML compatibility report"),
        ("markdown", "write the compatibility matrix as Markdown"),
        ("summary", "print outcomes and worst errors as a text table"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("results", nargs="+", help="results files (pytest --results-json)")
        if name != "summary":
            command.add_argument(
                "-o", "--output", required=name == "build", help="output file (default: stdout)"
            )
    compare_command = commands.add_parser(
        "compare", help="compare two baselines (pytest conformance --save-baseline DIR)"
    )
    compare_command.add_argument("old", help="the baseline before the upgrade")
    compare_command.add_argument("new", help="the baseline after it")
    compare_command.add_argument("-o", "--output", help="also write the diff as HTML")
    compare_command.add_argument("--json", help="also write the changes as JSON")
    args = parser.parse_args(argv)
    if args.command == "compare":
        return run_compare(parser, args)
    try:
        documents = [load(path) for path in args.results]
    except (OSError, ValueError) as error:
        parser.error(str(error))
    names = [Path(p).name for p in args.results]
    if args.command == "summary":
        print(summarize(documents))
        return 0
    report = build(documents, names)
    text = html.render(report) if args.command == "build" else markdown.render(report)
    if getattr(args, "output", None):
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def run_compare(parser, args) -> int:
    from . import compare

    try:
        comparison = compare.compare(args.old, args.new)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(compare.text(comparison))
    if args.output:
        Path(args.output).write_text(html.render_diff(comparison), encoding="utf-8")
        print(f"wrote {args.output}")
    if args.json:
        Path(args.json).write_text(compare.to_json(comparison), encoding="utf-8")
    return 1 if comparison.regressions else 0


if __name__ == "__main__":
    sys.exit(main())

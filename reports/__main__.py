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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

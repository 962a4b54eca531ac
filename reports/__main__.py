"""Reports from results files (pytest conformance --results-json) and baselines.

python -m reports build a.json [b.json ...] -o report.html   the HTML compatibility report
python -m reports markdown a.json [b.json ...] [-o out.md]   the same matrix in Markdown
python -m reports summary a.json [b.json ...]                outcomes and worst errors as text
python -m reports query a.json [b.json ...] key=value ...    each implementation's verdict on
                                     one configuration, e.g. mode=LSTM proj_size=8 dtype=float32
python -m reports compare OLD NEW [-o diff.html] [--json c.json]   compare two baselines

Exit status: 0 done (compare: no regression); 1 compare found a regression; 2 usage error (bad
arguments, a file that is not a valid results file or baseline, an output that cannot be
written: nothing is written then); 3 compare compared nothing (no case in common, every case
skipped or without its arrays).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conformance.results import given_twice, load

from . import html, markdown
from .model import build
from .summary import summarize
from .verdicts import incomplete_runs

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_NOTHING_COMPARED = 0, 1, 2, 3


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
    query_command = commands.add_parser(
        "query",
        help="each implementation's verdict on the cases with the given settings (key=value; "
        "keys: check, implementation and the config keys: mode, num_layers, bidirectional, "
        "batch_first, proj_size, bias, initial_state, lengths, dtype, ...)",
    )
    query_command.add_argument(
        "arguments", nargs="+", metavar="RESULTS|key=value", help="results files, then key=value"
    )
    compare_command = commands.add_parser(
        "compare",
        help="compare two baselines (pytest conformance --save-baseline DIR); exit 0 no "
        "regression, 1 regression, 2 usage error, 3 nothing compared",
    )
    compare_command.add_argument("old", help="the baseline before the upgrade")
    compare_command.add_argument("new", help="the baseline after it")
    compare_command.add_argument("-o", "--output", help="also write the diff as HTML")
    compare_command.add_argument("--json", help="also write the changes as JSON")
    args = parser.parse_args(argv)
    # An output that cannot be written is a usage error found before the work, not after it.
    for output in (getattr(args, "output", None), getattr(args, "json", None)):
        if output:
            problem = unwritable(output)
            if problem:
                parser.error(problem)
    if args.command == "compare":
        return run_compare(parser, args)
    if args.command == "query":
        return run_query(parser, args)
    if problem := given_twice(args.results):
        parser.error(problem)
    try:
        documents = [load(path) for path in args.results]
    except (OSError, ValueError) as error:
        parser.error(str(error))
    names = run_names(args.results)
    if args.command == "summary":
        print(summarize(documents, names))
        return EXIT_OK
    report = build(documents, names)
    text = html.render(report) if args.command == "build" else markdown.render(report)
    if getattr(args, "output", None):
        write(parser, args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run_query(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .query import QueryError, answer

    # A word with "=" is a setting unless it names an existing file.
    files = [a for a in args.arguments if "=" not in a or Path(a).is_file()]
    terms = [a for a in args.arguments if a not in files]
    if not files:
        parser.error("query: name at least one results file before the key=value settings")
    if problem := given_twice(files):
        parser.error(f"query: {problem}")
    try:
        documents = [load(path) for path in files]
    except (OSError, ValueError) as error:
        parser.error(str(error))
    report = build(documents, run_names(files))
    try:
        lines = answer(report, terms)
    except QueryError as error:
        parser.error(f"query: {error}")
    for note in incomplete_runs(report):
        print(note, file=sys.stderr)
    print("\n".join(lines))
    return EXIT_OK


def run_names(paths: list[str]) -> list[str]:
    """Each results file's label: its name, or as many of its last path parts as tell it apart
    from the others (shard1/results.json, shard2/results.json)."""
    parts = [Path(path).resolve().parts for path in paths]
    depth = 1
    while depth < max(map(len, parts), default=1) and len({p[-depth:] for p in parts}) < len(parts):
        depth += 1
    return [str(Path(*p[-depth:])) for p in parts]


def unwritable(output: str) -> str:
    """Why `output` cannot be written ("" when it can): it is a directory, or an existing file
    without write permission, or its nearest existing parent is no directory we may write in
    (the missing ones are created when it is written)."""
    path = Path(output)
    if path.is_dir():
        return f"cannot write {output}: it is a directory"
    if path.exists() or path.is_symlink():
        return "" if os.access(path, os.W_OK) else f"cannot write {output}: permission denied"
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot write {output}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write {output}: cannot create files in {parent}"
    return ""


def write(parser: argparse.ArgumentParser, output: str, text: str) -> None:
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:  # checked before the work, but the disk may still be full
        parser.error(f"cannot write {output}: {error.strerror or error}")


def run_compare(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import compare

    try:
        comparison = compare.compare(args.old, args.new)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(compare.text(comparison))
    if args.output:
        write(parser, args.output, html.render_diff(comparison))
        print(f"wrote {args.output}")
    if args.json:
        write(parser, args.json, compare.to_json(comparison))
    if comparison.compared == 0:
        print(f"{parser.prog}: error: {compare.nothing_compared(comparison)}", file=sys.stderr)
        return EXIT_NOTHING_COMPARED
    return EXIT_REGRESSION if comparison.regressions else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

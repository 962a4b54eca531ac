"""Merge the results files of shards of one run: python -m conformance.merge SHARD... -o FILE

Shards are parts of one selection run separately (pytest-split's `--splits N --group K`, or
`--impl`/`--check` parts on several machines of the same environment). Their records are
concatenated unchanged; each shard's `run` and environment are kept under the merged file's
`run.shards`, so nothing is lost. Refused (exit 2, saying why): shards whose software differs
(packages, opsets, machine, device, Python's minor version: compare those side by side as
columns, `python -m reports build A.json B.json`), a case that appears in two shards, a file
given twice, an unreadable or invalid file. Where pytest-split groups are missing (a lost CI job)
the merged file is written marked incomplete (`run.complete` false, `run.missing`), exit 1.

Baselines need no command: their arrays are one file per case, so shard baselines merge by
copying the directories together (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .jsonsafe import to_json_safe
from .results import SCHEMA, given_twice, load, write_json_atomic


class MergeError(ValueError):
    pass


# What decides the numbers: shards that agree on these ran the same software on the same kind of
# machine. The kernel build (`platform`) and Python's patch release may differ between CI runners
# of one job; each shard's own environment is kept under run.shards.
DECIDING = ("packages", "opsets", "machine", "device")
# pytest's exit statuses, most telling first: an internal error, an interruption, failures, then
# "no tests collected", then success.
EXIT_PRIORITY = (3, 4, 2, 1, 5, 0)


def deciding(environment: dict) -> dict:
    python = ".".join(environment["python"].split(".")[:2])
    return {"python": python} | {key: environment.get(key) for key in DECIDING}


def split_of(argv: list[str]) -> tuple[int, int] | None:
    """(N, K) of a shard run with pytest-split's --splits N --group K, else None."""
    values: dict[str, str] = {}
    for i, arg in enumerate(argv):
        for option in ("--splits", "--group"):
            if arg == option and i + 1 < len(argv):
                values[option] = argv[i + 1]
            elif arg.startswith(option + "="):
                values[option] = arg.split("=", 1)[1]
    try:
        return int(values["--splits"]), int(values["--group"])
    except (KeyError, ValueError):
        return None


def missing_groups(runs: list[dict]) -> list[str]:
    """The shards of a pytest-split run that are not among `runs` (lost jobs, failed installs)."""
    splits = [split_of(run["argv"]) for run in runs]
    counts = {s[0] for s in splits if s}
    if not counts:
        return []
    if len(counts) > 1 or None in splits:
        return [f"the shards were split differently ({sorted(counts)} and unsplit runs)"]
    (count,) = counts
    present = {group for _, group in splits}
    return [f"group {k} of {count}" for k in range(1, count + 1) if k not in present]


def merge(documents: list[dict], names: list[str]) -> dict:
    """One results document holding every shard's records, or MergeError naming the conflict.
    A shard group that is missing (pytest-split's --splits N without each --group K) leaves the
    merged run marked incomplete, with `run.missing` naming them."""
    if not documents:
        raise MergeError("no results files to merge")
    first = deciding(documents[0]["environment"])
    for document, name in zip(documents[1:], names[1:]):
        other = deciding(document["environment"])
        if other != first:
            differing = sorted(key for key in first if first[key] != other[key])
            raise MergeError(
                f"{name}: its environment differs from {names[0]}'s in {', '.join(differing)}: "
                "not shards of one run; compare them side by side with python -m reports build"
            )
    seen: dict[str, str] = {}
    records = []
    for document, name in zip(documents, names):
        for record in document["records"]:
            if record["case_id"] in seen:
                raise MergeError(
                    f"case {record['case_id']} is in both {seen[record['case_id']]} and {name}: "
                    "shards must not overlap"
                )
            seen[record["case_id"]] = name
            records.append(record)
    runs = [document["run"] for document in documents]
    missing = missing_groups(runs)
    run = {
        "started": min(r["started"] for r in runs),
        "argv": [arg for r in runs for arg in r["argv"]],
        "complete": all(r["complete"] for r in runs) and not missing,
        "shards": [
            {"file": name, "run": document["run"], "environment": document["environment"]}
            for document, name in zip(documents, names)
        ],
    }
    if missing:
        run["missing"] = missing
    if all("finished" in r for r in runs):
        run["finished"] = max(r["finished"] for r in runs)
        statuses = {r["exitstatus"] for r in runs}
        run["exitstatus"] = next(
            (s for s in EXIT_PRIORITY if s in statuses), max(statuses)
        )  # an unknown status is kept rather than hidden
    return {"schema": SCHEMA, "environment": documents[0]["environment"], "run": run,
            "records": records}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.merge", description=__doc__)
    parser.add_argument("shards", nargs="+", help="results files of the shards")
    parser.add_argument("-o", "--output", required=True, help="the merged results file")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if output.is_dir():
        parser.error(f"-o {args.output} is a directory; name the merged results file")
    if output.resolve() in {Path(s).resolve() for s in args.shards}:
        parser.error(f"-o {args.output} is one of the shards; write the merge elsewhere")
    if problem := given_twice(args.shards):
        parser.error(problem)
    try:
        documents = [load(path) for path in args.shards]
        merged = merge(documents, list(args.shards))
    except (OSError, ValueError) as error:
        print(f"python -m conformance.merge: {error}", file=sys.stderr)
        return 2
    write_json_atomic(output, to_json_safe(merged))
    print(f"{len(merged['records'])} records from {len(documents)} shards written to {output}")
    if missing := merged["run"].get("missing"):
        print(f"incomplete: no results from {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

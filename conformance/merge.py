"""Merge the results files of shards of one run: python -m conformance.merge SHARD... -o FILE

Shards are parts of one selection run separately (pytest-split's `--splits N --group K`, or
`--impl`/`--check` parts on several machines of the same environment). Their records are
concatenated unchanged; each shard's `run` is kept under the merged file's `run.shards`, so
nothing is lost. Refused (exit 2, saying why): shards whose environments differ (compare those
side by side as columns: `python -m reports build A.json B.json`), a case that appears in two
shards, an unreadable or invalid file. Baselines need no command: their arrays are one file per
case, so shard baselines merge by copying the directories together (docs/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .jsonsafe import to_json_safe
from .results import SCHEMA, load, write_json_atomic


class MergeError(ValueError):
    pass


def merge(documents: list[dict], names: list[str]) -> dict:
    """One results document holding every shard's records, or MergeError naming the conflict."""
    if not documents:
        raise MergeError("no results files to merge")
    environment = documents[0]["environment"]
    for document, name in zip(documents[1:], names[1:]):
        if document["environment"] != environment:
            differing = sorted(
                key
                for key in set(environment) | set(document["environment"])
                if environment.get(key) != document["environment"].get(key)
            )
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
    run = {
        "started": min(r["started"] for r in runs),
        "argv": [arg for r in runs for arg in r["argv"]],
        "complete": all(r["complete"] for r in runs),
        "shards": [{"file": name, "run": r} for r, name in zip(runs, names)],
    }
    if all("finished" in r for r in runs):
        run["finished"] = max(r["finished"] for r in runs)
        run["exitstatus"] = max(r["exitstatus"] for r in runs)
    return {"schema": SCHEMA, "environment": environment, "run": run, "records": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.merge", description=__doc__)
    parser.add_argument("shards", nargs="+", help="results files of the shards")
    parser.add_argument("-o", "--output", required=True, help="the merged results file")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if any(output.resolve() == Path(s).resolve() for s in args.shards):
        parser.error(f"-o {args.output} is one of the shards; write the merge elsewhere")
    try:
        documents = [load(path) for path in args.shards]
        merged = merge(documents, list(args.shards))
    except (OSError, ValueError) as error:
        print(f"python -m conformance.merge: {error}", file=sys.stderr)
        return 2
    write_json_atomic(output, to_json_safe(merged))
    print(f"{len(merged['records'])} records from {len(documents)} shards written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CI's check of what the README's conformance command left: every grid point of every check kind
and registered implementation; none failed; none skipped, except those that need a GPU (CI has
none), those their check kind declares not judged (`not_judged`: low_precision's calibration)
and those of a declared adapter gap (`gaps` in adapters/registry.py, listed);
no stale declaration (a limit or known divergence that matches no case). With --quick first:
every case of the --quick selection instead of the whole grid."""

import sys
from pathlib import Path

from adapters import IMPLEMENTATIONS
from conformance.checks import CHECKS
from conformance.declarations import stale_declarations
from conformance.grid import all_cases, case_from_id, quick_selection
from conformance.results import load

ACCEPTED = {"passed", "unsupported", "known-divergence"}
MAY_SKIP = {name for name, impl in IMPLEMENTATIONS.items() if impl.device != "cpu"}

quick = sys.argv[1] == "--quick"
results_path, report_path = sys.argv[1 + quick], sys.argv[2 + quick]
records = load(results_path)["records"]
problems = []
grid = all_cases(list(IMPLEMENTATIONS))
expected = {case.id for case in (quick_selection(grid) if quick else grid)}
present = {r["case_id"] for r in records}
if missing := expected - present:
    problems.append(f"{len(missing)} grid points missing, e.g. {sorted(missing)[:3]}")
if extra := present - expected:
    problems.append(f"{len(extra)} cases outside the selection, e.g. {sorted(extra)[:3]}")
for record in records:
    if record["outcome"] == "skipped" and record["implementation"] in MAY_SKIP:
        continue
    if record["outcome"] == "skipped":
        case = case_from_id(record["case_id"])
        if CHECKS[case.check].not_judged(case):
            continue
        if gap := IMPLEMENTATIONS[case.implementation].gap_reason(case.setting):
            print(f"not run (our adapter's gap): {record['test']}: {gap}", file=sys.stderr)
            continue
    if record["outcome"] not in ACCEPTED:
        problems.append(f"{record['outcome']}: {record['test']}: {record['reason'][:300]}")
    if record["outcome"] != "passed" and not record["reason"]:
        problems.append(f"{record['outcome']} without a reason: {record['test']}")
problems += [f"stale declaration: {message}" for message in stale_declarations()]
if not Path(report_path).is_file() or Path(report_path).stat().st_size == 0:
    problems.append(f"no HTML report at {report_path}")
for problem in problems[:50]:
    print(problem, file=sys.stderr)
print(f"{len(records)} records checked, {len(problems)} problems")
sys.exit(1 if problems else 0)

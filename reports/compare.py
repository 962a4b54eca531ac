"""Compare two baselines (pytest conformance --save-baseline): what moved, and is it a regression.

Same implementation, same machine: a case's tensors are expected to be bit-for-bit the same run
after run (CPU kernels here are deterministic: repeated runs compare with zero difference). The
check allows REGRESSION_ULPS units in the last place of the dtype, |new - old| <= k*eps*(1 + |old|),
so that a multithreaded reduction that reorders a sum cannot raise a false alarm, while any change
of the computation (a kernel, a fused path, a gate mapping) moves values by far more and is caught.
Non-finite values are compared exactly: NaN where there was NaN and the same infinity agree, any
other change of or to a non-finite value is a regression at that element.
Any change of outcome away from `passed` is a regression too; a change to `passed` is reported as an
improvement. A case that cannot be compared (present on one side only, skipped, not a case of this
suite, its arrays missing or unreadable on a side) is listed as not compared, with the reason, and
never counted as compared.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from adapters.dtypes import eps, is_floating
from conformance.baseline import contained_file, read_case_arrays
from conformance.grid import case_from_id
from conformance.jsonsafe import to_json_safe
from conformance.results import load

REGRESSION_ULPS = 4
NOT_COMPARABLE = {"skipped"}
REAL_KINDS = "fiub"  # float, signed and unsigned integer, bool: what a baseline's tensors are
NOT_COMPARED_SHOWN = 20  # in the text; --json and the HTML diff list them all


@dataclass
class Change:
    case_id: str
    implementation: str
    kind: str  # "outcome", "values", "shape", "arrays"
    regression: bool
    before: str = ""
    after: str = ""
    tensor: str = ""
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    where: list[int] | None = None
    old_value: float | None = None
    new_value: float | None = None

    def describe(self) -> str:
        head = f"{'REGRESSION' if self.regression else 'improved'}  {self.case_id}"
        if self.kind == "outcome":
            return f"{head}: outcome {self.before} -> {self.after}"
        if self.kind in ("shape", "arrays"):
            return f"{head}: {self.tensor} {self.before} -> {self.after}"
        return (
            f"{head}: {self.tensor} moved by up to {self.max_abs_diff:.3g} "
            f"(relative {self.max_rel_diff:.3g}) at index {self.where}: "
            f"{self.old_value!r} -> {self.new_value!r}"
        )


@dataclass
class NotCompared:
    case_id: str
    why: str  # the kind of reason, one of WHY
    detail: str = ""  # the file and the error, where there is one

    def describe(self) -> str:
        return f"not compared  {self.case_id}: {self.why}" + (
            f" ({self.detail})" if self.detail else ""
        )


ONLY_OLD, ONLY_NEW = "only in the old baseline", "only in the new baseline"
SKIPPED, NOT_A_CASE = "skipped", "not a case of this suite"
ARRAYS_MISSING, ARRAYS_UNREADABLE = "arrays missing", "arrays unreadable"


@dataclass
class Baseline:
    directory: Path
    records: dict[str, dict]  # case id -> record (the latest run wins)
    environments: list[dict]


@dataclass
class Comparison:
    old: Baseline
    new: Baseline
    changes: list[Change] = field(default_factory=list)
    compared: int = 0
    not_compared: list[NotCompared] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]


def load_baseline(directory: str | Path) -> Baseline:
    """The baseline's records by case id. ValueError when it is no baseline or a run file in it
    is not a valid results file, or not a regular file inside its `runs/`."""
    directory = Path(directory)
    runs = sorted((directory / "runs").glob("*.json")) if directory.is_dir() else []
    if not runs:
        raise ValueError(f"{directory} is not a baseline: no runs/*.json (pytest --save-baseline)")
    records, environments = {}, []
    for path in runs:
        document = load(contained_file(directory / "runs", path))
        environments.append(document["environment"])
        for record in document["records"]:
            records[record["case_id"]] = record
    return Baseline(directory, records, environments)


def tolerance(dtype: np.dtype) -> float:
    return REGRESSION_ULPS * eps(dtype) if is_floating(dtype) else 0.0


def compare_values(case_id: str, impl: str, old: dict, new: dict) -> list[Change]:
    changes = []
    for name in sorted(set(old) | set(new)):
        if (name in old) != (name in new):
            before, after = ("present", "absent") if name in old else ("absent", "present")
            changes.append(Change(case_id, impl, "arrays", True, before, after, name))
            continue
        a, b = old[name], new[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            changes.append(
                Change(
                    case_id, impl, "shape", True, f"{a.dtype}{a.shape}", f"{b.dtype}{b.shape}", name
                )
            )
            continue
        change = compare_tensor(a, b)
        if change is not None:
            changes.append(Change(case_id, impl, "values", True, tensor=name, **change))
    return changes


def compare_tensor(a: np.ndarray, b: np.ndarray) -> dict | None:
    """None when `b` agrees with `a` element by element; else where and by how much it moved most.

    Finite elements agree within the ULP tolerance. A non-finite element agrees only with itself
    (NaN with NaN, an infinity with the same infinity): a tolerance scaled by an infinite old
    value would let anything pass, so any other change there counts as infinitely far.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    finite = np.isfinite(a64) & np.isfinite(b64)
    same_non_finite = ~finite & ((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(b64 - a64), np.inf)  # finite - finite may overflow: inf
        bound = tolerance(a.dtype) * (1 + np.abs(np.where(finite, a64, 0.0)))
    moved = np.where(same_non_finite, False, diff > bound)
    if not moved.any():
        return None
    shown = np.where(moved, diff, -1.0)  # the largest move among those out of tolerance
    worst = np.unravel_index(int(np.argmax(shown)), a.shape)
    finite_old = np.abs(a64[np.isfinite(a64)])
    scale = float(finite_old.max()) if finite_old.size and finite_old.max() > 0 else 1.0
    largest = float(shown.max())
    return {
        "max_abs_diff": largest,
        "max_rel_diff": largest / scale,
        "where": [int(i) for i in worst],
        "old_value": float(a64[worst]),
        "new_value": float(b64[worst]),
    }


def is_case(case_id: str) -> bool:
    """Whether `case_id` names a case of this suite's grid, exactly (not a node id naming one)."""
    try:
        return case_from_id(case_id).id == case_id
    except ValueError:
        return False


def readable(directory: Path, case_id: str) -> dict[str, np.ndarray] | None:
    """The case's arrays (None: no file); ValueError naming the file for what cannot be compared."""
    arrays = read_case_arrays(directory, case_id)
    for name, array in (arrays or {}).items():
        if array.dtype.kind not in REAL_KINDS and not is_floating(array.dtype):
            path = Path(directory) / "arrays" / f"{case_id}.npz"
            raise ValueError(f"{path}: tensor {name!r} has dtype {array.dtype}, not real numbers")
    return arrays


def why_not_comparable(case_id: str, before: dict | None, after: dict | None) -> str:
    """The reason the records alone rule the case out ("" when they do not)."""
    if not is_case(case_id):  # its arrays file would be no file of ours: never opened
        return NOT_A_CASE
    if before is None or after is None:
        return ONLY_NEW if before is None else ONLY_OLD
    if {before["outcome"], after["outcome"]} & NOT_COMPARABLE:
        return SKIPPED
    return ""


def compare(old_directory: str | Path, new_directory: str | Path) -> Comparison:
    old, new = load_baseline(old_directory), load_baseline(new_directory)
    result = Comparison(old, new)
    for case_id in sorted(set(old.records) | set(new.records)):
        before, after = old.records.get(case_id), new.records.get(case_id)
        why = why_not_comparable(case_id, before, after)
        if why:
            result.not_compared.append(NotCompared(case_id, why))
            continue
        try:
            old_arrays, new_arrays = (
                readable(old.directory, case_id),
                readable(new.directory, case_id),
            )
        except ValueError as error:
            result.not_compared.append(NotCompared(case_id, ARRAYS_UNREADABLE, str(error)))
            continue
        outcome_changed = before["outcome"] != after["outcome"]
        missing = missing_arrays(old_arrays, new_arrays, before["outcome"], outcome_changed)
        if missing:
            result.not_compared.append(NotCompared(case_id, ARRAYS_MISSING, missing))
            continue
        result.compared += 1
        impl = after["implementation"]
        if outcome_changed:
            regression = after["outcome"] != "passed"
            result.changes.append(
                Change(case_id, impl, "outcome", regression, before["outcome"], after["outcome"])
            )
        if old_arrays is not None and new_arrays is not None:
            result.changes += compare_values(case_id, impl, old_arrays, new_arrays)
    return result


def missing_arrays(old: dict | None, new: dict | None, outcome: str, outcome_changed: bool) -> str:
    """Why the case's values cannot be compared although its outcomes can ("" when they can).

    A case that ran keeps its tensors on both sides; on one side only, the other side's file is
    gone (a deleted `arrays/`, a partial copy), unless the outcome changed (passed -> error has
    no tensors after). A passed case always has tensors: none on either side is the same loss.
    """
    if (old is None) != (new is None) and not outcome_changed:
        return f"no arrays file in the {'old' if old is None else 'new'} baseline"
    if old is None and new is None and outcome == "passed" and not outcome_changed:
        return "no arrays file in either baseline, though the case passed"
    return ""


def package_changes(comparison: Comparison) -> list[tuple[str, str, str]]:
    before = {
        k: v for env in comparison.old.environments for k, v in env.get("packages", {}).items()
    }
    after = {
        k: v for env in comparison.new.environments for k, v in env.get("packages", {}).items()
    }
    return [
        (name, before.get(name, "-"), after.get(name, "-"))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def not_compared_counts(comparison: Comparison) -> str:
    """e.g. "3 only in the old baseline, 1 arrays missing"."""
    counts = Counter(item.why for item in comparison.not_compared)
    return ", ".join(f"{n} {why}" for why, n in counts.most_common())


def text(comparison: Comparison) -> str:
    regressed = {c.case_id for c in comparison.regressions}
    not_compared = len(comparison.not_compared)
    lines = [
        f"compared {comparison.compared} cases: {len(comparison.regressions)} regressions "
        f"(in {len(regressed)} cases), "
        f"{len(comparison.changes) - len(comparison.regressions)} improvements, "
        f"{not_compared} not compared"
        + (f" ({not_compared_counts(comparison)})" if not_compared else ""),
    ]
    changes = package_changes(comparison)
    for name, before, after in changes:
        if "-" not in (before, after):
            lines.append(f"  {name}: {before} -> {after}")
    for side, index in (("before", 1), ("after", 2)):
        absent = [c[0] for c in changes if c[index] == "-"]
        if absent:
            lines.append(f"  not installed {side}: {', '.join(absent)}")
    lines += [change.describe() for change in comparison.changes]
    # Unreadable and missing arrays first: they are what someone has to look at.
    ordered = sorted(
        comparison.not_compared,
        key=lambda item: item.why not in (ARRAYS_UNREADABLE, ARRAYS_MISSING, NOT_A_CASE),
    )
    lines += [item.describe() for item in ordered[:NOT_COMPARED_SHOWN]]
    if not_compared > NOT_COMPARED_SHOWN:
        lines.append(f"... and {not_compared - NOT_COMPARED_SHOWN} more not compared (--json)")
    return "\n".join(lines)


def nothing_compared(comparison: Comparison) -> str:
    """Why no case was compared, for the error message."""
    if not comparison.not_compared:
        return "nothing compared: neither baseline has any case"
    return (
        f"nothing compared: none of the {len(comparison.not_compared)} cases could be "
        f"({not_compared_counts(comparison)}); are the baselines of the same checks and dtypes?"
    )


def to_json(comparison: Comparison) -> str:
    """The comparison as strict JSON: a NaN or infinite value is written as "NaN", "Infinity" or
    "-Infinity" (conformance/jsonsafe.py), never as a bare literal no JSON parser must accept."""
    document = {
        "compared": comparison.compared,
        "not_compared": [asdict(item) for item in comparison.not_compared],
        "changes": [asdict(c) for c in comparison.changes],
    }
    return json.dumps(to_json_safe(document), indent=1, allow_nan=False)

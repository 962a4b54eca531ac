"""Compare two baselines (pytest conformance --save-baseline): what moved, and is it a regression.

Same implementation, same machine: a case's tensors are expected to be bit-for-bit the same run
after run (CPU kernels here are deterministic: repeated runs compare with zero difference). The
check allows REGRESSION_ULPS units in the last place of the dtype, |new - old| <= k*eps*(1 + |old|),
so that a multithreaded reduction that reorders a sum cannot raise a false alarm, while any change
of the computation (a kernel, a fused path, a gate mapping) moves values by far more and is caught.
Any change of outcome away from `passed` is a regression too; a change to `passed` is reported as an
improvement. Cases present on one side only, or skipped on either, are listed as not compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conformance.baseline import arrays_path, load_arrays
from conformance.results import load

REGRESSION_ULPS = 4
NOT_COMPARABLE = {"skipped"}


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
    not_compared: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]


def load_baseline(directory: str | Path) -> Baseline:
    directory = Path(directory)
    runs = sorted((directory / "runs").glob("*.json"))
    if not runs:
        raise ValueError(f"{directory} is not a baseline: no runs/*.json (pytest --save-baseline)")
    records, environments = {}, []
    for path in runs:
        document = load(path)
        environments.append(document["environment"])
        for record in document["records"]:
            records[record.get("case_id") or record["test"]] = record
    return Baseline(directory, records, environments)


def tolerance(dtype: np.dtype) -> float:
    return REGRESSION_ULPS * float(np.finfo(dtype).eps)


def compare_values(case_id: str, impl: str, old: dict, new: dict) -> list[Change]:
    changes = []
    for name in sorted(set(old) | set(new)):
        if (name in old) != (name in new):
            before, after = ("present", "absent") if name in old else ("absent", "present")
            changes.append(Change(case_id, impl, "arrays", True, before, after, name))
            continue
        if name not in old:
            continue
        a, b = old[name], new[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            changes.append(
                Change(
                    case_id, impl, "shape", True, f"{a.dtype}{a.shape}", f"{b.dtype}{b.shape}", name
                )
            )
            continue
        if np.array_equal(a, b, equal_nan=True):
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        diff = np.abs(b64 - a64)
        diff[np.isnan(diff)] = np.inf
        eps = tolerance(a.dtype)
        if np.all(diff <= eps * (1 + np.abs(a64))):
            continue
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        scale = float(np.max(np.abs(a64))) or 1.0
        changes.append(
            Change(
                case_id, impl, "values", True, tensor=name,
                max_abs_diff=float(diff.max()), max_rel_diff=float(diff.max()) / scale,
                where=[int(i) for i in worst], old_value=float(a64[worst]),
                new_value=float(b64[worst]),
            )
        )  # fmt: skip
    return changes


def compare(old_directory: str | Path, new_directory: str | Path) -> Comparison:
    old, new = load_baseline(old_directory), load_baseline(new_directory)
    result = Comparison(old, new)
    for case_id in sorted(set(old.records) | set(new.records)):
        before, after = old.records.get(case_id), new.records.get(case_id)
        if (
            before is None
            or after is None
            or {before["outcome"], after["outcome"]} & NOT_COMPARABLE
        ):
            result.not_compared.append(case_id)
            continue
        result.compared += 1
        impl = after["implementation"]
        if before["outcome"] != after["outcome"]:
            regression = after["outcome"] != "passed"
            result.changes.append(
                Change(case_id, impl, "outcome", regression, before["outcome"], after["outcome"])
            )
        old_path, new_path = (
            arrays_path(old.directory, case_id),
            arrays_path(new.directory, case_id),
        )
        if old_path.exists() and new_path.exists():
            result.changes += compare_values(
                case_id, impl, load_arrays(old_path), load_arrays(new_path)
            )
    return result


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


def text(comparison: Comparison) -> str:
    regressed = {c.case_id for c in comparison.regressions}
    lines = [
        f"compared {comparison.compared} cases: {len(comparison.regressions)} regressions "
        f"(in {len(regressed)} cases), "
        f"{len(comparison.changes) - len(comparison.regressions)} improvements, "
        f"{len(comparison.not_compared)} not compared (on one side only, or skipped)",
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
    return "\n".join(lines)


def to_json(comparison: Comparison) -> str:
    return json.dumps(
        {
            "compared": comparison.compared,
            "not_compared": comparison.not_compared,
            "changes": [vars(c) for c in comparison.changes],
        },
        indent=1,
    )

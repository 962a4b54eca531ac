"""CI sharding (pytest-split's --splits N --group K) and merging the shards' results and baselines.

The shards of one selection must be a partition of it (each case in exactly one shard), and the
documented merge (python -m conformance.merge for results files; copying directories together
for baselines) must keep every record and array.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.merge import MergeError, merge
from conformance.results import load

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ["--impl", "numpy,torch", "--check", "forward,lengths", "--mode", "GRU"]

pytestmark = pytest.mark.slow


def pytest_conformance(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def collected(*args: str) -> list[str]:
    completed = pytest_conformance("--collect-only", "-q", *SELECTION, *args)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return [line for line in completed.stdout.splitlines() if "::test_check[" in line]


def test_the_shards_partition_the_selection():
    whole = collected()
    shards = [collected("--splits", "3", "--group", str(k)) for k in (1, 2, 3)]
    assert all(shards), "a shard is empty"
    assert sorted(sum(shards, [])) == sorted(whole)  # each case in exactly one shard
    assert len(whole) > 100


def test_merged_shards_keep_every_record_and_array(tmp_path):
    documents, names = [], []
    for k in (1, 2):
        results = tmp_path / f"results-{k}.json"
        completed = pytest_conformance(
            "-q", *SELECTION, "--splits", "2", "--group", str(k),
            "--results-json", str(results), "--save-baseline", str(tmp_path / f"baseline-{k}"),
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-3000:]
        documents.append(load(results))
        names.append(str(results))
    merged_path = tmp_path / "merged.json"
    command = [sys.executable, "-m", "conformance.merge", *names, "-o", str(merged_path)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    merged = load(merged_path)  # valid against the schema

    assert merged["records"] == documents[0]["records"] + documents[1]["records"]
    assert {r["test"] for r in merged["records"]} == set(collected())
    assert merged["environment"] == documents[0]["environment"]
    assert [s["run"] for s in merged["run"]["shards"]] == [d["run"] for d in documents]
    assert merged["run"]["complete"] is True and "missing" not in merged["run"]

    command = [sys.executable, "-m", "conformance.merge", names[1], "-o", str(tmp_path / "m.json")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 1 and "group 1 of 2" in completed.stderr  # a lost shard
    partial = load(tmp_path / "m.json")
    assert partial["run"]["complete"] is False and partial["run"]["missing"] == ["group 1 of 2"]

    baseline = tmp_path / "baseline"  # the documented merge: copy the directories together
    for k in (1, 2):
        shutil.copytree(tmp_path / f"baseline-{k}", baseline, dirs_exist_ok=True)
    arrays = {p.stem for p in (baseline / "arrays").glob("*.npz")}
    ran = {r["case_id"] for r in merged["records"] if r["outcome"] in ("passed", "failed")}
    assert ran and ran <= arrays
    assert len(list((baseline / "runs").glob("*.json"))) == 2


def document(case_ids: list[str], packages: dict | None = None) -> dict:
    run = {"started": "2026-11-23T10:00:00+00:00", "argv": [], "complete": True,
           "finished": "2026-11-23T10:01:00+00:00", "exitstatus": 0}  # fmt: skip
    environment = {"python": "3.11.7", "platform": "x", "machine": "x86_64", "device": "cpu",
                   "packages": packages or {"numpy": "2.4.6"}}  # fmt: skip
    records = [{"case_id": case_id} for case_id in case_ids]
    return {"schema": "rnn-conformance/1", "environment": environment, "run": run,
            "records": records}  # fmt: skip


def test_overlapping_shards_are_refused():
    with pytest.raises(MergeError, match="in both a.json and b.json"):
        merge([document(["x", "y"]), document(["y"])], ["a.json", "b.json"])


def test_shards_of_different_software_are_refused_but_not_of_another_kernel_build():
    other = document(["y"], packages={"numpy": "2.4.7"})
    with pytest.raises(MergeError, match="differs .* in packages"):
        merge([document(["x"]), other], ["a.json", "b.json"])
    runner = document(["y"])
    runner["environment"] |= {"platform": "Linux-6.8-azure", "python": "3.11.9"}
    merged = merge([document(["x"]), runner], ["a.json", "b.json"])
    assert [s["environment"] for s in merged["run"]["shards"]][1]["python"] == "3.11.9"


def test_the_merged_exit_status_keeps_failures_visible():
    failed, empty = document(["x"]), document(["y"])
    failed["run"]["exitstatus"], empty["run"]["exitstatus"] = 1, 5
    assert merge([empty, failed], ["a.json", "b.json"])["run"]["exitstatus"] == 1


def test_merge_refuses_to_overwrite_a_shard_and_bad_files(tmp_path):
    shard = tmp_path / "a.json"
    shard.write_text(json.dumps(document([])))
    command = [sys.executable, "-m", "conformance.merge", str(shard), "-o", str(shard)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 2 and "is one of the shards" in completed.stderr
    for args in ([str(shard), str(shard)], [str(shard), "-o", str(tmp_path)]):
        command = [sys.executable, "-m", "conformance.merge", *args]
        command += ["-o", str(tmp_path / "m.json")] if "-o" not in args else []
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert completed.returncode == 2 and "Traceback" not in completed.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    command = [sys.executable, "-m", "conformance.merge", str(bad), "-o", str(tmp_path / "m")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 2 and "bad.json" in completed.stderr

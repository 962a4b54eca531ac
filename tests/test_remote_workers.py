"""Workers elsewhere (pytest-xdist's --tx): the controller alone writes the results and baseline.

A popen gateway with chdir= starts each worker in a directory of its own and, as for a worker on
another machine (ssh=, socket=), pytest-xdist copies the code there (--rsyncdir): whatever a
worker wrote to its working directory would land there instead of in the controller's results
file and baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.baseline import load_arrays
from conformance.grid import all_cases

ROOT = Path(__file__).resolve().parents[1]
SELECTION = (
    "--impl",
    "numpy,torch",
    "--mode",
    "LSTM",
    "--check",
    "forward,gradients",
    "--dtype",
    "float32",
)

pytestmark = pytest.mark.slow


def run_with_workers_elsewhere(tmp_path, *options: str) -> tuple[Path, Path]:
    """The suite run from tmp_path/controller by two workers in tmp_path/worker, on the code
    copied there; returns (workers' directory, controller's directory) after it passed."""
    workers = tmp_path / "worker"
    workers.mkdir()
    controller = tmp_path / "controller"  # the controller's working directory
    controller.mkdir()
    command = [
        sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-q", "-p", "no:cacheprovider",
        "--dist", "load", "--tx", f"2*popen//chdir={workers}",
        f"--rsyncdir={ROOT / 'conformance'}", f"--rsyncdir={ROOT / 'adapters'}", *options,
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=controller, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    return workers, controller


def test_workers_in_other_directories_send_everything_to_the_controller(tmp_path):
    workers, controller = run_with_workers_elsewhere(
        tmp_path, *SELECTION, "--results-json=results.json",
        "--save-baseline=baseline",  # relative: each process would resolve it in its own cwd
    )  # fmt: skip

    assert (workers / "conformance").is_dir()  # the workers ran on the copy, over there
    synced = {"conformance", "adapters", "pytest", "_pytest"}  # the code xdist copied there
    written = [p for p in workers.iterdir() if p.name not in synced]
    assert written == []  # nothing written where the workers ran
    assert not [
        p for p in workers.rglob("*") if p.suffix in (".npz", ".json") and "schema" not in p.name
    ]
    document = json.loads((controller / "results.json").read_text())
    expected = {c.id for c in all_cases(["numpy", "torch"], ("float32",), ("LSTM",),
                                        checks=("forward", "gradients"))}  # fmt: skip
    assert {r["case_id"] for r in document["records"]} == expected
    ran = [r for r in document["records"] if r["outcome"] == "passed"]
    assert len(ran) > 100
    for record in ran:  # each case's arrays came back with its report, intact
        stored = load_arrays(controller / "baseline" / "arrays" / f"{record['case_id']}.npz")
        assert {"output", "h_n", "c_n"} <= set(stored)
        if record["check"] == "gradients":
            assert "grad_x" in stored and "grad_weight_ih_l0" in stored


def test_an_array_file_that_cannot_be_written_fails_the_run_and_loses_nothing(tmp_path):
    blocked = "forward-GRU-L1-uni-seq_first-bias-h0-numpy-float32"
    (tmp_path / "baseline" / "arrays" / f"{blocked}.npz").mkdir(parents=True)  # not a file
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", "-n", "2",
        "--impl", "numpy", "--mode", "GRU", "--check", "forward", "--dtype", "float32",
        "--results-json", str(tmp_path / "results.json"),
        "--save-baseline", str(tmp_path / "baseline"), "--junitxml", str(junit),
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "lacks the arrays of 1 cases" in completed.stdout and blocked in completed.stdout
    document = json.loads((tmp_path / "results.json").read_text())
    expected = all_cases(["numpy"], ("float32",), ("GRU",), ("forward",))
    assert len(document["records"]) == len(expected)
    assert all(r["outcome"] == "passed" for r in document["records"])
    arrays = {p.stem for p in (tmp_path / "baseline" / "arrays").glob("*.npz") if p.is_file()}
    assert arrays == {c.id for c in expected} - {blocked}
    assert "conformance_arrays" not in junit.read_text()  # the bytes went no further


def test_workers_in_other_directories_compile_into_the_controller_s_cache(tmp_path):
    """A relative --compile-cache is the controller's directory: each worker parses the command
    line again in its own directory, and must not put the cache there."""
    pytest.importorskip("flax")
    workers, controller = run_with_workers_elsewhere(
        tmp_path, "--impl", "flax", "--check", "forward", "--quick", "--compile-cache=cache"
    )
    assert list((controller / "cache").rglob("jit_apply-*"))  # flax's programs, compiled there
    assert not (workers / "cache").exists()

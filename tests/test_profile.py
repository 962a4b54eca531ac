"""python -m conformance.profile: the phases it times and the table it sums from a results file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters import IMPLEMENTATIONS
from conformance.compile_cache import programs_in
from conformance.grid import all_cases
from conformance.profile import profile_one, profile_table

ROOT = Path(__file__).resolve().parents[1]


def profile(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "conformance.profile", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_each_phase_is_timed_with_its_cpu_time():
    row = profile_one("numpy", "forward", cases=3)
    for phase in ("import", "first", "again", "new_weights", "per_case"):
        wall, cpu = row[phase]
        assert wall >= 0 and cpu >= 0
    assert row["sampled"] == 3 and row["supported"] == row["grid"] == 480
    table = profile_table([row, {"implementation": "x", "check": "forward", "skipped": "why"}])
    assert "| numpy | forward |" in table and "| x | forward | why |" in table


def test_the_table_from_a_results_file_counts_the_cases_that_ran(tmp_path):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider",
               "--impl", "numpy,jax", "--mode", "GRU", "--check", "forward", "--dtype", "float32",
               "--results-json", str(results)]  # fmt: skip
    assert subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600).returncode == 0
    completed = profile("--from", str(results))
    assert completed.returncode == 0, completed.stderr
    ran = len(all_cases(["numpy"], ("float32",), ("GRU",), ("forward",)))
    assert f"| numpy | forward | {ran} |" in completed.stdout
    assert "| jax |" not in completed.stdout  # jax has no GRU: nothing of it ran


def test_bad_arguments_are_usage_errors():
    assert profile("--cases", "0").returncode == 2
    assert profile("--impl", "nope").returncode == 2
    missing = profile("--from", "/nonexistent/results.json")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.parametrize("auto_workers", [None, "1"])
def test_the_compile_cache_is_the_one_its_processes_compile_into(
    tmp_path, monkeypatch, auto_workers
):
    """Each implementation is profiled in a child process: the cache must reach it, with the keys
    of a `pytest -n auto` worker's programs, and the output says what DIR held, so a profile
    says whether its JAX figures include compiling. `-n auto` starts as many workers as
    pytest-xdist counts (physical cores, or its PYTEST_XDIST_AUTO_NUM_WORKERS): with fewer
    workers than CPUs, as on a machine with SMT, each gets several threads and XLA's defaults."""
    if auto_workers:
        monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", auto_workers)
    cache = tmp_path / "cache"
    selection = ("--impl", "jax", "--check", "forward", "--cases", "1")
    first = profile(*selection, "--compile-cache", str(cache))
    assert first.returncode == 0, first.stderr
    compiled = programs_in(cache)
    assert compiled > 0  # written by the child, which compiled jax's first case
    assert f"{cache}: 0 programs before the profile and {compiled} after" in first.stdout
    written = {p: p.stat().st_mtime_ns for p in cache.rglob("*-cache")}
    again = profile(*selection, "--compile-cache", str(cache))
    assert f"{compiled} programs before the profile and {compiled} after" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*-cache")} == written  # loaded, not
    # compiled and written again
    jax = IMPLEMENTATIONS["jax"]  # the profile's first case: the first float32 one jax runs
    cases = all_cases(["jax"], ("float32",), checks=("forward",))
    case = next(c for c in cases if not jax.unsupported_reason(c.setting))
    command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider",
               "-n", "auto", "--impl", "jax", "--check", "forward", "--dtype", "float32",
               "--compile-cache", str(cache), "-k", case.id]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:]
    assert programs_in(cache) == compiled  # the workers found the profile's programs


def test_bad_compile_cache_directories_are_usage_errors(tmp_path):
    selection = ("--impl", "numpy", "--check", "forward", "--cases", "1")
    unwritable = tmp_path / "file"
    unwritable.write_text("")
    for directory in (str(unwritable / "cache"), "~nosuchuser-of-this-machine/cache"):
        refused = profile(*selection, "--compile-cache", directory)
        assert refused.returncode == 2, refused.stderr
        assert "--compile-cache" in refused.stderr and "Traceback" not in refused.stderr
    results = tmp_path / "results.json"
    results.write_text('{"records": []}')
    mixed = profile("--from", str(results), "--compile-cache", str(tmp_path / "cache"))
    assert mixed.returncode == 2 and "--compile-cache" in mixed.stderr
    for option in (("--impl", "jax"), ("--check", "lengths"), ("--cases", "3"), ("--workers", "1")):
        ignored = profile("--from", str(results), *option)
        assert ignored.returncode == 2 and "not with --from" in ignored.stderr, option

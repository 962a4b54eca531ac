"""The suite's options: every mistake is a usage error (exit 4) before the first case runs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.grid import all_cases
from conformance.options import CASE_TIMEOUT_S, ResultsClaim, default_timeout

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("--impl", "numpy", "--mode", "GRU", "--check", "forward", "--dtype", "float64")


def pytest_conformance(*args: str, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-q"]
    return subprocess.run(
        [*command, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


@pytest.mark.parametrize("value", [",", " , ", ""])
def test_a_selection_that_names_nothing_is_a_usage_error(value):
    completed = pytest_conformance("--impl", value, "--collect-only")
    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert "--impl" in completed.stderr and "names nothing" in completed.stderr


def test_a_name_given_twice_runs_each_case_once():
    completed = pytest_conformance(
        "--impl", "numpy,numpy", "--mode", "GRU,GRU", "--check", "forward", "--collect-only"
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
    collected = [line for line in completed.stdout.splitlines() if "::test_check[" in line]
    expected = all_cases(["numpy"], mode_labels=("GRU",), checks=("forward",))
    assert len(collected) == len(set(collected)) == len(expected)


@pytest.mark.parametrize("option", ["--results-json", "--report-html", "--save-baseline"])
def test_an_unwritable_output_path_is_a_usage_error_before_any_case_runs(tmp_path, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = ["--results-json", str(tmp_path / "ok.json")] if option == "--report-html" else []
    completed = pytest_conformance(*SMALL, *args, option, str(blocker / "out"))
    assert completed.returncode == 4, completed.stdout[-2000:] + completed.stderr
    assert option in completed.stderr and "INTERNALERROR" not in completed.stdout
    assert "passed" not in completed.stdout  # nothing ran


def test_a_directory_given_as_the_results_file_is_a_usage_error(tmp_path):
    completed = pytest_conformance(*SMALL, "--results-json", str(tmp_path))
    assert completed.returncode == 4
    assert "is a directory" in completed.stderr


def test_a_second_run_on_the_same_results_file_is_refused(tmp_path):
    path = tmp_path / "results.json"
    claim = ResultsClaim(path)  # the first run, still going
    try:
        completed = pytest_conformance(*SMALL, "--results-json", str(path))
    finally:
        claim.release()
    assert completed.returncode == 4, completed.stdout[-2000:]
    assert "another run" in completed.stderr and f"pid {os.getpid()}" in completed.stderr
    assert not path.exists()  # the first run's file is untouched (here: not yet written)


def test_a_finished_run_releases_its_results_file(tmp_path):
    path = tmp_path / "results.json"
    for _ in range(2):  # the second run is not refused
        completed = pytest_conformance(
            *SMALL, "-k", "L1-uni-seq_first", "--results-json", str(path)
        )
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no lock file left


def fake_config(timeout=None, ini=""):
    return SimpleNamespace(
        pluginmanager=SimpleNamespace(hasplugin=lambda name: True),
        getoption=lambda name: timeout,
        getini=lambda name: ini,
        option=SimpleNamespace(timeout=timeout),
    )


@pytest.mark.parametrize(
    "timeout, ini, env, expected",
    [
        (None, "", None, CASE_TIMEOUT_S),
        (0.0, "", None, 0.0),  # the user's "no limit"
        (5.0, "", None, 5.0),
        (None, "7", None, None),  # pytest-timeout reads the ini itself
        (None, "", "0", None),  # ... and PYTEST_TIMEOUT
    ],
)
def test_the_default_case_timeout_applies_only_where_the_user_set_none(
    monkeypatch, timeout, ini, env, expected
):
    if env is None:
        monkeypatch.delenv("PYTEST_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_TIMEOUT", env)
    config = fake_config(timeout, ini)
    default_timeout(config)
    assert config.option.timeout == expected


def test_the_results_file_and_the_report_cannot_be_the_same_file(tmp_path):
    same = str(tmp_path / "out")
    completed = pytest_conformance(*SMALL, "--results-json", same, "--report-html", same)
    assert completed.returncode == 4 and "the same file" in completed.stderr


def test_every_configuration_lifts_the_pairwise_sample(tmp_path):
    def collected(*args: str) -> int:
        command = [sys.executable, "-m", "pytest", "conformance", "--collect-only", "-q"]
        command += ["-p", "no:cacheprovider", "--impl", "torch-onnx", "--check", "forward", *args]
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stdout[-2000:]
        return sum("::test_check[" in line for line in completed.stdout.splitlines())

    assert collected() < collected("--every-configuration") == 480


def test_the_rerun_command_of_a_case_outside_the_sample_collects_it():
    from conformance.check import rerun_command
    from conformance.grid import all_cases as grid

    sample = set(grid(["torch-onnx"], ("float32",), ("GRU",), ("forward",)))
    every = grid(["torch-onnx"], ("float32",), ("GRU",), ("forward",), sampled=False)
    outside, inside = next(c for c in every if c not in sample), next(iter(sample))
    assert "--every-configuration" not in rerun_command(inside)
    for case in (outside, inside):
        command = shlex.split(rerun_command(case))
        assert command[0] == "pytest"
        completed = subprocess.run(
            [sys.executable, "-m", *command, "--collect-only", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-2000:]
        assert [line for line in completed.stdout.splitlines() if "::test_check[" in line] == [
            f"conformance/test_checks.py::test_check[{case.id}]"
        ]


def test_quick_collects_its_selection_and_nothing_else():
    from conformance.grid import quick_selection

    command = [sys.executable, "-m", "pytest", "conformance", "--collect-only", "-q", "--quick"]
    command += ["-p", "no:cacheprovider", "--impl", "numpy,torch,keras"]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:]
    collected = [line for line in completed.stdout.splitlines() if "::test_check[" in line]
    expected = quick_selection(all_cases(["numpy", "torch", "keras"]))
    assert sorted(collected) == sorted(
        f"conformance/test_checks.py::test_check[{c.id}]" for c in expected
    )
    # every check kind and every mode of each implementation, the fewest: one per check kind
    assert len(expected) == 3 * max(len({c.check for c in expected}), 4)

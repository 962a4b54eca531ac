"""Save a baseline, change something, compare: the regression workflow end to end."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters import IMPLEMENTATIONS
from conformance.baseline import load_arrays, save_arrays
from conformance.grid import all_cases

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def save_baseline(directory: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider",
               "--save-baseline", str(directory), *args]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def compare(old: Path, new: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "reports", "compare", str(old), str(new), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


SUBSET = ("--impl", "numpy,torch", "--mode", "GRU,LSTM", "--dtype", "float32")


def count(implementations, modes) -> int:
    return len(all_cases(implementations, dtypes=("float32",), mode_labels=modes))


ALL = count(["numpy", "torch"], ("GRU", "LSTM"))


@pytest.fixture(scope="module")
def reference_baseline(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("baseline") / "before"
    completed = save_baseline(directory, "-n", "2", *SUBSET)
    assert completed.returncode == 0, completed.stdout[-2000:]
    return directory


def test_a_baseline_holds_every_case_s_tensors_and_the_run(reference_baseline):
    cases = all_cases(["numpy", "torch"], dtypes=("float32",), mode_labels=("GRU", "LSTM"))
    arrays = sorted(p.stem for p in (reference_baseline / "arrays").glob("*.npz"))
    # every case that ran: not torch's rows of length 0, nor the NumPy reference in training
    ran = [c for c in cases if not IMPLEMENTATIONS[c.implementation].unsupported_reason(c.setting)]
    assert arrays == sorted(c.id for c in ran)
    gru = next(c for c in cases if c.mode == "GRU")
    stored = load_arrays(reference_baseline / "arrays" / f"{gru.id}.npz")
    assert set(stored) == {"output", "h_n"} and stored["output"].dtype == np.float32
    (run,) = (reference_baseline / "runs").glob("*.json")
    assert len(json.loads(run.read_text())["records"]) == len(cases)


def test_unchanged_reruns_compare_clean(reference_baseline, tmp_path):
    for attempt in range(2):  # no false alarms, run after run
        again = tmp_path / f"again{attempt}"
        assert save_baseline(again, *SUBSET).returncode == 0
        completed = compare(reference_baseline, again)
        assert completed.returncode == 0, completed.stdout
        assert completed.stdout.startswith(
            f"compared {ALL} cases: 0 regressions (in 0 cases), 0 improvements, 0 not compared"
        )


def test_a_planted_change_inside_the_conformance_tolerance_is_caught(reference_baseline, tmp_path):
    after = tmp_path / "after"
    run = save_baseline(after, *SUBSET, "-p", "tests.meta_plugins.nudge_torch_weight")
    assert run.returncode == 0, "the nudge stays within float32 conformance: every case passes"
    completed = compare(reference_baseline, after, "-o", str(tmp_path / "diff.html"),
                        "--json", str(tmp_path / "diff.json"))  # fmt: skip
    assert completed.returncode == 1
    changes = json.loads((tmp_path / "diff.json").read_text())["changes"]
    assert changes and all(
        c["implementation"] == "torch" and c["kind"] == "values" for c in changes
    )
    assert all(c["regression"] for c in changes)
    assert (
        "REGRESSION  forward-GRU-L1-uni-seq_first-bias-h0-torch-float32: output moved by up to"
        in (completed.stdout)
    )
    page = (tmp_path / "diff.html").read_text()
    assert (
        "forward-GRU-L1-uni-seq_first-bias-h0-torch-float32" in page
        and "regression: values" in page
    )


def test_a_planted_failure_is_an_outcome_regression(reference_baseline, tmp_path):
    after = tmp_path / "after"
    save_baseline(after, *SUBSET, "-p", "tests.meta_plugins.plant_gru_bug")
    completed = compare(reference_baseline, after)
    assert completed.returncode == 1
    assert (
        "REGRESSION  forward-GRU-L1-bi-batch_first-bias-h0-numpy-float32: outcome passed -> failed"
        in (completed.stdout)
    )


def test_partial_and_merged_baselines_compare_case_by_case(reference_baseline, tmp_path):
    gru_only = tmp_path / "gru"
    assert (
        save_baseline(gru_only, "--impl", "numpy", "--mode", "GRU", "--dtype", "float32").returncode
        == 0
    )
    completed = compare(reference_baseline, gru_only)
    assert completed.returncode == 0
    gru = count(["numpy"], ("GRU",))
    expected = f"compared {gru} cases: 0 regressions (in 0 cases), 0 improvements, {ALL - gru}"
    assert expected in completed.stdout
    merged = tmp_path / "merged"  # a baseline from two runs, merged by copying
    shutil.copytree(gru_only, merged)
    lstm = tmp_path / "lstm"
    save_baseline(lstm, "--impl", "numpy,torch", "--mode", "LSTM", "--dtype", "float32")
    shutil.copytree(lstm, merged, dirs_exist_ok=True)
    completed = compare(reference_baseline, merged)
    assert completed.returncode == 0
    both = gru + count(["numpy", "torch"], ("LSTM",))
    assert f"compared {both} cases: 0 regressions (in 0 cases)" in completed.stdout


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp") / f"rnn-conformance-pickle-ran-{os.getpid()}"


def test_a_baseline_never_unpickles(reference_baseline, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(reference_baseline, hostile)
    case = sorted((hostile / "arrays").glob("*.npz"))[0]
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit()
    np.savez(case, output=payload, h_n=np.zeros(2))
    assert pickle.dumps(Exploit())  # the payload would run if unpickled
    completed = compare(reference_baseline, hostile)
    # That case is not compared, with the file named; the others still are.
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{case.stem}: arrays unreadable ({case}: ValueError: " in completed.stdout
    assert "allow_pickle" in completed.stdout and "1 arrays unreadable" in completed.stdout
    assert not MARKER.exists()


def test_saved_arrays_round_trip_without_pickle(tmp_path):
    outputs = {"output": np.arange(6.0).reshape(1, 2, 3), "h_n": np.ones((1, 2, 3), np.float32)}
    save_arrays(tmp_path, "X", outputs)
    loaded = load_arrays(tmp_path / "arrays" / "X.npz")
    assert set(loaded) == {"output", "h_n"}
    np.testing.assert_array_equal(loaded["output"], outputs["output"])

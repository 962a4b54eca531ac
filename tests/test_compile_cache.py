"""`--compile-cache DIR`: JAX's compiled programs kept on disk and reused by a later run, in the
xdist workers and in the Keras children alike, with the same records."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conformance.compile_cache import THRESHOLDS, use_compile_cache
from tests.test_results_file import run_suite

SETTINGS = ["jax_compilation_cache_dir", *THRESHOLDS]


@pytest.fixture
def restored_settings(monkeypatch):
    """The environment and, where jax is imported, its config as they were before the test."""
    for name in SETTINGS:
        monkeypatch.delenv(name.upper(), raising=False)
    jax = sys.modules.get("jax")
    before = {name: getattr(jax.config, name) for name in SETTINGS} if jax else {}
    yield
    for name, value in before.items():
        jax.config.update(name, value)


def test_a_relative_directory_is_made_absolute(tmp_path, monkeypatch, restored_settings):
    monkeypatch.chdir(tmp_path)
    directory = use_compile_cache("cache/jax")
    assert directory == tmp_path / "cache" / "jax" and directory.is_dir()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(directory)
    assert float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) == 0


def test_an_imported_jax_is_configured_too(tmp_path, restored_settings):
    jax = pytest.importorskip("jax")
    use_compile_cache(tmp_path)
    assert jax.config.jax_compilation_cache_dir == str(tmp_path)
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0


def test_a_directory_that_cannot_be_made_is_a_usage_error(tmp_path, restored_settings):
    (tmp_path / "file").write_text("")
    with pytest.raises(pytest.UsageError, match="--compile-cache"):
        use_compile_cache(tmp_path / "file")
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ


def entries(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


@pytest.mark.slow
def test_a_second_run_compiles_nothing_and_records_the_same(tmp_path):
    pytest.importorskip("flax")
    pytest.importorskip("keras")
    cache = tmp_path / "cache"
    selection = ["-n", "2", "--quick", "--impl", "flax,keras-jax", "--check", "forward"]
    selection += ["--mode", "LSTM", "--compile-cache", str(cache)]

    first, before = run_suite(tmp_path / "first", *selection)
    assert first.returncode == 0, first.stdout[-3000:]
    written = entries(cache)
    # flax compiles in the worker (jit_apply), keras-jax in the worker's Keras child
    # (jit_stateless, adapters/keras_adapter.py): both processes were pointed at the cache.
    assert any(name.startswith("jit_apply-") for name in written), sorted(written)
    assert any(name.startswith("jit_stateless-") for name in written), sorted(written)

    second, after = run_suite(tmp_path / "second", *selection)
    assert second.returncode == 0, second.stdout[-3000:]
    assert entries(cache) == written  # every program came from the cache

    def judged(document):
        return {r["case_id"]: (r["outcome"], r["metrics"]) for r in document["records"]}

    assert judged(after) == judged(before)
    assert {r["outcome"] for r in after["records"]} == {"passed"}
    assert any("--compile-cache" in arg for arg in after["run"]["argv"])

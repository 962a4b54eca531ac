"""`--compile-cache DIR`: JAX's compiled programs kept on disk and loaded by a later run, in the
xdist workers and in the Keras children alike, with the same records."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance import compile_cache
from conformance.compile_cache import host_key, use_compile_cache
from tests.test_results_file import run_suite

SETTINGS = ["jax_compilation_cache_dir", *compile_cache.THRESHOLDS]


@pytest.fixture
def restored_settings():
    """The environment and jax's config as they were before the test: use_compile_cache sets
    both for the rest of the process, which must not leak into later tests."""
    environment = dict(os.environ)
    try:
        import jax
    except ImportError:
        jax = None
    before = {name: getattr(jax.config, name) for name in SETTINGS} if jax else {}
    yield
    os.environ.clear()
    os.environ.update(environment)
    for name, value in before.items():
        jax.config.update(name, value)


def test_a_relative_directory_is_made_absolute(tmp_path, monkeypatch, restored_settings):
    monkeypatch.chdir(tmp_path)
    directory = use_compile_cache("cache/jax")
    assert directory == tmp_path / "cache" / "jax"
    programs = directory / host_key()
    assert programs.is_dir()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(programs)  # inherited by children
    assert float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) == 0


def test_an_imported_jax_is_configured_too(tmp_path, restored_settings):
    jax = pytest.importorskip("jax")
    use_compile_cache(tmp_path)
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / host_key())
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0


def test_a_directory_that_cannot_be_made_is_a_usage_error(tmp_path, restored_settings):
    (tmp_path / "file").write_text("")
    with pytest.raises(pytest.UsageError, match="--compile-cache"):
        use_compile_cache(tmp_path / "file")
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ


def test_programs_are_kept_per_machine_and_cpu_features():
    key = host_key()
    assert key == host_key() and re.fullmatch(r"[\w.-]+-[0-9a-f]{12}", key)


def test_a_worker_uses_the_controller_s_absolute_path(tmp_path, monkeypatch, restored_settings):
    def config(option, **attributes):
        return SimpleNamespace(
            option=SimpleNamespace(compile_cache=option), getoption=lambda name: option,
            **attributes,
        )  # fmt: skip

    controller = config(str(tmp_path / "cache"))
    worker_input = {}
    compile_cache.send_to_worker(controller, worker_input)

    monkeypatch.chdir(tmp_path.parent)  # the worker's own directory: "cache" means another one
    worker = config("cache", workerinput=worker_input)
    compile_cache.configure(worker)
    assert worker.option.compile_cache == str(tmp_path / "cache")
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "cache" / host_key())


def programs(directory: Path) -> set[str]:
    return {path.name for path in directory.rglob("*-cache")}


def compiled_and_loaded(stderr: str) -> tuple[list[str], list[str]]:
    """The modules the run's processes compiled and those they loaded from the cache, as JAX
    logs them (warnings under `jax_explain_cache_misses` and `jax_log_compiles`; on stderr
    with pytest's log and output capture off, the Keras children's too)."""
    compiled = re.findall(r"PERSISTENT COMPILATION CACHE MISS for '(\w+)'", stderr)
    loaded = re.findall(r"Persistent compilation cache hit for '(\w+)'", stderr)
    return compiled, loaded


@pytest.mark.slow
def test_a_second_run_loads_every_program_and_records_the_same(tmp_path):
    pytest.importorskip("flax")
    pytest.importorskip("keras")
    cache = tmp_path / "cache"
    selection = ["-n", "2", "--quick", "--impl", "flax,keras-jax", "--check", "forward"]
    selection += ["--mode", "LSTM", "--compile-cache", str(cache), "-p", "no:logging", "-s"]
    log = {"JAX_EXPLAIN_CACHE_MISSES": "1", "JAX_LOG_COMPILES": "1"}  # every process inherits

    first, before = run_suite(tmp_path / "first", *selection, **log)
    assert first.returncode == 0, first.stdout[-3000:]
    assert compiled_and_loaded(first.stderr)[0]  # the log is there to read
    written = programs(cache)
    # flax compiles in the worker (jit_apply), keras-jax in the worker's Keras child
    # (jit_stateless, adapters/keras_adapter.py): both processes were pointed at the cache.
    assert any(name.startswith("jit_apply-") for name in written), sorted(written)
    assert any(name.startswith("jit_stateless-") for name in written), sorted(written)

    second, after = run_suite(tmp_path / "second", *selection, **log)
    assert second.returncode == 0, second.stdout[-3000:]
    compiled, loaded = compiled_and_loaded(second.stderr)
    assert compiled == [], compiled
    assert {"jit_apply", "jit_stateless"} <= set(loaded), loaded
    assert programs(cache) == written

    def judged(document):
        return {r["case_id"]: (r["outcome"], r["metrics"]) for r in document["records"]}

    assert judged(after) == judged(before)
    assert {r["outcome"] for r in after["records"]} == {"passed"}
    assert any("--compile-cache" in arg for arg in after["run"]["argv"])


def test_the_programs_counted_are_this_machine_s(tmp_path):
    assert compile_cache.programs_in(tmp_path / "none yet") == 0
    mine, other = tmp_path / host_key(), tmp_path / "aarch64-000000000000"
    for directory, names in ((mine, ["a-cache", "b-cache", "c-atime"]), (other, ["d-cache"])):
        directory.mkdir()
        for name in names:
            (directory / name).write_bytes(b"")
    assert compile_cache.programs_in(tmp_path) == 2

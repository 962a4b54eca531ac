"""`python -m conformance.benchmark`: what it says of a run, and of one that wrote no results."""

from __future__ import annotations

import pytest

from conformance import benchmark
from conformance.compile_cache import host_key

pytestmark = pytest.mark.slow  # runs pytest in a subprocess


def test_it_says_how_many_programs_the_compile_cache_held_before_and_after(tmp_path, capsys):
    programs = tmp_path / "cache" / host_key()
    programs.mkdir(parents=True)
    for key in ("a", "b"):
        (programs / f"jit_apply-{key}-cache").write_bytes(b"")
    (tmp_path / "cache" / "another-cpu").mkdir()
    (tmp_path / "cache" / "another-cpu" / "jit_apply-c-cache").write_bytes(b"")
    selection = ["--impl", "numpy", "--check", "forward", "--dtype", "float32"]
    assert benchmark.main([*selection, "--compile-cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "2 programs before the run and 2 after" in out  # numpy compiles nothing
    assert "240 cases in" in out


def test_a_run_that_writes_no_results_says_why_and_fails(capsys):
    assert benchmark.main(["--impl", "nosuch", "--check", "forward"]) != 0
    err = capsys.readouterr().err
    assert "--impl: unknown ['nosuch']" in err  # pytest's own message, passed on
    assert "no results from pytest" in err


def test_a_compile_cache_it_cannot_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        benchmark.main(["--impl", "numpy", "--compile-cache", "~nosuchuser-of-this-machine/c"])
    assert stopped.value.code == 2
    assert "--compile-cache ~nosuchuser-of-this-machine/c" in capsys.readouterr().err

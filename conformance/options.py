"""The suite's command-line options, and every check on them that can be made before a case runs.

A mistake in an option is a usage error (pytest's exit 4) at start-up, never a traceback and never
a failure after the whole grid has run: unknown or empty selections, output paths that cannot be
written, and a results file another run is writing at the same time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import adapters

from .axes import ALL_DTYPES, MODE_LABELS
from .cases import Case
from .checks import CHECKS
from .grid import all_cases, quick_selection

CASE_TIMEOUT_S = 300  # one case takes well under a second; a hang must not stall the run


def add_options(parser) -> None:
    group = parser.getgroup("conformance", "recurrent-layer conformance")
    group.addoption(
        "--results-json", metavar="PATH", help="write every checked case to this JSON file"
    )
    group.addoption(
        "--report-html",
        metavar="PATH",
        help="write the HTML compatibility report of this run (needs --results-json)",
    )
    group.addoption(
        "--save-baseline",
        metavar="DIR",
        help="store every case's tensors (and the run's results) in DIR, "
        "to compare after an upgrade: python -m reports compare OLD_DIR NEW_DIR",
    )
    group.addoption(
        "--impl",
        metavar="NAMES",
        help="comma-separated implementations (default: all registered: "
        f"{','.join(adapters.IMPLEMENTATIONS)})",
    )
    group.addoption(
        "--check",
        metavar="NAMES",
        help=f"comma-separated check kinds (default: all: {','.join(CHECKS)})",
    )
    group.addoption(
        "--dtype",
        metavar="NAMES",
        help=f"comma-separated dtypes (default: {','.join(ALL_DTYPES)}; each check kind runs in "
        "those it declares: float16 and bfloat16 only in low_precision)",
    )
    group.addoption(
        "--mode", metavar="NAMES", help=f"comma-separated modes (default: {','.join(MODE_LABELS)})"
    )
    group.addoption(
        "--every-configuration",
        action="store_true",
        help="run every configuration of every check kind, also where the registry samples "
        "an implementation's check pairwise (exports, compilations: slow; for nightly runs)",
    )
    group.addoption(
        "--quick",
        action="store_true",
        help="of the selection (--impl, --check, --mode, --dtype; before -k), per implementation "
        "the fewest cases that run every check kind and every mode: ones the implementation "
        "supports, float32 where selected (a first run)",
    )
    group.addoption(
        "--compile-cache",
        metavar="DIR",
        help="keep JAX's compiled programs in DIR (made if missing) and reuse them in later runs: "
        "the JAX, Flax and keras-jax cases skip compiling what an earlier run compiled",
    )


def csv_option(config, name: str, allowed) -> tuple[str, ...]:
    """The values of a comma-separated option, each once, in the order given; all when absent."""
    raw = config.getoption(name)
    if raw is None:
        return tuple(allowed)
    values = tuple(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    if not values:
        raise pytest.UsageError(f"--{name} {raw!r} names nothing; choose from {', '.join(allowed)}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise pytest.UsageError(f"--{name}: unknown {unknown}; choose from {', '.join(allowed)}")
    return values


SELECTED = pytest.StashKey[list]()


def selected_cases(config) -> list[Case]:
    """The cases the options select; made once per run (at configure, where a bad value is a
    usage error, and again for the collection)."""
    if SELECTED not in config.stash:
        config.stash[SELECTED] = _selected_cases(config)
    return config.stash[SELECTED]


def _selected_cases(config) -> list[Case]:
    cases = all_cases(
        checks=csv_option(config, "check", CHECKS),
        implementations=list(csv_option(config, "impl", adapters.IMPLEMENTATIONS)),
        dtypes=csv_option(config, "dtype", ALL_DTYPES),
        mode_labels=csv_option(config, "mode", MODE_LABELS),
        sampled=not config.getoption("every_configuration"),
    )
    return quick_selection(cases) if config.getoption("quick") else cases


def default_timeout(config) -> None:
    """pytest-timeout's limit per case: CASE_TIMEOUT_S, unless the user set one wherever
    pytest-timeout reads it (0 is the user's "no limit", not unset)."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    if config.getoption("timeout") is not None or os.environ.get("PYTEST_TIMEOUT"):
        return
    if config.getini("timeout"):
        return
    config.option.timeout = CASE_TIMEOUT_S


def check_writable_file(option: str, path: str | os.PathLike) -> None:
    """The file can be created or replaced: its directory exists (or can be made) and takes a
    new file. Made and removed at once, so a rejected run leaves nothing behind."""
    path = Path(path)
    if path.is_dir():
        raise pytest.UsageError(f"{option} {path}: is a directory, expected a file path")
    check_writable_directory(option, path.parent)


def check_writable_directory(option: str, directory: str | os.PathLike) -> None:
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise pytest.UsageError(
            f"{option} {directory}: cannot write there ({error.strerror or error})"
        ) from None


def check_output_paths(config) -> None:
    """Every output of the run is writable before the first case runs."""
    if config.getoption("report_html") and not config.getoption("results_json"):
        raise pytest.UsageError(
            "--report-html needs --results-json PATH (the report is built from it)"
        )
    for option in ("results_json", "report_html"):
        if path := config.getoption(option):
            check_writable_file(f"--{option.replace('_', '-')}", path)
    results, report = config.getoption("results_json"), config.getoption("report_html")
    if results and report and Path(results).resolve() == Path(report).resolve():
        raise pytest.UsageError(
            f"--results-json and --report-html name the same file ({results}): the report "
            "would replace the results"
        )
    if directory := config.getoption("save_baseline"):
        if Path(directory).exists() and not Path(directory).is_dir():
            raise pytest.UsageError(f"--save-baseline {directory}: exists and is not a directory")
        for part in ("arrays", "runs"):
            check_writable_directory("--save-baseline", Path(directory) / part)


class ResultsClaim:
    """Held while a run writes a results file: a second run given the same path is refused at
    start-up instead of silently overwriting the first one's records as they come in.

    An advisory lock on a hidden file beside the results file; the operating system releases it
    when the process dies, so a killed run never blocks the next one."""

    def __init__(self, path: str | os.PathLike):
        self.lock_path = Path(path).with_name(f".{Path(path).name}.lock")
        self._file = None
        try:
            import fcntl
        except ImportError:  # not POSIX: no claim, as before
            return
        self._file = open(self.lock_path, "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise pytest.UsageError(
                f"--results-json {path}: another run ({holder}) is writing it; give this run "
                "its own path"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()}")
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self.lock_path.unlink(missing_ok=True)
            self._file.close()  # closing releases the lock
            self._file = None

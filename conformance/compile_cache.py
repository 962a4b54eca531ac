"""`--compile-cache DIR`: keep JAX's compiled programs on disk, so a later run skips compiling.

Most of a JAX-based implementation's case time is XLA compiling a layer structure it has not seen
(docs/PERFORMANCE.md, "The compilation cache"). JAX can store each compiled executable in a
directory and load it in a later process instead of compiling again: its persistent compilation
cache. JAX's key is a hash of the program (its HLO), the compile options and XLA flags, the
jaxlib version and the device. It does not name the CPU's instruction set, which XLA compiles
for: so the programs go to a subdirectory per host CPU (`host_key`), and a cache copied to a
machine with another CPU (a CI runner of another kind) starts cold there instead of serving
programs compiled for other instructions.

JAX caches only compilations that took a second or more by default; ours take 0.1 to 0.4 s, so
the thresholds are set to 0. The settings go through JAX's own environment variables as well as
`jax.config`: the Keras children (keras-jax) inherit them, and a process that imports jax later
reads them then.

The suite turns it on only when asked (JAX's own variables, set by the user, apply as JAX
documents them). Every process that compiles writes there; a worker on another machine
(`--tx ssh=...`) writes under the same absolute path on its own disk.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

import pytest

from .options import check_writable_directory

THRESHOLDS = {  # JAX's option names; each can also be set from the environment, in upper case
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
WORKER_INPUT_KEY = "compile_cache"  # the controller's absolute path, sent to each worker


def host_key() -> str:
    """The machine and its CPU's features: what an XLA:CPU program is compiled for."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        features = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    except OSError:  # not Linux
        features = platform.processor()
    return f"{platform.machine()}-{hashlib.sha256(features.encode()).hexdigest()[:12]}"


def programs_directory(directory: str | os.PathLike) -> Path:
    """Where the cache in directory keeps this machine's programs: a subdirectory per host CPU."""
    try:
        return Path(directory).expanduser().resolve() / host_key()
    except RuntimeError as error:  # ~user/... for a user without a home directory
        raise pytest.UsageError(f"--compile-cache {directory}: {error}") from None


def use_compile_cache(directory: str | os.PathLike) -> Path:
    """Point this process, and every process it starts from now on, at the cache in directory
    (made if missing); returns the directory's absolute path (the programs go in a subdirectory
    of it per host CPU)."""
    programs = programs_directory(directory)
    check_writable_directory("--compile-cache", programs)
    values = {"jax_compilation_cache_dir": str(programs), **THRESHOLDS}
    for name, value in values.items():
        os.environ[name.upper()] = str(value)
    if "jax" in sys.modules:  # imported already: its options were read from the environment then
        import jax

        for name, value in values.items():
            jax.config.update(name, value)
    return programs.parent


def programs_in(directory: str | os.PathLike) -> int:
    """How many compiled programs the cache in directory holds for this machine's CPU (JAX keeps
    each in a file named `<its key>-cache`); 0 where there is none yet."""
    programs = programs_directory(directory)
    return sum(1 for _ in programs.glob("*-cache")) if programs.is_dir() else 0


def configure(config: pytest.Config) -> None:
    """Apply --compile-cache in this process. A worker takes the controller's absolute path
    (`send_to_worker`): it parses the command line again in its own working directory, where a
    relative DIR would name another directory."""
    worker_input = getattr(config, "workerinput", {})
    directory = worker_input.get(WORKER_INPUT_KEY) or config.getoption("compile_cache")
    if directory:
        config.option.compile_cache = str(use_compile_cache(directory))


def send_to_worker(config: pytest.Config, worker_input: dict) -> None:
    """On the controller, as xdist starts a worker: the cache's absolute path goes with it."""
    if directory := config.getoption("compile_cache"):
        worker_input[WORKER_INPUT_KEY] = directory


__all__ = ["configure", "host_key", "programs_in", "send_to_worker", "use_compile_cache"]

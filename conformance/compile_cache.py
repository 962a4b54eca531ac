"""`--compile-cache DIR`: keep JAX's compiled programs on disk, so a later run skips compiling.

Most of a JAX-based implementation's case time is XLA compiling a layer structure it has not seen
(docs/PERFORMANCE.md, "What the forward grid cannot go below"). JAX can store each compiled
executable in a directory and load it in a later process instead of compiling again: its
persistent compilation cache. The key is a hash of the program (its HLO), the compile options, the
jax and jaxlib versions and the device, so a cached executable is the one XLA produced for that
same program; an upgrade of jax or jaxlib changes every key, and the new compiler is what runs.

JAX caches only compilations that took a second or more by default; ours take 0.1 to 0.4 s, so
the threshold is set to 0. The settings go through JAX's own environment variables as well as
`jax.config`: the xdist workers and the Keras children (keras-jax) inherit them, and a process
that imports jax later reads them then.

Off unless asked for: the directory is written by every process that compiles, and a remote
worker (`--tx ssh=...`) writes it on its own machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .options import check_writable_directory

THRESHOLDS = {  # JAX's option names; each can also be set from the environment, in upper case
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


def use_compile_cache(directory: str | os.PathLike) -> Path:
    """Point this process, and every process it starts from now on, at the cache in directory
    (made if missing); returns its absolute path."""
    directory = Path(directory).expanduser().resolve()
    check_writable_directory("--compile-cache", directory)
    values = {"jax_compilation_cache_dir": str(directory), **THRESHOLDS}
    for name, value in values.items():
        os.environ[name.upper()] = str(value)
    if "jax" in sys.modules:  # imported already: its options were read from the environment then
        import jax

        for name, value in values.items():
            jax.config.update(name, value)
    return directory


def configure(config: pytest.Config) -> None:
    """Apply --compile-cache in this process. On the controller the path is made absolute first,
    so that workers started in another directory use the same cache; xdist sends the workers
    the controller's option values."""
    directory = config.getoption("compile_cache")
    if directory:
        config.option.compile_cache = str(use_compile_cache(directory))

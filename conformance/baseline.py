"""Baselines: the exact named tensors of every case, to compare after an upgrade.

A baseline is a directory. Arrays live one file per case, `arrays/<case id>.npz` (the id names
the implementation and dtype), written by whichever worker ran the case; `runs/<run>.json` holds
each run's results file (environment, outcomes). Keyed by case, baselines from several runs or
machines merge by copying directories together, and a partial run still compares case by case.
Arrays are always read with allow_pickle=False: a baseline from someone else never runs code.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def arrays_path(directory: Path, case_id: str) -> Path:
    return Path(directory) / "arrays" / f"{case_id}.npz"


def save_arrays(directory: str | os.PathLike, case_id: str, outputs: Mapping) -> None:
    """Write the case's named tensors atomically (a killed run leaves no torn file)."""
    path = arrays_path(Path(directory), case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        name: np.asarray(value)
        for name, value in outputs.items()
        if isinstance(value, np.ndarray) or np.isscalar(value)
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def new_run_path(directory: str | os.PathLike) -> Path:
    """Where this run's results go inside the baseline: unique, so merged baselines keep all."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return Path(directory) / "runs" / f"run-{stamp}-{socket.gethostname()}-{os.getpid()}.json"

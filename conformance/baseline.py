"""Baselines: the exact named tensors of every case, to compare after an upgrade.

A baseline is a directory. Arrays live one file per case, `arrays/<case id>.npz` (the id names
the implementation and dtype): the worker that ran the case sends them with its report and the
controller writes them, so workers on other machines (pytest-xdist's --tx) write nothing to their
own disks; `runs/<run>.json` holds
each run's results file (environment, outcomes). Keyed by case, baselines from several runs or
machines merge by copying directories together, and a partial run still compares case by case.

A baseline may come from someone else, so reading one never runs code and never leaves it: arrays
are read with allow_pickle=False, only regular files inside the baseline's own `arrays/` and
`runs/` are opened (a link out of them, a FIFO or a device is refused before it is opened), and
whatever goes wrong reading a file is a ValueError that names it.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from adapters.dtypes import BFLOAT16

# An .npz file has no bfloat16 (NumPy would store ml_dtypes' bfloat16 as raw 2-byte voids): such a
# tensor is stored as float32 (exactly: every bfloat16 is a float32) under its name and this
# suffix, and read back as bfloat16.
BFLOAT16_SUFFIX = "@bfloat16"


def to_npz(name: str, array: np.ndarray) -> tuple[str, np.ndarray]:
    if array.dtype == BFLOAT16:
        return name + BFLOAT16_SUFFIX, array.astype(np.float32)
    return name, array


def from_npz(name: str, array: np.ndarray) -> tuple[str, np.ndarray]:
    if name.endswith(BFLOAT16_SUFFIX) and array.dtype == np.float32:
        return name.removesuffix(BFLOAT16_SUFFIX), array.astype(BFLOAT16)
    return name, array


def arrays_path(directory: Path, case_id: str) -> Path:
    return Path(directory) / "arrays" / f"{case_id}.npz"


def encode_arrays(outputs: Mapping) -> bytes:
    """The case's named tensors as the bytes of an .npz file: what a worker sends the controller
    (a remote worker's disk is not the controller's)."""
    arrays = dict(
        to_npz(name, np.asarray(value))
        for name, value in outputs.items()
        if isinstance(value, np.ndarray) or np.isscalar(value)
    )
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_arrays(directory: str | os.PathLike, case_id: str, encoded: bytes) -> None:
    """Write a case's encoded arrays atomically (a killed run leaves no torn file)."""
    if not case_id or os.sep in case_id or case_id.startswith("."):
        raise ValueError(f"{case_id!r} is not a case id; no file written")
    path = arrays_path(Path(directory), case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_arrays(directory: str | os.PathLike, case_id: str, outputs: Mapping) -> None:
    write_arrays(directory, case_id, encode_arrays(outputs))


def contained_file(directory: str | os.PathLike, path: str | os.PathLike) -> Path:
    """`path`, resolved, once it is known to be a regular file inside `directory` (itself not
    followed if it is a link): ValueError, naming `path`, for anything else. Nothing is opened,
    so a FIFO cannot block the reader."""
    root = Path(os.path.abspath(directory))
    root = root.parent.resolve() / root.name  # its parents may be links, it itself may not
    resolved = Path(path).resolve()
    if root not in resolved.parents:
        raise ValueError(f"{path}: leads out of {directory} (a link or '..'); not read")
    try:
        mode = os.stat(resolved).st_mode
    except OSError as error:
        raise ValueError(f"{path}: cannot be read: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file; not read")
    return resolved


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file, read without pickle. ValueError naming the file when it
    is not a regular file, not an .npz archive, or holds what only pickle could read."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path}: not a regular file; not read")
    try:
        with np.load(path, allow_pickle=False) as stored:
            if not isinstance(stored, np.lib.npyio.NpzFile):  # a bare .npy array loads too
                raise ValueError("not an .npz archive")
            return dict(from_npz(name, stored[name]) for name in stored.files)
    except Exception as error:
        # numpy's readers raise many kinds (ValueError for pickled objects, BadZipFile, EOFError,
        # TypeError for a bare .npy, MemoryError for a header that claims a huge shape): to the
        # caller they all mean this one file cannot be read safely.
        raise ValueError(f"{path}: {type(error).__name__}: {error}") from None


def read_case_arrays(directory: str | os.PathLike, case_id: str) -> dict[str, np.ndarray] | None:
    """The case's arrays in the baseline at `directory`, or None when it has no file for the case;
    ValueError naming the file when it is there but may not or cannot be read."""
    path = arrays_path(Path(directory), case_id)
    if not os.path.lexists(path):
        return None
    return load_arrays(contained_file(Path(directory) / "arrays", path))


def new_run_path(directory: str | os.PathLike) -> Path:
    """Where this run's results go inside the baseline: unique, so merged baselines keep all."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return Path(directory) / "runs" / f"run-{stamp}-{socket.gethostname()}-{os.getpid()}.json"

"""The results file (docs/RESULTS.md): one JSON document, rewritten atomically as it grows.

The file on disk is always complete, valid JSON: it is replaced (write to a temporary file, then
rename) while the run goes on and once more at the end, so an
interrupted run, a dead worker or even a killed controller leaves what had finished. Each record
is serialized once, when it arrives; a write joins those texts (the whole suite's file, 44 MB,
took seconds to serialize anew at every write, on a core that the workers share).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from . import results_schema
from .jsonsafe import from_json_safe, to_json_safe

SCHEMA = "rnn-conformance/1"
FLUSH_INTERVAL_S = 2.0  # the least time between two writes while the run goes on
# ... and writes take at most this share of the run (a write of a large file still takes its
# time to reach the disk), so that they never take a core's worth from the workers.
FLUSH_SHARE = 0.05
SEPARATORS = (",", ":")  # compact: the file is read by programs
# package name in the file -> distributions that provide it (first one installed wins)
PACKAGES = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "flax": ("flax",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime",),
    "onnxscript": ("onnxscript",),
    "tf2onnx": ("tf2onnx",),
    "pytest": ("pytest",),
}


# A framework's own version file, where it states its version as a literal: torch's keeps the
# build tag ("2.13.0+cu130", "+cpu") that the wheel's metadata may lack.
VERSION_FILE = re.compile(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.MULTILINE)
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # the driver's files: no framework imported


def reported_version(module: str) -> str | None:
    """`module.__version__` as the package states it in its `version.py`, read, not imported
    (importing the frameworks would cost the controller seconds); None where there is none."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        try:
            found = VERSION_FILE.search((Path(location) / "version.py").read_text("utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if found:
            return found.group(1)
    return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name, distributions in PACKAGES.items():
        for dist in distributions:
            try:
                installed = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
            reported = reported_version(name)
            # the framework's own word where it adds to the metadata's (a build tag)
            versions[name] = reported if reported and reported.startswith(installed) else installed
            break
    return versions


def gpu_names() -> list[str]:
    """The NVIDIA GPUs' model names, from the driver's files; [] without a GPU."""
    names = []
    for information in sorted(NVIDIA_GPUS.glob("*/information")):
        try:
            lines = information.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            continue
        names += [line.split(":", 1)[1].strip() for line in lines if line.startswith("Model:")]
    return names


def device_label() -> str:
    """ "cpu", or "cpu; cuda: NVIDIA H100 80GB HBM3" where GPUs are present: the CUDA
    implementations' columns name the GPU they ran on."""
    gpus = gpu_names()
    return "cpu" + (f"; cuda: {', '.join(gpus)}" if gpus else "")


def environment(device: str | None = None) -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "device": device or device_label(),
        "packages": package_versions(),
        "opsets": onnx_opsets(),
    }


def onnx_opsets() -> dict[str, int]:
    """The ONNX opset each ONNX implementation writes (from the registry; nothing imported)."""
    from adapters import IMPLEMENTATIONS

    return {name: impl.opset for name, impl in IMPLEMENTATIONS.items() if impl.opset}


def write_json_atomic(path: Path, document: dict) -> None:
    # json.dumps, then one write: json.dump encodes chunk by chunk, four times slower
    write_text_atomic(path, json.dumps(document, separators=SEPARATORS, allow_nan=False))


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a results file is not
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def record_text(record: dict) -> str:
    """A JSON-safe record's text in the results file."""
    return json.dumps(record, separators=SEPARATORS, allow_nan=False)


class ResultsFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: list[dict] = []
        self._texts: list[str] = []  # each record's JSON, made once: a write joins them
        self.run = {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv[1:],
            "complete": False,
        }
        self.environment = environment()
        self._last_flush = 0.0
        self._flush_cost = 0.0
        self.flush()  # an empty but valid file from the start: the path is writable

    def add(self, record: dict, text: str | None = None) -> None:
        """Keep `record`; `text`, where given, is its `record_text` as a worker made it (the
        controller would otherwise make it again for every case)."""
        if text is None:
            record = to_json_safe(record)  # a NaN output is data, not a lost run
            text = record_text(record)  # may raise: first
        self.records.append(record)
        self._texts.append(text)
        interval = max(FLUSH_INTERVAL_S, self._flush_cost / FLUSH_SHARE)
        if time.monotonic() - self._last_flush >= interval:
            self.flush()

    def document(self) -> dict:
        return {
            "schema": SCHEMA,
            "environment": self.environment,
            "run": self.run,
            "records": self.records,
        }

    def text(self) -> str:
        """The document as JSON, as json.dumps(self.document(), separators=SEPARATORS) writes
        it, from the records' texts made as they arrived."""
        head = dict(self.document(), records=[])  # its last key: the text ends '"records":[]}'
        opening = json.dumps(head, separators=SEPARATORS, allow_nan=False).removesuffix("]}")
        return opening + ",".join(self._texts) + "]}"

    def flush(self) -> None:
        start = time.monotonic()
        write_text_atomic(self.path, self.text())
        self._last_flush = time.monotonic()
        self._flush_cost = self._last_flush - start

    def close(self, exitstatus: int, interrupted: bool) -> None:
        self.run.update(
            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            exitstatus=int(exitstatus),
            complete=not interrupted,
        )
        self.flush()


def given_twice(paths: list[str]) -> str:
    """Why a list of results files naming one file twice is refused ("" when none does): in a
    report it would be two identical columns, in a merge a shard counted twice."""
    seen: dict[Path, str] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            return f"{path} is given twice (also as {seen[resolved]})"
        seen[resolved] = path
    return ""


def load(path: str | os.PathLike) -> dict:
    """Read a results file and check it against the schema (results.schema.json).

    Returns the document with non-finite numbers as floats (jsonsafe.from_json_safe). Raises
    OSError when the file cannot be read and ValueError, naming the file, the record (index and
    case id) and the JSON path, when it is not a valid results file: a reader never meets a
    wrongly typed field. Bare NaN, Infinity and -Infinity literals (not JSON, but Python's json
    writes them by default) are read as the strings the suite writes for them.
    """
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f, parse_constant=str)
    except RecursionError:  # hostile nesting; json raises it, not ValueError
        raise ValueError(f"{path}: not a results file: JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an over-long integer
        raise ValueError(f"{path}: not a results file: {error}") from None
    if isinstance(document, dict) and document.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema is {document.get('schema')!r}, expected {SCHEMA!r}")
    results_schema.validate(document, str(path))
    return from_json_safe(document)

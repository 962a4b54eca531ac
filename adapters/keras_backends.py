"""`keras`, `keras-jax`, `keras-torch`: the same Keras layers on TensorFlow, JAX and PyTorch.

Keras fixes its backend once per process. A backend runs in this process when this process has
(or, for TensorFlow, may still pick) that backend; otherwise in a child process of its own,
started on first use and kept for later calls, so many cases pay its start-up once. The child gets
the arrays, runs `keras_adapter.run` and sends back arrays, `Unsupported`, or the error with its
traceback. Nothing ever falls back to another backend.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import sys
import traceback
from dataclasses import replace

from . import heap
from .errors import Unsupported
from .keras_adapter import run as run_in_process
from .request import Request, Tensors

_servers: dict[str, tuple] = {}


class BackendProcessError(RuntimeError):
    """The Keras backend's child process raised, or died."""


def runs_here(backend: str) -> bool:
    keras = sys.modules.get("keras")
    if keras is None or not hasattr(keras, "backend"):
        return backend == "tensorflow"  # `keras` (TensorFlow) is the in-process default
    return keras.backend.backend() == backend


# the top-level packages of each Keras backend's framework
BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


class WithoutPackages:
    """A finder of sys.meta_path that finds nothing of `hidden` and defers the rest to the
    finder it wraps: the hidden packages look as if they were not installed."""

    def __init__(self, finder, hidden: frozenset[str]):
        self.finder, self.hidden = finder, hidden

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.hidden:
            return None
        find_spec = getattr(self.finder, "find_spec", None)
        return find_spec(name, path, target) if find_spec else None

    def __getattr__(self, attribute):  # invalidate_caches, find_distributions, ...
        return getattr(self.finder, attribute)


def hide_other_backends(backend: str) -> None:
    """Makes the other Keras backends' frameworks look not installed in this process, as on a
    machine with Keras and `backend` alone.

    Keras imports them when it can, though it computes nothing with them outside their own
    backend (keras 3.15): `import keras` imports JAX (`callbacks/orbax_checkpoint.py` patches
    `jax.monitoring`), and `Bidirectional` copies its layer through `serialize_keras_object`,
    which imports TensorFlow to recognise its TensorShape, DType and TypeSpec
    (`saving/serialization_lib.py`, `utils/module_utils.py`). Those imports cost a child 3 to
    5 s of CPU and hundreds of MB. Hidden by every finder of sys.meta_path, they are what they
    are where not installed: `import` raises ModuleNotFoundError, `importlib.util.find_spec`
    answers None, and they are not in sys.modules; Keras then takes its paths without them.
    """
    hidden = frozenset(
        package
        for other, packages in BACKEND_PACKAGES.items()
        if other != backend
        for package in packages
        if package not in sys.modules  # one already imported stays: nothing left to save
    )
    sys.meta_path[:] = [WithoutPackages(finder, hidden) for finder in sys.meta_path]


def serve(connection, backend: str) -> None:
    """The child's loop: one request at a time until the parent closes the pipe."""
    hide_other_backends(backend)
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", run_in_process(backend, request)))
        except Unsupported as unsupported:
            connection.send(("unsupported", str(unsupported)))
        except Exception as error:
            summary = "".join(traceback.format_exception_only(type(error), error)).strip()
            connection.send(("error", summary, traceback.format_exc()))
        heap.settle(backend)  # after the reply: the first case's objects are the long-lived ones


@contextlib.contextmanager
def main_module_hidden():
    """Start a spawned child without telling it where the parent's __main__ is.

    spawn re-imports the parent's main script in the child to find pickled functions there; a
    user's script or notebook without `if __name__ == "__main__":` would then run again in the
    child and fail with multiprocessing's bootstrapping error. The child runs `serve` from this
    module and needs nothing from __main__.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _server(backend: str):
    if backend not in _servers or not _servers[backend][1].is_alive():
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: a clean backend
        parent, child = context.Pipe()
        process = context.Process(
            target=serve, args=(child, backend), name=f"keras-{backend}", daemon=True
        )
        with main_module_hidden():
            process.start()
        child.close()
        _servers[backend] = (parent, process)
    return _servers[backend]


def run_in_child(backend: str, request: Request) -> Tensors:
    connection, process = _server(backend)
    try:
        connection.send(request)
        reply = connection.recv()
    except (EOFError, BrokenPipeError, ConnectionResetError) as error:
        process.join(timeout=5)
        _servers.pop(backend, None)
        raise BackendProcessError(
            f"the keras-{backend} child process died (exit code {process.exitcode})"
        ) from error
    if reply[0] == "ok":
        return reply[1]
    if reply[0] == "unsupported":
        raise Unsupported(reply[1])
    raise BackendProcessError(
        f"{reply[1]}\n--- in the keras-{backend} child process ---\n{reply[2]}"
    )


def run_on(backend: str, request: Request) -> Tensors:
    if runs_here(backend):
        return run_in_process(backend, request)
    cotangents = None if request.cotangents is None else dict(request.cotangents)
    picklable = replace(request, params=dict(request.params), cotangents=cotangents)
    return run_in_child(backend, picklable)  # the cotangents go too: gradients run in the child


def run_tensorflow(request: Request) -> Tensors:
    return run_on("tensorflow", request)


def run_jax(request: Request) -> Tensors:
    return run_on("jax", request)


def run_torch(request: Request) -> Tensors:
    return run_on("torch", request)


@atexit.register
def _stop_servers() -> None:
    for connection, process in list(_servers.values()):
        connection.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()

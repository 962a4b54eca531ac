"""Keras backends that this process cannot host run in a child process of their own."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import adapters
from adapters import Spec

pytestmark = pytest.mark.slow


def require(*names):
    for name in names:
        if reason := adapters.IMPLEMENTATIONS[name].unavailable_reason():
            pytest.skip(f"{name}: {reason}")


SPEC = Spec(mode="GRU", input_size=3, hidden_size=4, bidirectional=True)
X = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_backends():
    require("keras", "keras-jax")
    from adapters import keras_backends

    adapters.run("keras", SPEC, adapters.init_params(SPEC), X)  # this process: TensorFlow
    return keras_backends


def test_another_backend_runs_in_a_child_and_agrees(keras_backends):
    params = adapters.init_params(SPEC)
    expected = adapters.run("numpy", SPEC, params, X)
    got = adapters.run("keras-jax", SPEC, params, X)
    assert keras_backends.runs_here("tensorflow") and not keras_backends.runs_here("jax")
    assert keras_backends._servers["jax"][1].is_alive()
    for g, e in zip(got, expected):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_unsupported_crosses_the_process_boundary_as_unsupported(keras_backends):
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, proj_size=2)
    with pytest.raises(adapters.Unsupported, match="proj_size"):
        adapters.run("keras-jax", spec, adapters.init_params(spec), X)


def test_an_error_in_the_child_comes_back_with_its_traceback(keras_backends):
    params = adapters.init_params(SPEC)
    params["weight_ih_l0"] = params["weight_ih_l0"][:, :2]  # passes nothing to validate here
    with pytest.raises(keras_backends.BackendProcessError, match="in the keras-jax child"):
        keras_backends.run_jax(adapters.Request(SPEC, params, X))


def test_a_child_that_dies_during_a_call_is_reported_and_replaced(keras_backends, monkeypatch):
    params = adapters.init_params(SPEC)
    adapters.run("keras-jax", SPEC, params, X)
    stale = keras_backends._servers["jax"]
    stale[1].kill()
    stale[1].join()
    with monkeypatch.context() as patch:  # the call finds the child gone mid-request
        patch.setattr(keras_backends, "_server", lambda backend: stale)
        with pytest.raises(keras_backends.BackendProcessError, match="died"):
            keras_backends.run_jax(adapters.Request(SPEC, params, X))
    output, _, _ = adapters.run("keras-jax", SPEC, params, X)  # a fresh child takes over
    assert output.shape == (5, 2, 8)
    assert keras_backends._servers["jax"][1].pid != stale[1].pid


def test_a_plain_script_without_a_main_guard_can_use_a_child_backend(tmp_path):
    """spawn re-imports the parent's main script in the child; a user's script without
    `if __name__ == "__main__":` must still work (the child is not told where __main__ is)."""
    require("keras-jax")
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "port.py"
    script.write_text(
        "import numpy as np, adapters\n"
        "spec = adapters.Spec(mode='GRU', input_size=3, hidden_size=4)\n"
        "x = np.ones((5, 2, 3), np.float32)\n"
        "out, h_n, _ = adapters.run('keras-jax', spec, adapters.init_params(spec), x)\n"
        "print('ran', out.shape)\n"
    )
    root = Path(__file__).resolve().parents[1]
    completed = subprocess.run(
        [sys.executable, str(script)], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.count("ran (5, 2, 4)") == 1  # the script ran once, not in the child


def test_the_training_fields_cross_the_process_boundary(keras_backends):
    """SimpleRNN in training with input dropout 1 is the layer on zero input: deterministic,
    and different from inference, so a child that dropped `training` or the rate would fail."""
    from dataclasses import replace

    spec = Spec(mode="RNN", input_size=3, hidden_size=4)
    params = adapters.init_params(spec)
    request = adapters.Request(spec, params, X, training=True, input_dropout=1.0, seed=3)
    got = adapters.run_request("keras-jax", request)
    plain = replace(request, training=False, input_dropout=0.0)  # what the reference runs
    on_zeros = adapters.run_request("numpy", replace(plain, x=np.zeros_like(X)))
    inference = adapters.run_request("numpy", plain)
    np.testing.assert_allclose(got["output"], on_zeros["output"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got["output"], inference["output"], rtol=1e-3, atol=1e-3)


def loaded_libraries(pid: int) -> str:
    maps = f"/proc/{pid}/maps"
    try:
        with open(maps) as file:
            return file.read()
    except OSError:
        pytest.skip(f"{maps} cannot be read here")


def package_directory(name: str) -> str:
    return importlib.util.find_spec(name).submodule_search_locations[0] + os.sep


@pytest.mark.parametrize(
    "name, absent", [("keras-jax", ["tensorflow"]), ("keras-torch", ["tensorflow", "jaxlib"])]
)
def test_a_child_runs_without_the_other_backends(keras_backends, name, absent):
    """Keras imports JAX whatever its backend, and its Bidirectional imports TensorFlow (its
    config copy asks whether TF is there); the children hide the frameworks of the other
    backends, as on a machine without them, and still agree."""
    require(name)
    backend = name.removeprefix("keras-")
    params = adapters.init_params(SPEC)
    got = adapters.run(name, SPEC, params, X)  # SPEC is bidirectional
    expected = adapters.run("numpy", SPEC, params, X)
    for g, e in zip(got, expected):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    child = loaded_libraries(keras_backends._servers[backend][1].pid)
    here = loaded_libraries(os.getpid())  # Keras on TensorFlow, which imported JAX
    for package in absent:
        directory = package_directory(package)
        assert directory in here  # the check sees the package where it is loaded
        assert directory not in child


HIDDEN_IN_A_TORCH_CHILD = """
import importlib.util, sys
from adapters.keras_backends import hide_other_backends
hide_other_backends("torch")
for name in ("tensorflow", "jax", "jaxlib"):
    assert importlib.util.find_spec(name) is None, name
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(name + " was imported")
    assert name not in sys.modules, name
assert importlib.util.find_spec("torch") is not None
assert importlib.util.find_spec("keras") is not None
print("hidden")
"""


def test_hidden_backends_look_not_installed():
    """As where they are not installed: find_spec answers None, import raises
    ModuleNotFoundError, nothing is left in sys.modules (Keras asks all three ways)."""
    for package in ("tensorflow", "jax", "torch", "keras"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    import subprocess
    import sys
    from pathlib import Path

    completed = subprocess.run(
        [sys.executable, "-c", HIDDEN_IN_A_TORCH_CHILD],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "hidden"

"""The Keras adapters' layers start from Keras's own initial weights where those can matter.

Each script runs in a process of its own: a process hosts one Keras backend.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# The layout of a porter's layer after set_weights, of the adapter's, and of a zeros-initialized
# one (square: orthogonal's QR leaves a transposed matrix).
LAYOUT_ON_TORCH = """
import keras, numpy as np
from adapters import Spec
from adapters.keras_adapter import make_layer
spec = Spec(mode="RNN", input_size=3, hidden_size=4)
porters = keras.layers.SimpleRNN(4)
ours = make_layer(keras, spec, "float32")
zeros = keras.layers.SimpleRNN(4, recurrent_initializer="zeros")
for layer in (porters, ours, zeros):
    layer.build((2, 5, 3))
    layer.set_weights([np.ones(w.shape, np.float32) for w in layer.get_weights()])
    print(*layer.cell.recurrent_kernel.value.stride())
"""


# Builds a porter's layers (Keras's defaults) or the adapter's, on JAX (JAX_LOG_COMPILES names
# each program compiled on stderr, up to BUILT), then loads random weights and prints each
# layer's output bytes, to compare bit for bit.
BUILT_ON_JAX = """
import sys, keras, numpy as np
from adapters import Spec
from adapters.keras_adapter import make_layer
LAYERS = {"RNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}
x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 3)).astype(np.float32)
built = {}
for mode in ("RNN", "LSTM", "GRU"):
    spec = Spec(mode=mode, input_size=3, hidden_size=4, bidirectional=True)
    if sys.argv[1] == "porters":
        layer = keras.layers.Bidirectional(
            LAYERS[mode](4, return_sequences=True, return_state=True))
    else:
        layer = make_layer(keras, spec, "float32")
    layer.build(x.shape)
    built[mode] = layer
print("BUILT", file=sys.stderr, flush=True)  # after the compile log of the building
rng = np.random.default_rng(1)
for mode, layer in built.items():
    layer.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32) for w in layer.get_weights()])
    outputs = layer(x)
    out = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    print(mode, np.asarray(out).tobytes().hex())
"""

COMPILED = re.compile(r"compilation of jit\((\w+)\)")


def run_script(script: str, backend: str, *args: str) -> subprocess.CompletedProcess:
    for package in ("keras", backend):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": backend, "JAX_LOG_COMPILES": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def test_on_pytorch_the_recurrent_kernel_keeps_the_layout_of_a_porter_s_layer():
    """set_weights copies into the initial tensor in place on PyTorch, so the initializer decides
    the layout a float32 product rounds over (docs/CONVENTIONS.md, "Keras's initial weights")."""
    porters, ours, zeros = run_script(LAYOUT_ON_TORCH, "torch").stdout.splitlines()[-3:]
    assert ours == porters
    assert porters != zeros  # the initializer decides it


def compiled_while_building(stderr: str) -> set[str]:
    """The programs JAX_LOG_COMPILES names in stderr."""
    return set(COMPILED.findall(stderr))


def test_on_jax_building_a_layer_compiles_only_its_zeros():
    """Keras's random initializers compile programs per weight shape on JAX (uniform, normal, QR)
    for values that set_weights then replaces; the adapter's layers compile only the zeros they
    are filled with, and compute what a porter's layer computes with the same weights."""
    porters = run_script(BUILT_ON_JAX, "jax", "porters")
    ours = run_script(BUILT_ON_JAX, "jax", "ours")
    building = [run.stderr.split("BUILT")[0] for run in (porters, ours)]
    assert {"_uniform", "_normal", "qr"} <= compiled_while_building(building[0])  # the log works
    assert compiled_while_building(building[1]) <= {"broadcast_in_dim", "convert_element_type"}
    outputs = [run.stdout.splitlines()[-3:] for run in (porters, ours)]
    assert [line.split()[0] for line in outputs[1]] == ["RNN", "LSTM", "GRU"]
    assert outputs[1] == outputs[0]

"""The Keras adapters' layers start from Keras's own initial weights where those can matter.

Each script runs in a process of its own: a process hosts one Keras backend.
"""

from __future__ import annotations

import importlib.util
import os
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


# Builds a porter's layers (Keras's defaults) or the adapter's, on JAX; JAX_LOG_COMPILES names
# each program compiled on stderr.
BUILT_ON_JAX = """
import sys, keras
from adapters import Spec
from adapters.keras_adapter import make_layer
for mode in ("RNN", "LSTM", "GRU"):
    spec = Spec(mode=mode, input_size=3, hidden_size=4, bidirectional=True)
    if sys.argv[1] == "porters":
        layer = keras.layers.Bidirectional({"RNN": keras.layers.SimpleRNN,
            "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}[mode](4))
    else:
        layer = make_layer(keras, spec, "float32")
    layer.build((2, 5, 3))
print("built")
"""


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


def test_on_jax_building_a_layer_compiles_no_random_initializer():
    """Keras's random initializers compile programs per weight shape on JAX (uniform, normal, QR)
    for values that set_weights then replaces."""
    porters = run_script(BUILT_ON_JAX, "jax", "porters").stderr
    ours = run_script(BUILT_ON_JAX, "jax", "ours").stderr
    for name in ("jit(_uniform)", "jit(_normal)", "jit(qr)"):
        assert f"compilation of {name}" in porters  # the log shows them where they compile
        assert f"compilation of {name}" not in ours

"""pytest -p tests.meta_plugins.plant_gru_bug: the numpy implementation forgets b_hh for GRUs."""

import numpy as np

from adapters import numpy_reference

honest_forward = numpy_reference.forward


def forward_without_b_hh(spec, params, x, h0=None, c0=None):
    if spec.mode == "GRU":
        params = {k: np.zeros_like(v) if k.startswith("bias_hh") else v for k, v in params.items()}
    return honest_forward(spec, params, x, h0, c0)


def pytest_configure(config):
    numpy_reference.run = forward_without_b_hh  # what adapters.run("numpy") calls

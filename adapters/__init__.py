"""One canonical set of recurrent-layer weights, run by several frameworks.

    spec = adapters.Spec(mode="LSTM", input_size=5, hidden_size=4, num_layers=2)
    params = adapters.init_params(spec, seed=0)
    out, h_n, c_n = adapters.run("torch", spec, params, x)

See CONTRACT.md (the public API) and README.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import NotInstalled, Unsupported
from .params import init_params, validate_inputs, validate_params
from .registry import IMPLEMENTATIONS, Implementation
from .spec import Spec, param_shapes

__all__ = [
    "IMPLEMENTATIONS",
    "Implementation",
    "NotInstalled",
    "Spec",
    "Unsupported",
    "available",
    "init_params",
    "param_shapes",
    "run",
]


def available() -> list[str]:
    """Names of the implementations whose frameworks are installed here (nothing is imported)."""
    return [name for name, impl in IMPLEMENTATIONS.items() if impl.is_installed()]


def implementation(name: str) -> Implementation:
    if not isinstance(name, str) or name not in IMPLEMENTATIONS:
        raise ValueError(f"name must be one of {sorted(IMPLEMENTATIONS)}, got {name!r}")
    return IMPLEMENTATIONS[name]


def run(
    name: str,
    spec: Spec,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Run implementation `name`; returns (output, h_n, c_n) as NumPy arrays in x.dtype.

    Arguments are validated before any framework is imported. Raises `Unsupported` when the
    implementation cannot express `spec` or `x.dtype`, `NotInstalled` when it is not installed.
    """
    impl = implementation(name)
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be an adapters.Spec, got {type(spec).__name__}")
    validate_params(spec, params)
    validate_inputs(spec, x, h0, c0)
    if reason := impl.unavailable_reason():
        raise NotInstalled(f"{name}: {reason}")
    output, h_n, c_n = impl.load()(spec, params, x, h0, c0)
    return output, h_n, c_n

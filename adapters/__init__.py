"""One canonical set of recurrent-layer weights, run by several frameworks.

    spec = adapters.Spec(mode="LSTM", input_size=5, hidden_size=4, num_layers=2)
    params = adapters.init_params(spec, seed=0)
    out, h_n, c_n = adapters.run("torch", spec, params, x)

The API is documented in docs/API.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import NotInstalled, Unsupported
from .params import (
    init_params,
    validate_cotangents,
    validate_inputs,
    validate_params,
    validate_training,
)
from .registry import IMPLEMENTATIONS, Implementation
from .request import Request, Setting, Tensors, as_tuple
from .spec import Spec, param_shapes

__all__ = [
    "IMPLEMENTATIONS",
    "Implementation",
    "NotInstalled",
    "Request",
    "Setting",
    "Spec",
    "Unsupported",
    "available",
    "init_params",
    "param_shapes",
    "run",
    "run_request",
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
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Run implementation `name`; returns (output, h_n, c_n) as NumPy arrays in x.dtype.

    `lengths` (one int per batch row, or None for full length) gives variable-length sequences
    with PyTorch's packed-sequence semantics. Arguments are validated before any framework is
    imported. Raises `Unsupported` when the implementation cannot express the setting,
    `NotInstalled` when it is not installed.
    """
    return as_tuple(run_request(name, Request(spec, params, x, h0, c0, lengths)))


def run_request(name: str, request: Request) -> Tensors:
    """Run implementation `name` on `request`; returns its named tensors (output, h_n, c_n)."""
    impl = implementation(name)
    if not isinstance(request, Request):
        raise TypeError(f"request must be an adapters.Request, got {type(request).__name__}")
    if not isinstance(request.spec, Spec):
        raise TypeError(f"spec must be an adapters.Spec, got {type(request.spec).__name__}")
    validate_params(request.spec, request.params)
    validate_inputs(request.spec, request.x, request.h0, request.c0, request.lengths)
    validate_cotangents(request.spec, request.x, request.cotangents)
    validate_training(request)
    if reason := impl.unsupported_reason(request.setting):
        raise Unsupported(reason)
    if reason := impl.gap_reason(request.setting):
        raise NotImplementedError(f"the {name} adapter does not run this yet: {reason}")
    if reason := impl.unavailable_reason():
        raise NotInstalled(f"{name}: {reason}")
    if request.cotangents is not None and not impl.gradients:
        raise NotImplementedError(f"the {name} adapter does not compute gradients yet")
    try:
        tensors = impl.load()(request)
    except Unsupported as undeclared:  # every unsupported comes from the registry, with its reason
        raise RuntimeError(
            f"{name} raised Unsupported({undeclared}) for a setting its registry entry does not "
            "declare: declare a Limit in adapters/registry.py or fix the adapter"
        ) from undeclared
    return owned(tensors)


def owned(tensors: Tensors) -> Tensors:
    """The caller's own writable arrays: JAX hands out read-only views of its buffers."""
    if not isinstance(tensors, Mapping):
        return tensors  # the conformance check reports what came back
    return {
        name: np.array(value)
        if isinstance(value, np.ndarray) and not value.flags.writeable
        else value
        for name, value in tensors.items()
    }

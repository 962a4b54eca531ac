"""What the JAX-based adapters share: dtype support and 64-bit mode for one call."""

from __future__ import annotations

import contextlib

import jax
import numpy as np

from .errors import Unsupported

DTYPES = (np.dtype("float32"), np.dtype("float64"))


def precision_scope(name: str, dtype: np.dtype):
    """float64 needs JAX's x64 mode; it is switched on for this call only, never globally."""
    if dtype not in DTYPES:
        raise Unsupported(f"{name} adapter runs float32 and float64, not {dtype}")
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()

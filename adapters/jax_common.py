"""What the JAX-based adapters share: dtype support and 64-bit mode for one call."""

from __future__ import annotations

import contextlib

import jax
import numpy as np


def precision_scope(dtype: np.dtype):
    """float64 needs JAX's x64 mode; it is switched on for this call only, never globally."""
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()

"""Floating dtypes by name, bfloat16 included: importing this registers ml_dtypes' bfloat16 with
NumPy, so that np.dtype("bfloat16") works wherever a dtype name becomes a NumPy dtype.

NumPy has no bfloat16 of its own; ml_dtypes (a dependency of JAX and TensorFlow) adds one, which
np.issubdtype does not count as floating and np.finfo does not know: ask here instead.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
LOW_PRECISION = (np.dtype(np.float16), BFLOAT16)


def is_floating(dtype) -> bool:
    """A real floating dtype: NumPy's own, or ml_dtypes' bfloat16."""
    dtype = np.dtype(dtype)
    return np.issubdtype(dtype, np.floating) or dtype == BFLOAT16


def eps(dtype) -> float:
    """The distance from 1.0 to the next larger value of the dtype."""
    return float(ml_dtypes.finfo(np.dtype(dtype)).eps)


def computable(array: np.ndarray) -> np.ndarray:
    """A copy NumPy-only code can compute with: bfloat16 as float32 (exact, every bfloat16 is a
    float32), anything else unchanged. Frameworks that take NumPy arrays but not ml_dtypes'
    bfloat16 (torch.from_numpy) get this, then convert to their own bfloat16."""
    return array.astype(np.float32) if array.dtype == BFLOAT16 else array

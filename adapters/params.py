"""Canonical parameters: creation and validation of `{state_dict name: array}` and of inputs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .dtypes import is_floating
from .spec import Spec, param_shapes


def init_params(spec: Spec, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters drawn as PyTorch initialises them, U(-1/sqrt(H), 1/sqrt(H)), in float32.

    float32 (PyTorch's default) makes every value exact in both float32 and float64 runs, so a
    float32 case differs from the float64 reference by its arithmetic alone, not by rounded weights.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be an adapters.Spec, got {type(spec).__name__}")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(spec.hidden_size)
    return {
        name: rng.uniform(-bound, bound, size=shape).astype(np.float32)
        for name, shape in param_shapes(spec).items()
    }


def validate_params(spec: Spec, params: Mapping[str, np.ndarray]) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of name -> array, got {type(params).__name__}")
    expected = param_shapes(spec)
    missing = [name for name in expected if name not in params]
    if missing:
        raise ValueError(f"params is missing {missing} for {spec}")
    unexpected = [name for name in params if name not in expected]
    if unexpected:
        raise ValueError(f"params has unexpected entries {unexpected} for {spec}")
    for name, shape in expected.items():
        value = params[name]
        if not isinstance(value, np.ndarray):
            raise TypeError(f"params[{name!r}] must be a numpy array, got {type(value).__name__}")
        if value.shape != shape:
            raise ValueError(f"params[{name!r}] has shape {value.shape}, expected {shape}")
        if not is_floating(value.dtype):
            raise TypeError(f"params[{name!r}] must be floating point, got {value.dtype}")


def validate_inputs(
    spec: Spec,
    x: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    lengths: np.ndarray | None = None,
) -> None:
    if not isinstance(x, np.ndarray) or isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"x must be a plain numpy array, got {type(x).__name__}")
    if not is_floating(x.dtype):
        raise TypeError(f"x must be floating point, got {x.dtype}")
    layout = "(batch, seq, input)" if spec.batch_first else "(seq, batch, input)"
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D {layout}, got shape {x.shape}")
    if x.shape[-1] != spec.input_size:
        raise ValueError(
            f"x has {x.shape[-1]} features in its last axis, expected input_size={spec.input_size}"
        )
    if 0 in x.shape:
        raise ValueError(f"x has an empty axis: shape {x.shape} {layout}")
    batch = x.shape[0] if spec.batch_first else x.shape[1]
    rows = spec.num_layers * spec.num_directions
    _validate_state("h0", h0, (rows, batch, spec.output_size))
    if c0 is not None and not spec.has_cell_state:
        raise ValueError(f"c0 is only meaningful for mode='LSTM', not {spec.mode!r}")
    _validate_state("c0", c0, (rows, batch, spec.hidden_size))
    _validate_lengths(lengths, batch, x.shape[1] if spec.batch_first else x.shape[0])


def _validate_lengths(lengths: np.ndarray | None, batch: int, seq_len: int) -> None:
    if lengths is None:
        return
    if not isinstance(lengths, np.ndarray) or isinstance(lengths, np.ma.MaskedArray):
        raise TypeError(
            f"lengths must be a plain numpy array or None, got {type(lengths).__name__}"
        )
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be integers, got {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths has shape {lengths.shape}, expected ({batch},): one per row")
    if lengths.min() < 0 or lengths.max() > seq_len:
        raise ValueError(
            f"lengths must be in [0, {seq_len}] (the sequence length), got {lengths.tolist()}"
        )


def _validate_state(name: str, state: np.ndarray | None, shape: tuple[int, int, int]) -> None:
    if state is None:
        return
    if not isinstance(state, np.ndarray) or isinstance(state, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain numpy array or None, got {type(state).__name__}")
    if not is_floating(state.dtype):
        raise TypeError(f"{name} must be floating point, got {state.dtype}")
    if state.shape != shape:
        raise ValueError(
            f"{name} has shape {state.shape}, expected {shape} "
            "(num_layers * num_directions, batch, features)"
        )


def validate_cotangents(spec: Spec, x: np.ndarray, cotangents) -> None:
    """Cotangents weight output, h_n and (LSTM) c_n: exactly those keys, shaped like them."""
    if cotangents is None:
        return
    if not isinstance(cotangents, Mapping):
        raise TypeError(f"cotangents must be a mapping or None, got {type(cotangents).__name__}")
    seq, batch = (x.shape[1], x.shape[0]) if spec.batch_first else (x.shape[0], x.shape[1])
    rows = spec.num_layers * spec.num_directions
    output = (batch, seq) if spec.batch_first else (seq, batch)
    shapes = {
        "output": (*output, spec.num_directions * spec.output_size),
        "h_n": (rows, batch, spec.output_size),
    }
    if spec.has_cell_state:
        shapes["c_n"] = (rows, batch, spec.hidden_size)
    if set(cotangents) != set(shapes):
        raise ValueError(
            f"cotangents has keys {sorted(cotangents)}, expected {sorted(shapes)} for {spec.mode}"
        )
    for name, shape in shapes.items():
        value = cotangents[name]
        if not isinstance(value, np.ndarray) or isinstance(value, np.ma.MaskedArray):
            raise TypeError(f"cotangents[{name!r}] must be a plain numpy array")
        if not is_floating(value.dtype):
            raise TypeError(f"cotangents[{name!r}] must be floating point, got {value.dtype}")
        if value.shape != shape:
            raise ValueError(f"cotangents[{name!r}] has shape {value.shape}, expected {shape}")


def validate_training(request) -> None:
    """`training` a bool, the Keras-style rates floats in [0, 1], `seed` an int."""
    if not isinstance(request.training, bool):
        raise TypeError(f"training must be a bool, got {type(request.training).__name__}")
    for name in ("input_dropout", "recurrent_dropout"):
        rate = getattr(request, name)
        # bool is an int subclass: `input_dropout=True` is a mistake, not a rate of 1
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise TypeError(f"{name} must be a float, got {type(rate).__name__} {rate!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if isinstance(request.seed, bool) or not isinstance(request.seed, int):
        raise TypeError(f"seed must be an int, got {type(request.seed).__name__}")

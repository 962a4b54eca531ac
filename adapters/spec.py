"""The layer configuration (`Spec`) and the canonical parameter layout it implies.

A `Spec` takes exactly the constructor arguments of `torch.nn.RNN/LSTM/GRU` (plus `mode`, the
class) and is validated on construction, so a bad configuration fails before any framework runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MODES = ("RNN", "LSTM", "GRU")
NONLINEARITIES = ("tanh", "relu")
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _require_positive_int(name: str, value: object) -> None:
    # bool is an int subclass; `hidden_size=True` is a mistake, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class Spec:
    """A recurrent layer as `torch.nn.<mode>(...)` would build it."""

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("input_size", "hidden_size", "num_layers"):
            _require_positive_int(name, getattr(self, name))
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}"
            )
        if self.mode != "RNN" and self.nonlinearity != "tanh":
            raise ValueError(
                f"nonlinearity={self.nonlinearity!r} is only meaningful for mode='RNN', "
                f"not {self.mode!r}"
            )
        for name in ("bias", "batch_first", "bidirectional"):
            _require_bool(name, getattr(self, name))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise TypeError(f"dropout must be a float, got {type(self.dropout).__name__}")
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {self.dropout}")
        if isinstance(self.proj_size, bool) or not isinstance(self.proj_size, int):
            raise TypeError(f"proj_size must be an int, got {type(self.proj_size).__name__}")
        if self.proj_size < 0:
            raise ValueError(f"proj_size must be >= 0, got {self.proj_size}")
        if self.proj_size > 0 and self.mode != "LSTM":
            raise ValueError(f"proj_size is only supported for mode='LSTM', not {self.mode!r}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size ({self.proj_size}) must be smaller than hidden_size "
                f"({self.hidden_size})"
            )

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def num_gates(self) -> int:
        return GATES[self.mode]

    @property
    def output_size(self) -> int:
        """Features of h (and of each direction's slice of `output`)."""
        return self.proj_size or self.hidden_size

    @property
    def has_cell_state(self) -> bool:
        return self.mode == "LSTM"

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.output_size

    def one_layer(self, layer: int) -> Spec:
        """Layer `layer` alone, as a framework without num_layers builds it."""
        return replace(
            self, num_layers=1, input_size=self.layer_input_size(layer), batch_first=True
        )


def direction_suffix(direction: int) -> str:
    return "_reverse" if direction == 1 else ""


def param_name(kind: str, layer: int, direction: int) -> str:
    """`param_name("weight_ih", 1, 1)` -> `"weight_ih_l1_reverse"` (PyTorch's state_dict key)."""
    return f"{kind}_l{layer}{direction_suffix(direction)}"


def param_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    """Names and shapes of `torch.nn.<mode>(...).state_dict()`, in its order."""
    gated = spec.num_gates * spec.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(spec.num_layers):
        for direction in range(spec.num_directions):
            shapes[param_name("weight_ih", layer, direction)] = (
                gated,
                spec.layer_input_size(layer),
            )
            shapes[param_name("weight_hh", layer, direction)] = (gated, spec.output_size)
            if spec.bias:
                shapes[param_name("bias_ih", layer, direction)] = (gated,)
                shapes[param_name("bias_hh", layer, direction)] = (gated,)
            if spec.proj_size:
                shapes[param_name("weight_hr", layer, direction)] = (
                    spec.proj_size,
                    spec.hidden_size,
                )
    return shapes

"""What an implementation cannot express, declared as data beside its registry entry.

An implementation lists its `Limit`s: a named feature of a `Setting` and the reason it cannot
express it. `adapters.run` answers `Unsupported(reason)` from here before the framework is
touched, so every `unsupported` in a report comes from one place, with its reason. A limit that
matches no case of the conformance grid is stale and reported (conformance/declarations.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .request import Setting

FEATURES: dict[str, Callable[[Setting], bool]] = {
    "RNN": lambda s: s.spec.mode == "RNN",
    "GRU": lambda s: s.spec.mode == "GRU",
    "LSTM": lambda s: s.spec.mode == "LSTM",
    "proj_size": lambda s: s.spec.proj_size > 0,
    "bias=False": lambda s: not s.spec.bias,
    "float64": lambda s: s.dtype == "float64",
    "float16": lambda s: s.dtype == "float16",
    "bfloat16": lambda s: s.dtype == "bfloat16",
    "lengths": lambda s: s.lengths,
    "zero_length": lambda s: s.zero_length,
    "gradients": lambda s: s.gradients,
    "training": lambda s: s.training,
    "dropout": lambda s: s.spec.dropout > 0,  # PyTorch's, on every layer's output but the last
    "dropout_in_training": lambda s: s.training and s.spec.dropout > 0,
    "input_dropout": lambda s: s.input_dropout,
    "recurrent_dropout": lambda s: s.recurrent_dropout,
}


@dataclass(frozen=True)
class Limit:
    """A feature the implementation cannot express, and why."""

    feature: str  # a key of FEATURES
    reason: str

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"unknown feature {self.feature!r}; known: {sorted(FEATURES)}")

    def applies(self, setting: Setting) -> bool:
        return FEATURES[self.feature](setting)


def unsupported_reason(
    name: str, dtypes: tuple[str, ...], limits: tuple[Limit, ...], setting: Setting
) -> str:
    """Why `name` cannot express `setting` ("" when it can)."""
    if setting.dtype not in dtypes:
        return f"{name} runs {', '.join(dtypes)}, not {setting.dtype}"
    return next((limit.reason for limit in limits if limit.applies(setting)), "")

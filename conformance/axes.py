"""The grid's axes, each declared once: its values, its part of a case id, when it applies.

A check kind (conformance/checks/) lists the axes it varies; every other axis keeps its default.
Sizes are chosen so that every array axis has its own length (seq 7, batch 5, input 10, hidden 9,
proj 8, layers x directions in {1, 2, 3, 4, 6}): an implementation that swaps two axes cannot
return the expected shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SEQ_LEN, BATCH, INPUT_SIZE, HIDDEN_SIZE, PROJ_SIZE = 7, 5, 10, 9, 8
DTYPES = ("float64", "float32")  # what every check kind runs in
# half precision: only the check kinds that declare it (CheckKind.dtypes) run in these
LOW_DTYPES = ("float16", "bfloat16")
ALL_DTYPES = (*DTYPES, *LOW_DTYPES)
MODE_LABELS = {  # label -> (mode, nonlinearity); labels are PyTorch's internal mode names
    "RNN_TANH": ("RNN", "tanh"),
    "RNN_RELU": ("RNN", "relu"),
    "LSTM": ("LSTM", "tanh"),
    "GRU": ("GRU", "tanh"),
}
# Per-row lengths of the `lengths` check (batch 5, seq 7): unsorted, a tie, the full length and
# length 1; "with_zero" adds rows of length 0, which frameworks treat differently, and has no row
# of full length (an output cut to the longest row, pad_packed_sequence without total_length,
# has the wrong shape there).
LENGTHS = {"full": None, "mixed": (3, 7, 1, 3, 5), "with_zero": (3, 0, 6, 1, 0)}


@dataclass(frozen=True)
class Axis:
    name: str  # the Case field it sets
    values: tuple
    token: Callable[[Any], str]  # its part of a case id, from the case ("" adds nothing)
    feature: str  # its row group in the report
    describe: Callable[[Mapping[str, Any]], str]  # its row in the report, from a record's config
    # the values it takes given the axes before it (e.g. proj_size only varies for LSTM)
    values_for: Callable[[Mapping[str, Any]], tuple] | None = None

    def values_given(self, earlier: Mapping[str, Any]) -> tuple:
        return self.values if self.values_for is None else self.values_for(earlier)


def _zero_length_probe(c: Mapping[str, Any]) -> tuple:
    """Rows of length 0 are probed on one layer, seq-first, bias, given state: what a framework
    does with them (raise, zeros, something else) does not depend on the rest."""
    small = c["num_layers"] == 1 and not c["batch_first"] and c["bias"] and c["proj_size"] == 0
    return ("mixed", "with_zero") if small and c["initial_state"] == "given" else ("mixed",)


DRAWN = "drawn (sizes)"


def drawn_or(key: str, describe: Callable[[Mapping[str, Any]], str]):
    """An axis's report row, or DRAWN for a record whose check kind draws that key (null)."""
    return lambda config: DRAWN if config.get(key, "") is None else describe(config)


def mode_name(config: Mapping[str, Any]) -> str:
    return f"RNN {config['nonlinearity']}" if config["mode"] == "RNN" else config["mode"]


LENGTH_NAMES = {"full": "full length", "mixed": "per-row lengths", "with_zero": "lengths with 0"}

MODE = Axis("mode_label", tuple(MODE_LABELS), lambda c: c.mode_label, "mode", mode_name)
LAYERS = Axis(
    "num_layers", (1, 2, 3), lambda c: f"L{c.num_layers}", "layers",
    drawn_or("num_layers", lambda config: f"{config['num_layers']} layer(s)"),
)  # fmt: skip
DIRECTIONS = Axis(
    "bidirectional", (False, True), lambda c: "bi" if c.bidirectional else "uni", "directions",
    drawn_or("bidirectional", lambda c: f"{'bi' if c['bidirectional'] else 'uni'}directional"),
)  # fmt: skip
LAYOUT = Axis(
    "batch_first", (False, True), lambda c: "batch_first" if c.batch_first else "seq_first",
    "layout", drawn_or("batch_first", lambda c: "batch_first" if c["batch_first"] else "seq_first"),
)  # fmt: skip
PROJECTION = Axis(
    "proj_size",
    (0, PROJ_SIZE),
    lambda c: f"proj{c.proj_size}" if c.mode == "LSTM" else "",
    "proj_size",
    drawn_or("proj_size", lambda c: "proj_size > 0" if c["proj_size"] else "proj_size 0"),
    values_for=lambda c: (0, PROJ_SIZE) if c["mode_label"] == "LSTM" else (0,),
)
BIAS = Axis(
    "bias", (True, False), lambda c: "bias" if c.bias else "nobias", "bias",
    drawn_or("bias", lambda config: "bias" if config["bias"] else "no bias"),
)  # fmt: skip
INITIAL_STATE = Axis(
    "initial_state", ("given", "zeros"), lambda c: "h0" if c.initial_state == "given" else "zeros",
    "initial state", drawn_or("initial_state", lambda config: f"h0 {config['initial_state']}"),
)  # fmt: skip
SEQUENCE_LENGTHS = Axis(
    "lengths",
    ("mixed", "with_zero"),
    lambda c: {"full": "", "mixed": "varlen", "with_zero": "zerolen"}[c.lengths],
    "lengths",
    lambda config: LENGTH_NAMES.get(config.get("lengths", "full"), "?"),
    values_for=_zero_length_probe,
)

DROPOUT_RATE = 0.5  # the non-zero rate below 1 of the dropout check: half the units dropped
# Dropout (the `dropout` check): which rate a case is about, and the property it checks of it.
DROPOUT_KINDS = {  # kind -> (its part of a case id, its row in the report)
    "between": ("between_layers", "dropout between layers (PyTorch)"),
    "input": ("input_dropout", "dropout on the input (Keras)"),
    "recurrent": ("recurrent_dropout", "dropout on the recurrent state (Keras)"),
}
DROPOUT_PROPERTIES = {  # property -> its part of a case id (and its row in the report)
    "inference_ignores": "inference ignores a non-zero rate",
    "training_rate0": "training with rate 0 equals inference",
    "training_changes": "training with a non-zero rate changes the output",
    "training_rate1": "training with rate 1 gives the documented result",
    "one_layer_ignores": "one layer ignores between-layer dropout in training",
}


def _dropout_properties(c: Mapping[str, Any]) -> tuple:
    """A one-layer module ignoring its dropout is PyTorch's between-layer rate only."""
    every = tuple(DROPOUT_PROPERTIES)
    return every if c["dropout"] == "between" else every[:-1]


DROPOUT = Axis(
    "dropout",
    tuple(DROPOUT_KINDS),
    lambda c: DROPOUT_KINDS[c.dropout][0] if c.dropout else "",
    "dropout",
    lambda config: DROPOUT_KINDS[config["dropout"]][1] if config.get("dropout") else "no dropout",
)
DROPOUT_PROPERTY = Axis(
    "dropout_property",
    tuple(DROPOUT_PROPERTIES),
    lambda c: c.dropout_property,
    "dropout property",
    lambda config: DROPOUT_PROPERTIES.get(config.get("dropout_property", ""), "none"),
    values_for=_dropout_properties,
)

LAYER_AXES = (MODE, LAYERS, DIRECTIONS, LAYOUT, PROJECTION, BIAS, INITIAL_STATE)
# every axis, in case-id order (the dropout axes add nothing to other checks' ids)
ALL_AXES = (*LAYER_AXES, SEQUENCE_LENGTHS, DROPOUT, DROPOUT_PROPERTY)


def _gradient_lengths(c: Mapping[str, Any]) -> tuple:
    """Backpropagation through per-row lengths on the two-layer configurations (both layers'
    state passing, every mode, direction, layout, bias and state): full length everywhere."""
    return ("full", "mixed") if c["num_layers"] == 2 else ("full",)


GRADIENT_LENGTHS = Axis(
    "lengths",
    ("full", "mixed"),
    SEQUENCE_LENGTHS.token,
    SEQUENCE_LENGTHS.feature,
    SEQUENCE_LENGTHS.describe,
    values_for=_gradient_lengths,
)

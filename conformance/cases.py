"""A case (one check of one configuration on one implementation in one dtype) and its data.

Weights and inputs are random per element (PyTorch's U(+-1/sqrt(H)) for weights), so each gate's
block differs and a gate-order mix-up changes the values (tests/test_harness_catches.py plants one
to prove it). They are drawn in float64 with its full precision, so a float64 path that rounds
through float32 fails; a float32 case gets them rounded to float32, and its reference is computed
in float64 from those rounded values, so it is judged by its arithmetic alone.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

import adapters
from adapters import Request, Setting
from adapters.layout import to_time_major

from .axes import (
    ALL_AXES,
    BATCH,
    DROPOUT_RATE,
    HIDDEN_SIZE,
    INPUT_SIZE,
    LENGTHS,
    MODE_LABELS,
    SEQ_LEN,
)


@dataclass(frozen=True)
class Sizes:
    """The array sizes of one example that a check kind draws (conformance/checks/sizes.py),
    in place of the grid's fixed ones (axes.SEQ_LEN, ...), and the seed of its values."""

    seq_len: int
    batch: int
    input_size: int
    hidden_size: int
    seed: int


@dataclass(frozen=True)
class Case:
    check: str
    mode_label: str
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    proj_size: int = 0
    bias: bool = True
    initial_state: str = "given"  # "given", or "zeros": h0/c0 not passed, the default is used
    lengths: str = "full"  # a key of axes.LENGTHS
    implementation: str = "numpy"
    dtype: str = "float64"
    # last, so that a Case built positionally (implementation, dtype) means what it meant
    dropout: str = ""  # a key of axes.DROPOUT_KINDS: the rate the case is about ("" none)
    dropout_property: str = ""  # a key of axes.DROPOUT_PROPERTIES
    sizes: Sizes | None = None  # None: the grid's fixed sizes; never part of the case id

    @property
    def mode(self) -> str:
        return MODE_LABELS[self.mode_label][0]

    @property
    def nonlinearity(self) -> str:
        return MODE_LABELS[self.mode_label][1]

    @property
    def id(self) -> str:
        from .checks import CHECKS

        kind = CHECKS.get(self.check)
        # a check kind that draws the rest of the configuration is named by its own axes only
        axes = kind.axes if kind is not None and kind.drawn else ALL_AXES
        tokens = [axis.token(self) for axis in axes]
        return "-".join([self.check, *filter(None, tokens), self.implementation, self.dtype])

    @property
    def seq_len(self) -> int:
        return SEQ_LEN if self.sizes is None else self.sizes.seq_len

    @property
    def batch(self) -> int:
        return BATCH if self.sizes is None else self.sizes.batch

    @property
    def spec(self) -> adapters.Spec:
        sizes = self.sizes
        return adapters.Spec(
            mode=self.mode,
            input_size=INPUT_SIZE if sizes is None else sizes.input_size,
            hidden_size=HIDDEN_SIZE if sizes is None else sizes.hidden_size,
            num_layers=self.num_layers,
            nonlinearity=self.nonlinearity,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
            dropout=DROPOUT_RATE if self.dropout == "between" else 0.0,
        )

    @property
    def training(self) -> bool:
        """Some run of the case is in training mode (every dropout property but one)."""
        return bool(self.dropout_property) and self.dropout_property != "inference_ignores"

    @property
    def setting(self) -> Setting:
        from .checks import CHECKS  # the check kinds build on cases: imported when asked

        spec = self.spec
        if self.dropout_property == "training_rate0":  # its training run has every rate 0
            spec = replace(spec, dropout=0.0)
        return Setting(
            spec=spec,
            dtype=self.dtype,
            lengths=self.lengths != "full",
            zero_length=0 in (LENGTHS[self.lengths] or ()),
            gradients=CHECKS[self.check].gradients if self.check else False,
            training=self.training,
            input_dropout=self.dropout == "input",
            recurrent_dropout=self.dropout == "recurrent",
        )

    @property
    def data_key(self) -> Case:
        """What decides the weights and inputs: shared by every check, implementation, dtype and
        layout of one layer configuration."""
        return replace(
            self,
            check="",
            implementation="",
            dtype="",
            batch_first=False,
            lengths="full",
            dropout="",
            dropout_property="",
        )

    def config(self) -> dict:
        """The `config` of a results-file record (docs/RESULTS.md). A dropout case adds which
        rate it is about, its non-zero value and the property. A check kind that draws its
        examples has no one configuration: what it draws is null there, and `drawn` says from
        where (an example's own case, with `sizes`, gives its values)."""
        from .checks import CHECKS

        dropout = {}
        if self.dropout:
            dropout = {
                "dropout": self.dropout,
                "dropout_rate": DROPOUT_RATE,
                "dropout_property": self.dropout_property,
            }
        config = dropout | {
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "batch_first": self.batch_first,
            "proj_size": self.proj_size,
            "bias": self.bias,
            "initial_state": self.initial_state,
            "lengths": self.lengths,
            "dtype": self.dtype,
            "seq_len": self.seq_len,
            "batch": self.batch,
            "input_size": self.spec.input_size,
            "hidden_size": self.spec.hidden_size,
            "sequence_lengths": None
            if LENGTHS[self.lengths] is None
            else list(LENGTHS[self.lengths]),
        }
        drawn = CHECKS[self.check].drawn if self.check in CHECKS else {}
        if drawn and self.sizes is None:
            config |= {name: None for name in drawn}
            config["drawn"] = dict(drawn)
        return config


@dataclass(frozen=True)
class CaseData:
    """Weights and inputs of a layer configuration: float64, time-major (the canonical layout)."""

    params: dict
    x: np.ndarray
    h0: np.ndarray | None
    c0: np.ndarray | None


def seed_text(data_key: Case) -> str:
    """What seeds a configuration's values: the key's repr without the fields added after the
    first release (dropout, sizes) while they keep their defaults, so that a grid case keeps the
    weights and inputs it had and a baseline saved before compares value for value."""
    text = repr(data_key)
    for name in ("dropout", "dropout_property", "sizes"):
        default = getattr(Case, name)
        if getattr(data_key, name) == default:
            text = text.replace(f", {name}={default!r}", "")
    return text


@lru_cache(maxsize=512)
def make_data(data_key: Case) -> CaseData:
    """Deterministic per layer configuration, in float64's full precision."""
    seed = zlib.crc32(seed_text(data_key).encode())
    spec = data_key.spec
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(spec.hidden_size)
    shapes = adapters.param_shapes(spec)
    params = {name: rng.uniform(-bound, bound, size=shape) for name, shape in shapes.items()}
    rows = spec.num_layers * spec.num_directions
    seq_len, batch = data_key.seq_len, data_key.batch
    x = rng.uniform(-1, 1, size=(seq_len, batch, spec.input_size))
    h0 = c0 = None
    if data_key.initial_state == "given":
        h0 = rng.uniform(-1, 1, size=(rows, batch, spec.output_size))
        c0 = (
            rng.uniform(-1, 1, size=(rows, batch, spec.hidden_size))
            if spec.has_cell_state
            else None
        )
    return CaseData(params, x, h0, c0)


@lru_cache(maxsize=512)
def make_cotangents(data_key: Case) -> dict[str, np.ndarray]:
    """Fixed random weights of output, h_n and c_n for the vector-Jacobian product: float64,
    time-major, from their own seed so that the weights and inputs are those of every check."""
    rng = np.random.default_rng(zlib.crc32(seed_text(data_key).encode() + b"cotangents"))
    spec = data_key.spec
    rows, seq_len, batch = spec.num_layers * spec.num_directions, data_key.seq_len, data_key.batch
    cotangents = {
        "output": rng.uniform(-1, 1, size=(seq_len, batch, spec.num_directions * spec.output_size)),
        "h_n": rng.uniform(-1, 1, size=(rows, batch, spec.output_size)),
    }
    if spec.has_cell_state:
        cotangents["c_n"] = rng.uniform(-1, 1, size=(rows, batch, spec.hidden_size))
    return cotangents


def request_for(case: Case) -> Request:
    """The case's inputs in its dtype and layout, as the implementation gets them.

    A float32 case's values are rounded to float32 here; `widened` of this request gives the
    reference exactly the values the implementation saw.
    """
    dtype = np.dtype(case.dtype)
    data = make_data(case.data_key)

    def cast(a):
        return None if a is None else a.astype(dtype)

    spec = case.spec
    x = cast(data.x)
    x = np.ascontiguousarray(np.swapaxes(x, 0, 1)) if spec.batch_first else x
    lengths = LENGTHS[case.lengths]
    return Request(
        spec=spec,
        params={name: cast(value) for name, value in data.params.items()},
        x=x,
        h0=cast(data.h0),
        c0=cast(data.c0),
        lengths=None if lengths is None else np.array(lengths, dtype=np.int64),
    )


def request_with_cotangents(case: Case) -> Request:
    """The case's request, asking for gradients too: cotangents in its dtype and layout."""
    request = request_for(case)
    cotangents = {
        name: value.astype(case.dtype) for name, value in make_cotangents(case.data_key).items()
    }
    if case.spec.batch_first:
        cotangents["output"] = np.ascontiguousarray(np.swapaxes(cotangents["output"], 0, 1))
    return replace(request, cotangents=cotangents)


def widened(request: Request) -> Request:
    """The same request in float64, time-major: what the reference runs."""

    def wide(a):
        return None if a is None else a.astype(np.float64)

    x = request.x if not request.spec.batch_first else np.swapaxes(request.x, 0, 1)
    cotangents = request.cotangents
    if cotangents is not None:
        cotangents = {name: wide(value) for name, value in cotangents.items()}
        cotangents["output"] = to_time_major(cotangents["output"], request.spec.batch_first)
    return replace(
        request,
        cotangents=cotangents,
        spec=replace(request.spec, batch_first=False),
        params={name: wide(value) for name, value in request.params.items()},
        x=wide(x),
        h0=wide(request.h0),
        c0=wide(request.c0),
    )

"""The forward grid, generated in one place.

Sizes are chosen so that every axis has its own length (seq 7, batch 5, input 10, hidden 9,
proj 8, layers x directions in {1, 2, 3, 4, 6}): an implementation that swaps two axes cannot
return the expected shape. Weights are random per element, so each gate's block differs and a
gate-order mix-up changes the values (tests/test_harness_catches.py plants one to prove it).
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

import adapters

SEQ_LEN, BATCH, INPUT_SIZE, HIDDEN_SIZE, PROJ_SIZE = 7, 5, 10, 9, 8
LAYER_COUNTS = (1, 2, 3)
DTYPES = ("float64", "float32")
MODE_LABELS = {  # label -> (mode, nonlinearity); labels are PyTorch's internal mode names
    "RNN_TANH": ("RNN", "tanh"),
    "RNN_RELU": ("RNN", "relu"),
    "LSTM": ("LSTM", "tanh"),
    "GRU": ("GRU", "tanh"),
}
INITIAL_STATES = ("given", "zeros")  # zeros: h0/c0 not passed, the implementation's default


@dataclass(frozen=True)
class Case:
    mode_label: str
    num_layers: int
    bidirectional: bool
    batch_first: bool
    proj_size: int
    bias: bool
    initial_state: str
    implementation: str
    dtype: str

    @property
    def mode(self) -> str:
        return MODE_LABELS[self.mode_label][0]

    @property
    def nonlinearity(self) -> str:
        return MODE_LABELS[self.mode_label][1]

    @property
    def id(self) -> str:
        parts = [
            self.mode_label,
            f"L{self.num_layers}",
            "bi" if self.bidirectional else "uni",
            "batch_first" if self.batch_first else "seq_first",
        ]
        if self.mode == "LSTM":
            parts.append(f"proj{self.proj_size}")
        parts += [
            "bias" if self.bias else "nobias",
            "h0" if self.initial_state == "given" else "zeros",
            self.implementation,
            self.dtype,
        ]
        return "-".join(parts)

    @property
    def spec(self) -> adapters.Spec:
        return adapters.Spec(
            mode=self.mode,
            input_size=INPUT_SIZE,
            hidden_size=HIDDEN_SIZE,
            num_layers=self.num_layers,
            nonlinearity=self.nonlinearity,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
        )

    @property
    def layer_config(self) -> Case:
        """The case with implementation and dtype erased: what shares weights and inputs."""
        return replace(self, implementation="", dtype="", batch_first=False)

    def config(self) -> dict:
        """The `config` of a results-file record (CONTRACT.md section 2)."""
        return {
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "batch_first": self.batch_first,
            "proj_size": self.proj_size,
            "bias": self.bias,
            "initial_state": self.initial_state,
            "dtype": self.dtype,
            "seq_len": SEQ_LEN,
            "batch": BATCH,
            "input_size": INPUT_SIZE,
            "hidden_size": HIDDEN_SIZE,
        }


def all_cases(
    implementations: list[str] | None = None,
    dtypes: tuple[str, ...] = DTYPES,
    mode_labels: tuple[str, ...] = tuple(MODE_LABELS),
) -> list[Case]:
    implementations = list(adapters.IMPLEMENTATIONS) if implementations is None else implementations
    cases = []
    for label, layers, bi, batch_first, bias, initial_state in itertools.product(
        mode_labels, LAYER_COUNTS, (False, True), (False, True), (True, False), INITIAL_STATES
    ):
        projections = (0, PROJ_SIZE) if MODE_LABELS[label][0] == "LSTM" else (0,)
        for proj, impl, dtype in itertools.product(projections, implementations, dtypes):
            cases.append(
                Case(label, layers, bi, batch_first, proj, bias, initial_state, impl, dtype)
            )
    return cases


@lru_cache(maxsize=1)
def cases_by_id() -> dict[str, Case]:
    """Every case of every registered implementation, by id (built once)."""
    return {case.id: case for case in all_cases()}


def case_from_id(case_id: str) -> Case:
    try:
        return cases_by_id()[case_id]
    except KeyError:
        example = next(iter(cases_by_id()))
        raise ValueError(f"no case with id {case_id!r}; ids look like {example!r}") from None


@dataclass(frozen=True)
class CaseData:
    """Weights and inputs of a case, in float64 and time-major (the canonical layout)."""

    params: dict
    x: np.ndarray
    h0: np.ndarray | None
    c0: np.ndarray | None


def make_data(case: Case) -> CaseData:
    """Deterministic per layer configuration, identical for every implementation and dtype.

    Values are drawn in float32 and widened, so float32 runs see exactly the reference's inputs.
    """
    seed = zlib.crc32(repr(case.layer_config).encode())
    spec = case.spec
    params = {k: v.astype(np.float64) for k, v in adapters.init_params(spec, seed=seed).items()}
    rng = np.random.default_rng(seed + 1)

    def draw(*shape):
        return rng.uniform(-1, 1, size=shape).astype(np.float32).astype(np.float64)

    rows = spec.num_layers * spec.num_directions
    x = draw(SEQ_LEN, BATCH, INPUT_SIZE)
    h0 = c0 = None
    if case.initial_state == "given":
        h0 = draw(rows, BATCH, spec.output_size)
        c0 = draw(rows, BATCH, spec.hidden_size) if spec.has_cell_state else None
    return CaseData(params, x, h0, c0)

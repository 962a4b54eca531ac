"""Declared, explained disagreements between an implementation and the reference.

A divergence is a finding, not a tolerance: the check stays strict. A case it covers is reported
as `known-divergence` while it still disagrees, and FAILS once it agrees again, so an upstream fix
is noticed and the declaration removed. Each entry names the implementation, the package versions
it was seen with (a PEP 440 specifier), which cases, why, and the upstream link.

An implementation that raises where a divergence is declared is a known divergence too (a layer
that cannot run a dtype it accepts is a disagreement, not an unsupported setting). Each entry
carries a minimal repro that uses the framework alone. tests/test_divergences.py shows the
mechanism on a planted divergence.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet

from .cases import Case


@dataclass(frozen=True)
class KnownDivergence:
    implementation: str
    package: str  # the distribution whose version decides, e.g. "keras"
    versions: str  # PEP 440 specifier, e.g. ">=3.0,<3.16"
    applies_to: Callable[[Case], bool]
    reason: str
    link: str
    repro: str = ""  # a few lines that show it with the framework alone

    def covers(self, case: Case) -> bool:
        if case.implementation != self.implementation or not self.applies_to(case):
            return False
        try:
            installed = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return SpecifierSet(self.versions).contains(installed, prereleases=True)


KERAS_FLOAT64_REASON = (
    "Keras on {backend} does not compute float64 layers in float64: backend.result_type maps "
    "float64 to float32 on every backend but TensorFlow (BIT64_TO_BIT32_DTYPE), so {what}"
)

KNOWN_DIVERGENCES: list[KnownDivergence] = [
    KnownDivergence(
        implementation="flax-nnx",
        package="flax",
        versions=">=0.8",
        applies_to=lambda case: case.mode == "GRU" and case.bias,
        reason=(
            "nnx.GRUCell has no hidden-side bias (dense_h has use_bias=False), so a ported "
            "GRU's b_hn has no place: n = tanh(W_in x + b_in + r * W_hn h) misses r * b_hn"
        ),
        link="https://github.com/google/flax/issues/5594",
        repro=(
            "from flax import nnx; cell = nnx.GRUCell(3, 4, rngs=nnx.Rngs(0)); print({'/'.join("
            "map(str, k)): v.shape for k, v in nnx.state(cell, nnx.Param).flat_state()})"
            "  # dense_h/kernel, dense_i/bias, dense_i/kernel: no hidden bias"
        ),
    ),
    KnownDivergence(
        implementation="keras-torch",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: case.mode == "RNN" and case.dtype == "float64",
        reason=KERAS_FLOAT64_REASON.format(
            backend="PyTorch",
            what="SimpleRNN's keras.ops.matmul runs in float32 (errors ~1e-7, not ~1e-16); "
            "LSTM and GRU keep float64",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=torch python -c "import numpy as np, keras; '
            "a = keras.ops.ones((2, 2), dtype='float64'); print(keras.ops.matmul(a, a).dtype)\""
            "  # torch.float32"
        ),
    ),
    KnownDivergence(
        implementation="keras-jax",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: case.dtype == "float64" and case.mode_label != "RNN_RELU",
        reason=KERAS_FLOAT64_REASON.format(
            backend="JAX (x64 enabled)",
            what="keras.ops.tanh returns float32: a tanh SimpleRNN fails (scan carry float64 in, "
            "float32 out) and LSTM/GRU come out with float32 accuracy (~1e-7); relu is unaffected",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=jax JAX_ENABLE_X64=1 python -c "import keras; '
            "print(keras.ops.tanh(keras.ops.ones((2,), dtype='float64')).dtype)\"  # float32"
        ),
    ),
]


def divergence_for(case: Case) -> KnownDivergence | None:
    return next((d for d in KNOWN_DIVERGENCES if d.covers(case)), None)

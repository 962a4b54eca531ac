"""Declared, explained disagreements between an implementation and the reference.

A divergence is a finding, not a tolerance: the check stays strict. Each entry names the
implementation, the package versions it was seen with (a PEP 440 specifier), which cases, why,
the upstream link and a minimal repro that uses the framework alone, and it is bounded:

- `tensors`: the only compared tensors it explains (None: any). A case is `known-divergence` only
  when every tensor that differs is explained by a divergence that covers the case; anything
  else that differs makes it `failed`. A wrong shape, a missing or extra tensor, a wrong dtype
  or a value that is not an array is never explained.
- What the framework computes instead, so that the explained tensors stay checked: `computes`
  (the expected tensors as the framework documents them, compared at the case's tolerance),
  `within` (the dtype whose tolerance they still meet, e.g. float32 accuracy in a float64 case)
  or `finite` (only that they are finite numbers, where the framework leaves them unspecified).
- `raises`: the exception it explains, a regex searched in "Type: message" (empty: none). An
  implementation that raises anything else where a divergence is declared is an `error`.
- `checks`: the check kinds it covers. By default every kind compared with the reference (what
  it says is computed instead is a statement about the reference) and, for a divergence that
  only raises, every kind (the framework raises whatever is compared). A relation between runs
  of the same implementation, or a documented claim, is covered only where it is named.
- A covered case in which a divergence no longer shows (its tensors agree, or it no longer
  raises) FAILS, so an upstream fix is noticed and the declaration removed.

tests/test_divergences.py shows the mechanism on planted divergences.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from packaging.specifiers import SpecifierSet

from adapters import Request, numpy_reference
from adapters.request import Tensors

from .cases import Case
from .checks import CHECKS


def nnx_gru_without_b_hn(request: Request) -> Request:
    """What nnx.GRUCell computes: PyTorch's GRU with b_hn = 0 (it has no place for it)."""
    params = dict(request.params)
    for name, value in request.params.items():
        if name.startswith("bias_hh"):
            params[name] = np.concatenate([value[: 2 * len(value) // 3], np.zeros(len(value) // 3)])
    return replace(request, params=params)


def no_b_hn_gradient(request: Request, reference: Tensors) -> Tensors:
    """nnx.GRUCell has no b_hn, so nothing it computes depends on the canonical b_hn: the n part
    of each grad_bias_hh is 0 (the r and z parts, folded into dense_i's bias, are kept)."""
    results = dict(reference)
    for name, value in reference.items():
        if name.startswith("grad_bias_hh"):
            third = len(value) // 3
            results[name] = np.concatenate([value[: 2 * third], np.zeros(third)])
    return results


def keras_masked_outputs(request: Request, reference: Tensors) -> Tensors:
    """What a unidirectional Keras RNN outputs at masked steps: the row's last valid output
    (zero_output_for_mask=False), 0 for a row with none."""
    output = reference["output"].copy()  # time-major: (seq, batch, features)
    for row, length in enumerate(request.lengths):
        output[length:, row] = output[length - 1, row] if length else 0.0
    return {**reference, "output": output}


def keras_jax_masked_outputs(request: Request, reference: Tensors) -> Tensors:
    """As keras_masked_outputs, but Keras on JAX outputs the initial state (not 0) at the masked
    steps of a row that has no valid step (docs/findings/keras-jax-masked-row-outputs-h0.md)."""
    results = keras_masked_outputs(request, reference)
    output = results["output"]
    spec = request.spec
    if request.h0 is not None:
        last_layer = (spec.num_layers - 1) * spec.num_directions
        for row in np.flatnonzero(request.lengths == 0):
            output[:, row] = request.h0[last_layer, row]
    return results


def keras_masked_output_gradients(request: Request) -> Request:
    """The gradients of keras_masked_outputs: a masked step repeats the row's last valid output,
    so its cotangent flows into that step (into nothing for a row with no valid step)."""
    output = request.cotangents["output"].copy()  # time-major in the widened request
    for row, length in enumerate(request.lengths):
        if length:
            output[length - 1, row] += output[length:, row].sum(axis=0)
        output[length:, row] = 0.0
    return replace(request, cotangents={**request.cotangents, "output": output})


def state_after_the_padding(request: Request, reference: Tensors) -> Tensors:
    """What jax.experimental.rnn and Flax give a row of length 0 as final state: the carry after
    the last padded step, i.e. the state of running the row to the full length."""
    unmasked = numpy_reference.run(replace(request, lengths=None))
    empty = request.lengths == 0
    states = {name: reference[name].copy() for name in ("h_n", "c_n") if name in reference}
    for name in states:
        states[name][:, empty] = unmasked[name][:, empty]
    return {**reference, **states}


def zero_state_for_empty_rows(request: Request, reference: Tensors) -> Tensors:
    """ONNX Runtime: a row of length 0 ends with a zero state, not its initial state."""
    empty = request.lengths == 0
    results = dict(reference)
    for name in ("h_n", "c_n"):
        if results.get(name) is not None:
            results[name] = np.where(empty[None, :, None], 0.0, results[name])
    return results


def lengths_ignored(request: Request) -> Request:
    """onnx.reference: every row runs the whole sequence, whatever sequence_lens says."""
    return replace(request, lengths=None)


def dropout_ignored(request: Request) -> Request:
    """What a Keras LSTM or GRU computes in training with a rate of 1 its cell ignores:
    inference, every rate 0 (the reference is inference whatever the request's rates)."""
    spec = replace(request.spec, dropout=0.0)
    return replace(request, spec=spec, training=False, input_dropout=0.0, recurrent_dropout=0.0)


def dropout_removed(request: Request, expected: Tensors) -> Tensors:
    """ONNX Runtime without the graph's Dropout nodes: training equals inference, so no step of
    `output` changes (the training_changes property's `output_changed` is 0 everywhere)."""
    return {**expected, "output_changed": np.zeros_like(expected["output_changed"])}


@cache
def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@cache
def version_matches(specifier: str, version: str) -> bool:
    return SpecifierSet(specifier).contains(version, prereleases=True)


@dataclass(frozen=True)
class KnownDivergence:
    implementation: str
    package: str  # the distribution whose version decides, e.g. "keras"
    versions: str  # PEP 440 specifier, e.g. ">=3.0,<3.16"
    applies_to: Callable[[Case], bool]
    reason: str
    link: str
    repro: str = ""  # a few lines that show it with the framework alone
    tensors: tuple[str, ...] | None = None  # the compared tensors it explains; None: any
    raises: str = ""  # the exception it explains: a regex searched in "Type: message"
    # what the framework computes instead (one of these, unless it only raises):
    # the reference of other inputs (a parameter the framework has no place for) ...
    computes_with: Callable[[Request], Request] | None = None
    # ... or other results from the (widened) request and the reference's results
    computes: Callable[[Request, Tensors], Tensors] | None = None
    within: str = ""  # the dtype whose tolerance the explained tensors still meet
    finite: bool = False  # the explained tensors are finite, nothing more is specified
    checks: tuple[str, ...] = ()  # the check kinds it covers; () see covers_check

    def __post_init__(self) -> None:
        computes = self.computes is not None or self.computes_with is not None
        bounds = [computes, bool(self.within), self.finite]
        if sum(bounds) != (0 if self.raises else 1):
            raise ValueError(
                f"{self.implementation} {self.link}: declare what it computes instead: exactly "
                "one of computes, within, finite (none for a divergence that only raises)"
            )

    @property
    def bound(self) -> str:
        if self.computes is not None or self.computes_with is not None:
            how = ", ".join(f.__name__ for f in (self.computes_with, self.computes) if f)
            return f"equal to what it computes instead ({how})"
        if self.within:
            return f"within {self.within} tolerance"
        return "finite" if self.finite else f"raising {self.raises}"

    def explains_error(self, summary: str) -> bool:
        return bool(self.raises) and re.search(self.raises, summary, re.DOTALL) is not None

    def explains(self, tensor: str) -> bool:
        """`tensors` names them; "grad_*" stands for every gradient."""
        return self.tensors is None or any(
            tensor == name or (name.endswith("*") and tensor.startswith(name[:-1]))
            for name in self.tensors
        )

    def as_record(self) -> dict:
        return {
            "implementation": self.implementation,
            "reason": self.reason,
            "link": self.link,
            "repro": self.repro,
            "tensors": None if self.tensors is None else list(self.tensors),
            "raises": self.raises,
            "bound": self.bound,
        }

    def covers_check(self, check: str) -> bool:
        if self.checks:
            return check in self.checks
        kind = CHECKS.get(check)
        return bool(self.raises) or kind is None or kind.against_reference

    def covers(self, case: Case) -> bool:
        if case.implementation != self.implementation or not self.covers_check(case.check):
            return False
        if not self.applies_to(case):
            return False
        installed = installed_version(self.package)
        return installed is not None and version_matches(self.versions, installed)


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
        computes_with=nnx_gru_without_b_hn,
        computes=no_b_hn_gradient,
    ),
    KnownDivergence(
        implementation="keras-torch",
        package="keras",
        versions=">=3.0",
        # SimpleRNN always runs the generic cell loop; LSTM and GRU fall back to it under a mask
        # (keras/src/backend/torch/rnn.py: lstm/gru raise NotImplementedError for a mask).
        applies_to=lambda case: (
            case.dtype == "float64" and (case.mode == "RNN" or case.lengths != "full")
        ),
        reason=KERAS_FLOAT64_REASON.format(
            backend="PyTorch",
            what="the generic cell loop's keras.ops.matmul runs in float32 (errors ~1e-7, not "
            "~1e-16, in outputs, states and gradients): SimpleRNN always, LSTM and GRU with a mask "
            "(their fused torch path refuses masks); unmasked LSTM and GRU keep float64",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=torch python -c "import numpy as np, keras; '
            "a = keras.ops.ones((2, 2), dtype='float64'); print(keras.ops.matmul(a, a).dtype)\""
            "  # torch.float32"
        ),
        tensors=("output", "h_n", "c_n", "grad_*"),
        within="float32",
    ),
    KnownDivergence(
        implementation="keras-torch",
        package="keras",
        versions=">=3.0",
        # the same float32 matmul: its rounding depends on how many rows the product has and in
        # which order, so a float64 SimpleRNN's rows differ by ~1e-7 between the batch in
        # order, permuted and of one; chunking and reversing keep the rows and agree exactly
        applies_to=lambda case: case.dtype == "float64" and case.mode == "RNN",
        reason=KERAS_FLOAT64_REASON.format(
            backend="PyTorch",
            what="a float64 SimpleRNN's rows are computed in float32 and depend on the batch "
            "around them at float32 accuracy (~5e-8): the permuted batch and the batch of one "
            "differ from the batch in order by that much, not by float64 rounding",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=torch python -c "import numpy as np, keras; '
            "a = keras.ops.ones((2, 2), dtype='float64'); print(keras.ops.matmul(a, a).dtype)\""
            "  # torch.float32"
        ),
        tensors=("output", "h_n", "output_alone", "h_n_alone"),
        within="float32",
        checks=("batch_rows",),
    ),
    KnownDivergence(
        implementation="keras-jax",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: (
            case.dtype == "float64" and case.mode_label == "RNN_TANH" and case.lengths == "full"
        ),
        reason=KERAS_FLOAT64_REASON.format(
            backend="JAX (x64 enabled)",
            what="keras.ops.tanh returns float32 and an unmasked tanh SimpleRNN raises (scan "
            "carry float64 in, float32 out)",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=jax JAX_ENABLE_X64=1 python -c "import keras; '
            "print(keras.ops.tanh(keras.ops.ones((2,), dtype='float64')).dtype)\"  # float32"
        ),
        raises=r"TypeError: .*scan body function carry input and carry output must have equal",
    ),
    KnownDivergence(
        implementation="keras-jax",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: (
            case.dtype == "float64"
            and case.mode_label != "RNN_RELU"
            and not (case.mode_label == "RNN_TANH" and case.lengths == "full")
        ),
        reason=KERAS_FLOAT64_REASON.format(
            backend="JAX (x64 enabled)",
            what="keras.ops.tanh returns float32: LSTM, GRU and a masked tanh SimpleRNN come out "
            "with float32 accuracy (~1e-7), gradients too; relu is unaffected",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=jax JAX_ENABLE_X64=1 python -c "import keras; '
            "print(keras.ops.tanh(keras.ops.ones((2,), dtype='float64')).dtype)\"  # float32"
        ),
        tensors=("output", "h_n", "c_n", "grad_*"),
        within="float32",
    ),
    *(
        KnownDivergence(
            implementation=name,
            package="keras",
            versions=">=3.0",
            applies_to=lambda case: case.check == "lengths" and not case.bidirectional,
            reason=(
                "Keras masking repeats a row's last valid output at its masked steps "
                "(RNN(zero_output_for_mask=False), the default; before the first valid step 0, "
                "or on JAX the initial state), where PyTorch's pad_packed_sequence pads with 0. "
                "Valid steps and final states agree; Bidirectional sets "
                "zero_output_for_mask=True and agrees fully"
            ),
            link="https://keras.io/api/layers/recurrent_layers/rnn/",
            repro=(
                "python -c \"import numpy as np, keras; x = np.ones((1, 3, 2), 'float32'); "
                "y = keras.layers.SimpleRNN(2, return_sequences=True)(x, mask=np.array([[1, 0, 0]],"
                ' bool)); print(np.asarray(y)[0])"  # rows 1 and 2 repeat row 0, not 0'
            ),
            tensors=("output_padding",),
            computes=computes,
        )
        for name, computes in (
            ("keras", keras_masked_outputs),
            ("keras-jax", keras_jax_masked_outputs),
            ("keras-torch", keras_masked_outputs),
            ("keras-onnx", keras_masked_outputs),  # tf2onnx reproduces Keras's masking exactly
        )
    ),
    *(
        KnownDivergence(
            implementation=name,
            package="keras",
            versions=">=3.0",
            applies_to=lambda case: (
                case.check == "gradients" and case.lengths != "full" and not case.bidirectional
            ),
            reason=(
                "the gradient of Keras's masked outputs: a masked step repeats the row's last "
                "valid output (zero_output_for_mask=False), so the cotangent given to a padded "
                "step flows back through the last valid step, where PyTorch's padding is a "
                "constant 0 that passes nothing back"
            ),
            link="https://keras.io/api/layers/recurrent_layers/rnn/",
            repro=(
                'python -c "import numpy as np, tensorflow as tf, keras; x = tf.ones((1, 3, 2)); '
                "layer = keras.layers.SimpleRNN(2, return_sequences=True); tape = tf.GradientTape()"
                "; tape.__enter__(); tape.watch(x); y = layer(x, mask=np.array([[1, 0, 0]], bool))"
                "; loss = tf.reduce_sum(y[:, 1:]); tape.__exit__(None, None, None); "
                'print(tape.gradient(loss, x)[0])"  # row 0 is not 0: padded steps pass gradient'
            ),
            tensors=("grad_*",),
            computes_with=keras_masked_output_gradients,
        )
        for name in ("keras", "keras-jax", "keras-torch")
    ),
    *(
        KnownDivergence(
            implementation=name,
            package="flax",
            versions=">=0.7.1",
            applies_to=lambda case: case.check == "lengths",
            reason=(
                "Flax's RNN with seq_lengths leaves the outputs past each row's length as "
                "computed (documented: 'NOT zeroed out'), where PyTorch pads with 0; valid steps "
                "and final states agree"
            ),
            link="https://flax.readthedocs.io/en/latest/api_reference/flax.linen/layers.html"
            "#flax.linen.RNN",
            repro=(
                'python -c "import jax, jax.numpy as jnp, flax.linen as nn; m = nn.RNN('
                "nn.SimpleCell(2)); x = jnp.ones((1, 3, 2)); v = m.init(jax.random.key(0), x); "
                'print(m.apply(v, x, seq_lengths=jnp.array([1]))[0])"  # rows 1, 2 are not 0'
            ),
            tensors=("output_padding",),
            finite=True,
        )
        for name in ("flax", "flax-optimized", "flax-nnx", "flax-nnx-optimized")
    ),
    *(
        KnownDivergence(
            implementation=name,
            package=package,
            versions=versions,
            applies_to=lambda case: case.lengths == "with_zero",
            reason=(
                "a row of length 0 gets as final state the carry after the LAST padded step, "
                "not its initial state: the last valid carry is picked at index seq_lengths - 1, "
                "which is -1 for length 0 (jax.experimental.rnn._select_last_carry; Flax's "
                "_select_last_carry the same)"
            ),
            link="docs/findings/zero-length-rows-jax-flax.md",
            repro=repro,
            tensors=("h_n", "c_n"),
            computes=state_after_the_padding,
        )
        for name, package, versions, repro in (
            (
                "jax",
                "jax",
                ">=0.4.8",
                "see docs/findings/zero-length-rows-jax-flax.md (jax.experimental.rnn.lstm_ref)",
            ),
            *(
                (
                    name,
                    "flax",
                    ">=0.7.1",
                    "see docs/findings/zero-length-rows-jax-flax.md (flax.linen.RNN)",
                )
                for name in ("flax", "flax-optimized", "flax-nnx", "flax-nnx-optimized")
            ),
        )
    ),
    KnownDivergence(
        implementation="onnxruntime",
        package="onnxruntime",
        versions=">=1.0",
        applies_to=lambda case: case.lengths == "with_zero",
        reason=(
            "ONNX Runtime's RNN, LSTM and GRU kernels give a row of sequence length 0 a zero final "
            "state (Y_h, Y_c), not its initial state (PyTorch: h0). ONNX's operator spec does not "
            "say which (onnx/onnx#1674); ONNX Runtime fills zeros on purpose (onnxruntime#28052)"
        ),
        link="https://github.com/onnx/onnx/issues/1674",
        repro="see docs/findings/onnx-runtime-zero-length-rows.md",
        tensors=("h_n", "c_n"),
        computes=zero_state_for_empty_rows,
    ),
    KnownDivergence(
        implementation="onnx-reference",
        package="onnx",
        versions=">=1.13",
        applies_to=lambda case: case.lengths != "full",
        reason=(
            "onnx.reference's RNN, LSTM and GRU ignore the sequence_lens input (the argument is "
            "accepted and unused): every row runs all T steps, so padded outputs are not 0 and "
            "final states are taken after the last padded step"
        ),
        link="docs/findings/onnx-reference-ignores-sequence-lens.md",
        repro="see docs/findings/onnx-reference-ignores-sequence-lens.md",
        tensors=("output", "output_padding", "h_n", "c_n"),
        computes_with=lengths_ignored,
    ),
    KnownDivergence(
        implementation="onnx-reference",
        package="onnx",
        versions=">=1.13",
        applies_to=lambda case: case.mode_label == "RNN_RELU",
        reason=(
            "onnx.reference's RNN implements only the Tanh and Affine activations of the list "
            "the ONNX spec gives it (Relu, Tanh, Sigmoid, ...): activations=['Relu'] raises"
        ),
        link="docs/findings/onnx-reference-rnn-relu.md",
        repro="see docs/findings/onnx-reference-rnn-relu.md",
        raises=r"RuntimeError: Unknown activation function 'Relu'",
    ),
    KnownDivergence(
        implementation="torch-onnx",
        package="torch",
        versions=">=2.9",
        applies_to=lambda case: case.lengths != "full",
        reason=(
            "the default ONNX exporter (torch.export) cannot trace pack_padded_sequence / "
            "pad_packed_sequence around the layer (data-dependent batch sizes); the TorchScript "
            "exporter can, and torch-onnx-legacy passes those cases"
        ),
        link="docs/findings/torch-onnx-dynamo-packed-sequence.md",
        repro="see docs/findings/torch-onnx-dynamo-packed-sequence.md",
        # torch.export's own failure, and only with the causes seen on packed sequences: the
        # data-dependent batch sizes (initial states given) or zeros() of them (none given)
        raises=(
            r"TorchExportError: Failed to export the model with torch\.export.*Exception summary"
            r"\s*<class '[\w.]*GuardOnDataDependentSymNode'>: Could not "
            r"(guard on|extract specialized integer from) data-dependent"
            r"|TorchExportError: Failed to export the model with torch\.export.*Exception summary"
            r"\s*<class 'TypeError'>: zeros\(\): argument 'size' failed to unpack"
        ),
    ),
    KnownDivergence(
        implementation="torch-onnx",
        package="torch",
        versions=">=2.9",
        applies_to=lambda case: case.proj_size > 0 and case.lengths == "full",
        reason=(
            "the default ONNX exporter writes an LSTM with proj_size as an ONNX LSTM node with "
            "hidden_size = proj_size and the cell-sized initial_c (bidirectional: a Concat of "
            "mismatched ranks), a graph ONNX Runtime refuses to run; no export error or warning"
        ),
        link="docs/findings/torch-onnx-dynamo-lstm-proj-size.md",
        repro="see docs/findings/torch-onnx-dynamo-lstm-proj-size.md",
        # unidirectional: refused at run time; bidirectional: refused when the session is made
        raises=r"Input initial_c must have shape|All inputs to Concat must have same rank",
    ),
    KnownDivergence(
        implementation="torch-onnx",
        package="onnxruntime",
        versions=">=1.0",
        applies_to=lambda case: case.dtype == "float64" and case.mode in ("GRU", "LSTM"),
        reason=(
            "the default exporter writes GRU and LSTM as ONNX GRU/LSTM nodes, whose double "
            "version ONNX allows and ONNX Runtime's CPU kernels refuse (an RNN is decomposed "
            "into operators it runs in double, and passes)"
        ),
        link="docs/findings/onnx-runtime-double-rnn.md",
        repro="see docs/findings/onnx-runtime-double-rnn.md",
        raises=r"(GRU|LSTM) operator does not support double yet",
    ),
    KnownDivergence(
        implementation="torch-onnx",
        package="torch",
        versions=">=2.9",
        # with proj_size the graph is refused for its shapes first (the declaration above)
        applies_to=lambda case: case.dtype == "bfloat16" and case.proj_size == 0,
        reason=(
            "the default exporter writes a bfloat16 GRU or LSTM as an ONNX GRU/LSTM node, which "
            "ONNX does not define for bfloat16 at the opset it writes (18; bfloat16 from 22 on): "
            "an invalid model, exported without error or warning; and it decomposes an RNN "
            "into Add, MatMul, ... that ONNX Runtime's CPU kernels do not run in bfloat16"
        ),
        link="docs/findings/onnx-bfloat16-recurrent-layers.md",
        repro="see docs/findings/onnx-bfloat16-recurrent-layers.md",
        raises=(
            r"Type 'tensor\(bfloat16\)' of input parameter \(x\) of operator \((GRU|LSTM)\)"
            r"|Could not find an implementation for Add\(14\)"
        ),
    ),
    KnownDivergence(
        implementation="keras-onnx",
        package="tf2onnx",
        versions=">=1.9",
        applies_to=lambda case: case.dtype == "bfloat16",
        reason=(
            "tf2onnx converts TensorFlow's bfloat16 to ONNX float16 (tf_utils.TF_TO_ONNX_DTYPE): "
            "the graph's inputs are declared float16 while its recurrent Loop carries bfloat16, "
            "and ONNX Runtime refuses the model"
        ),
        link="https://github.com/onnx/tensorflow-onnx/issues/2337",
        repro="see docs/findings/onnx-bfloat16-recurrent-layers.md",
        raises=r"Tensor element type mismatch\. 16 != 10",
    ),
    KnownDivergence(
        implementation="keras-onnx",
        package="onnxruntime",
        versions=">=1.0",
        applies_to=lambda case: (
            case.dtype == "float64"
            and case.mode == "LSTM"
            and case.lengths == "full"
            and case.batch > 1
        ),
        reason=(
            "tf2onnx writes an unmasked Keras LSTM as an ONNX LSTM node, whose double version "
            "ONNX allows and ONNX Runtime's CPU kernels refuse (SimpleRNN, GRU, masked layers "
            "and a batch of one become a Loop that runs in double, and pass)"
        ),
        link="docs/findings/onnx-runtime-double-rnn.md",
        repro="see docs/findings/onnx-runtime-double-rnn.md",
        raises=r"LSTM operator does not support double yet",
    ),
]


# Keras' LSTM and GRU cells apply a rate only when 0 < rate < 1; their fused inner loop (where a
# backend has one for the layer) applies `dropout` whenever it is non-zero; SimpleRNN applies
# any non-zero rate. Which of the two runs depends on the backend (docs/findings/
# keras-rnn-dropout-rate-one.md).
# implementation -> the (mode, dropout kind) pairs whose rate 1 is ignored
KERAS_RATE_ONE_IGNORED = {
    "keras": {(m, k) for m in ("LSTM", "GRU") for k in ("input", "recurrent")},
    "keras-jax": {("LSTM", "input"), ("LSTM", "recurrent"), ("GRU", "recurrent")},
    "keras-torch": {("LSTM", "recurrent"), ("GRU", "recurrent")},
}
KERAS_RATE_ONE_REASON = (
    "Keras' {where} ignores a rate of 1 in training: the LSTM and GRU cells apply `dropout` and "
    "`recurrent_dropout` only when 0 < rate < 1 (keras/src/layers/rnn/lstm.py, gru.py), so "
    "training with rate 1 is inference, not the documented 'fraction of the units to drop' = all "
    "of them; SimpleRNN drops them all, and the fused LSTM/GRU loop of the torch backend (and "
    "GRU on JAX) applies `dropout=1` as zero input"
)
KERAS_RATE_ONE_WHERE = {
    "keras": "LSTM and GRU (TensorFlow backend, CPU: the cell loop)",
    "keras-jax": "LSTM (and GRU's recurrent_dropout) on JAX",
    "keras-torch": "LSTM and GRU on PyTorch, for recurrent_dropout (the cell loop)",
}
KNOWN_DIVERGENCES += [
    KnownDivergence(
        implementation=name,
        package="keras",
        versions=">=3.0",
        applies_to=lambda case, pairs=pairs: (
            case.dropout_property == "training_rate1" and (case.mode, case.dropout) in pairs
        ),
        reason=KERAS_RATE_ONE_REASON.format(where=KERAS_RATE_ONE_WHERE[name]),
        link="docs/findings/keras-rnn-dropout-rate-one.md",
        repro="see docs/findings/keras-rnn-dropout-rate-one.md",
        tensors=("output", "h_n", "c_n"),
        computes_with=dropout_ignored,
        checks=("dropout",),
    )
    for name, pairs in KERAS_RATE_ONE_IGNORED.items()
]
# torch.onnx.export(dynamo=True, training=TrainingMode.TRAINING) writes PyTorch's between-layer
# dropout as ONNX Dropout nodes with training_mode true; ONNX Runtime's basic graph optimizations
# (EliminateDropout, on by default) remove every Dropout whose mask is unused, whatever its
# training_mode, so the training graph computes inference.
ORT_REMOVES_DROPOUT = (
    "ONNX Runtime removes the exported Dropout nodes (its EliminateDropout rewrite, part of the "
    "default basic graph optimizations, ignores their training_mode input): the training-mode "
    "graph computes inference; {what}"
)
KNOWN_DIVERGENCES += [
    KnownDivergence(
        implementation="torch-onnx",
        package="onnxruntime",
        versions=">=1.8",
        applies_to=lambda case, prop=prop: (
            case.dropout == "between" and case.dropout_property == prop
        ),
        reason=ORT_REMOVES_DROPOUT.format(what=what),
        link="https://github.com/microsoft/onnxruntime/issues/9333",
        repro="see docs/findings/onnx-runtime-removes-training-dropout.md",
        tensors=tensors,
        checks=("dropout",),
        **bound,
    )
    for prop, what, tensors, bound in (
        (
            "training_changes",
            "no step of output changes",
            ("output_changed",),
            {"computes": dropout_removed},
        ),
        (
            "training_rate1",
            "rate 1 gives the inference result, not zero input to the second layer",
            ("output", "h_n", "c_n"),
            {"computes_with": dropout_ignored},
        ),
    )
]
# keras#23704 (above) in the dropout check: float64 computed in float32 where one side of a
# property runs Keras' generic cell loop (its matmul, or JAX's tanh, in float32) and is compared
# with the float64 reference, or with a fused float64 path (keras-torch: a non-zero
# recurrent_dropout always takes the cell loop, rate 0 the fused torch LSTM/GRU).
KNOWN_DIVERGENCES += [
    KnownDivergence(
        implementation="keras-jax",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: (
            case.dtype == "float64"
            and case.mode in ("LSTM", "GRU")
            and case.dropout_property == "training_rate1"
        ),
        reason=KERAS_FLOAT64_REASON.format(
            backend="JAX (x64 enabled)",
            what="keras.ops.tanh returns float32: LSTM and GRU in training with rate 1 meet the "
            "float64 reference of the documented result with float32 accuracy (~1e-7)",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=jax JAX_ENABLE_X64=1 python -c "import keras; '
            "print(keras.ops.tanh(keras.ops.ones((2,), dtype='float64')).dtype)\"  # float32"
        ),
        tensors=("output", "h_n", "c_n"),
        within="float32",
        checks=("dropout",),
    ),
    KnownDivergence(
        implementation="keras-torch",
        package="keras",
        versions=">=3.0",
        applies_to=lambda case: (
            case.dtype == "float64"
            and (
                (case.mode == "RNN" and case.dropout_property == "training_rate1")
                or (
                    case.mode in ("LSTM", "GRU")
                    and case.dropout == "recurrent"
                    and case.dropout_property in ("inference_ignores", "training_rate1")
                )
            )
        ),
        reason=KERAS_FLOAT64_REASON.format(
            backend="PyTorch",
            what="the generic cell loop's keras.ops.matmul runs in float32 (~1e-7, not ~1e-16): "
            "SimpleRNN always, LSTM and GRU whenever recurrent_dropout is non-zero (in inference "
            "too: their fused float64 torch path is taken only without it), so those runs meet "
            "the float64 reference, or the rate-0 run, with float32 accuracy",
        ),
        link="https://github.com/keras-team/keras/issues/23704",
        repro=(
            'KERAS_BACKEND=torch python -c "import numpy as np, keras; '
            "a = keras.ops.ones((2, 2), dtype='float64'); print(keras.ops.matmul(a, a).dtype)\""
            "  # torch.float32"
        ),
        tensors=("output", "h_n", "c_n"),
        within="float32",
        checks=("dropout",),
    ),
]


def divergences_for(case: Case) -> list[KnownDivergence]:
    return [d for d in KNOWN_DIVERGENCES if d.covers(case)]


def computed_instead(
    declared: list[KnownDivergence], request: Request, reference: Tensors
) -> Tensors:
    """What the framework computes under every declaration that covers the case, composed:
    the other inputs first, then the other results."""
    adjusted = request
    for divergence in declared:
        if divergence.computes_with is not None:
            adjusted = divergence.computes_with(adjusted)
    results = reference if adjusted is request else numpy_reference.run(adjusted)
    for divergence in declared:
        if divergence.computes is not None:
            results = divergence.computes(adjusted, results)
    return results

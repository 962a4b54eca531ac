"""The implementations `adapters.run` knows, what each cannot express, and whether it is installed.

Adding an implementation: write `adapters/<name>_adapter.py` with `run(request) -> tensors` (see
adapters/request.py), then add one `Implementation` entry below with the `Limit`s of what the
framework cannot express. The conformance grid picks it up from here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass

from . import opsets
from .capabilities import Limit, unsupported_reason
from .request import Setting

# The NVIDIA driver's file: a GPU is present, known without importing any framework.
NVIDIA_DRIVER = "/proc/driver/nvidia/version"
FLOAT_DTYPES = ("float32", "float64")
# float16 and bfloat16 (the low_precision check): every implementation is asked, and where the
# framework cannot run one a Limit says why (never a silent absence)
ALL_DTYPES = (*FLOAT_DTYPES, "float16", "bfloat16")


@dataclass(frozen=True)
class Implementation:
    name: str
    module: str
    requires: tuple[str, ...]  # importable top-level packages it needs
    install_extra: str
    description: str
    function: str = "run"  # the module's entry point, run(request) -> tensors
    device: str = "cpu"  # "cuda": needs an NVIDIA GPU as well as the packages
    dtypes: tuple[str, ...] = ALL_DTYPES
    limits: tuple[Limit, ...] = ()
    # the adapter returns grad_* for a request with cotangents (through the framework's autodiff)
    gradients: bool = False
    # check kinds run on a pairwise-covering sample of their configurations (conformance/grid.py
    # all_pairs) instead of all of them: where every case costs a whole export or compilation
    pairwise: tuple[str, ...] = ()
    opset: int | None = None  # the ONNX opset it writes, for an ONNX path (recorded in results)
    # What the framework can express but our adapter does not run yet: `skipped` (our gap, with
    # the reason), never `unsupported` (the framework's limit)
    gaps: tuple[Limit, ...] = ()
    # Its framework slows down several times over in a process where JAX and Flax have run their
    # cases (measured; most of its time then goes to unwinding the C++ exceptions it throws): the
    # scheduler has a fresh worker run it before JAX's groups (conformance/scheduling.py;
    # docs/PERFORMANCE.md, "C++ exceptions after XLA compiles")
    before_xla: bool = False

    def is_installed(self) -> bool:
        return not self.unavailable_reason()

    def missing(self) -> list[str]:
        return [p for p in self.requires if importlib.util.find_spec(p) is None]

    def unavailable_reason(self) -> str:
        """Why this implementation cannot run here ("" when it can), without importing it."""
        if missing := self.missing():
            extra = f" (pip install '.[{self.install_extra}]')" if self.install_extra else ""
            return f"{', '.join(missing)} not installed{extra}"
        if self.device == "cuda" and not os.path.exists(NVIDIA_DRIVER):
            return "needs an NVIDIA GPU; none here"
        return ""

    def unsupported_reason(self, setting: Setting) -> str:
        """Why this implementation cannot express `setting` ("" when it can)."""
        return unsupported_reason(self.name, self.dtypes, self.limits, setting)

    def gap_reason(self, setting: Setting) -> str:
        """Why our adapter does not run `setting` yet although the framework could ("" when it
        does)."""
        return next((gap.reason for gap in self.gaps if gap.applies(setting)), "")

    def load(self):
        return getattr(importlib.import_module(self.module), self.function)


TORCH_LIMITS = (
    Limit(
        "zero_length",
        "torch.nn.utils.rnn.pack_padded_sequence refuses rows of length 0 (RuntimeError: "
        "'Length of all samples has to be greater than 0, but found an element in 'lengths' "
        "that is <= 0')",
    ),
)
KERAS_LIMITS = (
    Limit(
        "proj_size",
        "Keras recurrent layers have no output projection: proj_size > 0 (LSTM with weight_hr) "
        "cannot be expressed",
    ),
)
JAX_RNN_LIMITS = (
    Limit("RNN", "jax.experimental.rnn has only an LSTM, no RNN"),
    Limit("GRU", "jax.experimental.rnn has only an LSTM, no GRU"),
    Limit("proj_size", "jax.experimental.rnn's LSTM has no projection (proj_size)"),
)
JAX_CUDNN_FLOAT32_ONLY = (
    "jax.experimental.rnn.lstm (cuDNN) runs float32 only: its docstring lists 'Add support for "
    "input and weight dtypes other than float32' as TODO"
)
JAX_CUDNN_LIMITS = JAX_RNN_LIMITS + tuple(
    Limit(dtype, JAX_CUDNN_FLOAT32_ONLY) for dtype in ("float64", "float16", "bfloat16")
)  # read from jax's source, not run: no GPU here
FLAX_LIMITS = (Limit("proj_size", "Flax recurrent cells have no output projection (proj_size)"),)
OPTIMIZED_LSTM_LIMITS = FLAX_LIMITS + tuple(
    Limit(mode, f"OptimizedLSTMCell is an LSTM cell; {mode} is checked by the non-optimized one")
    for mode in ("RNN", "GRU")
)
ONNX_NO_BFLOAT16 = (
    "ONNX's RNN, LSTM and GRU operators take bfloat16 only from opset 22 (opsets 14-21 constrain "
    "T to 'tensor(float16), tensor(float), tensor(double)')"
)
ONNX_LIMITS = (
    Limit(
        "proj_size",
        "ONNX's LSTM operator has no output projection: proj_size > 0 (weight_hr) cannot be "
        "expressed",
    ),
    Limit(
        "gradients",
        "an ONNX inference graph computes no gradients (ONNX Runtime's inference build and "
        "onnx.reference evaluate the forward graph only)",
    ),
)
# ONNX allows double for RNN, LSTM and GRU; ONNX Runtime's CPU kernels refuse it, in its words:
ONNX_RUNTIME_LIMITS = ONNX_LIMITS + (
    Limit(
        "bfloat16",
        "ONNX Runtime's CPU kernels have no bfloat16 RNN/LSTM/GRU at any opset: 'Could not find "
        f"an implementation for LSTM(22) node' ({ONNX_NO_BFLOAT16})",
    ),
    Limit(
        "float64",
        "ONNX Runtime's CPU kernels have no double RNN/LSTM/GRU (ONNX allows it): 'Could not "
        "find an implementation for RNN(14) node', 'LSTM operator does not support double yet', "
        "'GRU operator does not support double yet'",
    ),
)

# The relation check kinds run the implementation three times per case (conformance/checks/
# relations.py): sampled where every run is a compilation or an export.
RELATIONS = ("chunked", "batch_rows", "reversed")

# float64 is not a limit of the exported paths: whether ONNX Runtime refuses it depends on the
# graph the exporter writes (an RNN/LSTM/GRU node, or a Loop it can run in double); a refusal is a
# declared divergence with ONNX Runtime's message (conformance/divergences.py)
TORCH_ONNX_LIMITS = TORCH_LIMITS + (
    Limit("gradients", "an exported ONNX inference graph computes no gradients in ONNX Runtime"),
)
LEGACY_NO_BFLOAT16 = (
    ONNX_NO_BFLOAT16 + "; the TorchScript exporter's highest opset is 20 "
    "(torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET); it writes those nodes, and "
    "ONNX Runtime "
    "refuses the graph: \"Type Error: Type 'tensor(bfloat16)' of input parameter (x) of operator "
    '(GRU) in node (/module/GRU) is invalid"'
)
TORCH_ONNX_LEGACY_LIMITS = TORCH_ONNX_LIMITS + (
    ONNX_RUNTIME_LIMITS[-1],  # the TorchScript exporter always writes RNN/LSTM/GRU nodes
    Limit(
        "proj_size",
        "the TorchScript exporter refuses it: 'Unsupported: ONNX export of operator LSTM, LSTMs "
        "with projections' (torch.onnx.errors.SymbolicValueError)",
    ),
    Limit("bfloat16", LEGACY_NO_BFLOAT16),
)


# Dropout (docs/CONVENTIONS.md, "Dropout"): what each framework has, verified in its source.
NO_KERAS_STYLE_DROPOUT = (
    Limit(
        "input_dropout",
        "torch.nn.RNN/LSTM/GRU have no dropout on a layer's input: their one `dropout` argument "
        "drops each layer's output but the last's, between layers",
    ),
    Limit(
        "recurrent_dropout",
        "torch.nn.RNN/LSTM/GRU have no dropout on the recurrent state (no recurrent_dropout "
        "argument)",
    ),
)
NO_DROPOUT = "{what} has no dropout: {where}"


def no_dropout(what: str, where: str, training: str) -> tuple[Limit, ...]:
    """The limits of a framework with neither a dropout argument nor a training mode."""
    reason = NO_DROPOUT.format(what=what, where=where)
    return (Limit("training", training),) + tuple(
        Limit(feature, reason) for feature in ("dropout", "input_dropout", "recurrent_dropout")
    )


NUMPY_LIMITS = (
    Limit(
        "training",
        "the NumPy reference computes PyTorch's documented inference equations: no training "
        "mode, no dropout masks",
    ),
    Limit("input_dropout", "PyTorch's equations have no dropout on a layer's input"),
    Limit("recurrent_dropout", "PyTorch's equations have no dropout on the recurrent state"),
)
FLAX_DROPOUT_LIMITS = no_dropout(
    "Flax",
    "nn.RNN / nnx.RNN and their LSTMCell, OptimizedLSTMCell, GRUCell and SimpleCell take no "
    "dropout rate (flax/linen/recurrent.py, flax/nnx/nn/recurrent.py)",
    "Flax's nn.RNN / nnx.RNN and their cells have no training or deterministic flag",
)
ONNX_DROPOUT_LIMITS = no_dropout(
    "ONNX",
    "the RNN, LSTM and GRU operators have no dropout attribute",
    "an ONNX RNN/LSTM/GRU graph is an inference graph: no training mode",
)
JAX_NO_KERAS_STYLE_DROPOUT = tuple(
    Limit(feature, f"jax.experimental.rnn has no {feature} argument")
    for feature in ("input_dropout", "recurrent_dropout")
)
JAX_REF_DROPOUT_LIMITS = (
    Limit("training", "jax.experimental.rnn.lstm_ref has no training or inference mode"),
    Limit(
        "dropout",
        "jax.experimental.rnn.lstm_ref refuses a non-zero dropout: NotImplementedError('Dropout "
        "not supported in LSTM reference because we cannot determine CUDNN dropout mask.')",
    ),
    *JAX_NO_KERAS_STYLE_DROPOUT,
)
JAX_CUDNN_DROPOUT_LIMITS = (
    Limit(
        "training",
        "jax.experimental.rnn.lstm has no training or inference switch: one forward primitive "
        "(rnn_fwd) that hands its dropout to cuDNN",
    ),
    Limit(
        "dropout",
        "jax.experimental.rnn.lstm has no inference switch: a non-zero dropout cannot be asked "
        "to be ignored in inference",
    ),
    *JAX_NO_KERAS_STYLE_DROPOUT,
)
LEGACY_TRAINING_DROPOUT = (
    Limit(
        "dropout_in_training",
        "the TorchScript exporter refuses a recurrent module with a non-zero dropout in training "
        "mode, one layer included (torch.onnx.errors.SymbolicValueError: 'Unsupported: ONNX "
        "export of operator RNN/GRU/LSTM, dropout in training mode')",
    ),
)
KERAS_ONNX_TRAINING = (
    Limit(
        "training",
        "tf2onnx.convert.from_keras converts the model's inference call only: it traces "
        "`model(*args, training=False)` (tf2onnx/convert.py, _get_concrete_function): a model "
        "whose layers were called with training=True converts, without an error or a warning, "
        "to a graph equal to its inference (measured within 6e-8, every dropout gone)",
    ),
)


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl
    for impl in (
        Implementation(
            "numpy",
            "adapters.numpy_reference",
            ("numpy",),
            "",
            "NumPy reference of PyTorch's documented equations",
            limits=NUMPY_LIMITS,
            gradients=True,
        ),
        Implementation(
            "torch",
            "adapters.torch_adapter",
            ("torch",),
            "torch",
            "torch.nn.RNN/LSTM/GRU on the CPU",
            limits=TORCH_LIMITS + NO_KERAS_STYLE_DROPOUT,
            gradients=True,
        ),
        Implementation(
            "keras",
            "adapters.keras_backends",
            ("keras", "tensorflow"),
            "keras",
            "Keras 3 on TensorFlow: SimpleRNN/LSTM/GRU(reset_after=True), Bidirectional",
            function="run_tensorflow",
            limits=KERAS_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "keras-jax",
            "adapters.keras_backends",
            ("keras", "jax"),
            "keras,jax",
            "Keras 3 on JAX (in a child process unless this one uses that backend)",
            function="run_jax",
            limits=KERAS_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "keras-torch",
            "adapters.keras_backends",
            ("keras", "torch"),
            "keras,torch",
            "Keras 3 on PyTorch (in a child process unless this one uses that backend)",
            function="run_torch",
            limits=KERAS_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "torch-cuda",
            "adapters.torch_adapter",
            ("torch",),
            "torch",
            "torch.nn.RNN/LSTM/GRU on CUDA (cuDNN), TF32 off",
            function="run_cuda",
            device="cuda",
            limits=TORCH_LIMITS + NO_KERAS_STYLE_DROPOUT,
            gradients=True,
        ),
        Implementation(
            "jax-cuda",
            "adapters.jax_adapter",
            ("jax",),
            "jax",
            "jax.experimental.rnn.lstm (cuDNN), precision HIGHEST: LSTM, float32",
            function="run_cuda",
            device="cuda",
            limits=JAX_CUDNN_LIMITS + JAX_CUDNN_DROPOUT_LIMITS,
            gradients=True,
        ),
        Implementation(
            "jax",
            "adapters.jax_adapter",
            ("jax",),
            "jax",
            "jax.experimental.rnn.lstm_ref (pure JAX, CPU): LSTM",
            limits=JAX_RNN_LIMITS + JAX_REF_DROPOUT_LIMITS,
            gradients=True,
        ),
        Implementation(
            "flax",
            "adapters.flax_adapter",
            ("flax", "jax"),
            "jax",
            "Flax linen: nn.RNN over LSTMCell / GRUCell / SimpleCell, nn.Bidirectional",
            limits=FLAX_LIMITS + FLAX_DROPOUT_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "flax-optimized",
            "adapters.flax_adapter",
            ("flax", "jax"),
            "jax",
            "Flax linen: nn.RNN over OptimizedLSTMCell (LSTM only), nn.Bidirectional",
            function="run_optimized",
            limits=OPTIMIZED_LSTM_LIMITS + FLAX_DROPOUT_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "flax-nnx",
            "adapters.flax_nnx_adapter",
            ("flax", "jax"),
            "jax",
            "Flax NNX: nnx.RNN over LSTMCell / GRUCell / SimpleCell, nnx.Bidirectional",
            limits=FLAX_LIMITS + FLAX_DROPOUT_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "flax-nnx-optimized",
            "adapters.flax_nnx_adapter",
            ("flax", "jax"),
            "jax",
            "Flax NNX: nnx.RNN over OptimizedLSTMCell (LSTM only), nnx.Bidirectional",
            function="run_optimized",
            limits=OPTIMIZED_LSTM_LIMITS + FLAX_DROPOUT_LIMITS,
            gradients=True,
            pairwise=("gradients", *RELATIONS),
        ),
        Implementation(
            "onnxruntime",
            "adapters.onnx_adapter",
            ("onnx", "onnxruntime"),
            "onnx",
            "ONNX Runtime (CPU) on an ONNX graph (opset 17) of RNN/LSTM/GRU nodes built with "
            "onnx.helper; batch_first transposed in NumPy",
            function="run_onnxruntime",
            limits=ONNX_RUNTIME_LIMITS + ONNX_DROPOUT_LIMITS,
            opset=opsets.ONNX_GRAPH,
        ),
        Implementation(
            "onnx-reference",
            "adapters.onnx_adapter",
            ("onnx",),
            "onnx",
            "onnx.reference.ReferenceEvaluator on the same ONNX graph (opset 17; bfloat16 at "
            "22, the first that has it); batch_first transposed in NumPy",
            function="run_reference",
            limits=ONNX_LIMITS + ONNX_DROPOUT_LIMITS,
            opset=opsets.ONNX_GRAPH,
        ),
        Implementation(
            "torch-onnx",
            "adapters.torch_onnx_adapter",
            ("torch", "onnx", "onnxscript", "onnxruntime"),
            "onnx,torch",
            "the torch module exported by torch.onnx.export (default exporter, dynamo=True, "
            "opset 18), run by ONNX Runtime (CPU)",
            function="run_dynamo",
            limits=TORCH_ONNX_LIMITS + NO_KERAS_STYLE_DROPOUT,
            pairwise=("forward", "lengths", "claims", "low_precision", *RELATIONS),
            opset=opsets.TORCH_EXPORT,
        ),
        Implementation(
            "torch-onnx-legacy",
            "adapters.torch_onnx_adapter",
            ("torch", "onnx", "onnxruntime"),
            "onnx,torch",
            "the torch module exported by the TorchScript exporter (torch.onnx.export "
            "dynamo=False, opset 18), run by ONNX Runtime (CPU)",
            function="run_legacy",
            limits=TORCH_ONNX_LEGACY_LIMITS + NO_KERAS_STYLE_DROPOUT + LEGACY_TRAINING_DROPOUT,
            pairwise=("low_precision", *RELATIONS),
            opset=opsets.TORCH_EXPORT,
            # the TorchScript exporter walks graphs through pybind11 iterators, each ended by a
            # thrown C++ exception: 13-19 ms an export, 85 ms after every forward case of jax,
            # flax and flax-nnx (864) in the same process
            before_xla=True,
        ),
        Implementation(
            "keras-onnx",
            "adapters.keras_onnx_adapter",
            ("keras", "tensorflow", "tf2onnx", "onnxruntime"),
            "onnx,keras",
            "the Keras model (TensorFlow backend) converted by tf2onnx.convert.from_keras "
            "(opset 17), run by ONNX Runtime (CPU)",
            limits=KERAS_LIMITS
            + KERAS_ONNX_TRAINING
            + (
                Limit(
                    "gradients",
                    "an ONNX inference graph computes no gradients in ONNX Runtime",
                ),
            ),
            pairwise=("forward", "lengths", "claims", "low_precision", *RELATIONS),
            opset=opsets.TF2ONNX,
        ),
    )
}

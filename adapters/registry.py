"""The implementations `adapters.run` knows, and how to tell whether each is installed.

Adding an implementation: write `adapters/<name>_adapter.py` with
`run(spec, params, x, h0, c0) -> (output, h_n, c_n)` that raises `Unsupported` for what it cannot
express, then add one `Implementation` line below. The conformance grid picks it up from here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass

# The NVIDIA driver's file: a GPU is present, known without importing any framework.
NVIDIA_DRIVER = "/proc/driver/nvidia/version"


@dataclass(frozen=True)
class Implementation:
    name: str
    module: str
    requires: tuple[str, ...]  # importable top-level packages it needs
    install_extra: str
    description: str
    function: str = "run"  # the module's entry point, run(spec, params, x, h0, c0)
    device: str = "cpu"  # "cuda": needs an NVIDIA GPU as well as the packages

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

    def load(self):
        return getattr(importlib.import_module(self.module), self.function)


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl
    for impl in (
        Implementation(
            "numpy",
            "adapters.numpy_reference",
            ("numpy",),
            "",
            "NumPy reference of PyTorch's documented equations",
        ),
        Implementation(
            "torch",
            "adapters.torch_adapter",
            ("torch",),
            "torch",
            "torch.nn.RNN/LSTM/GRU on the CPU",
        ),
        Implementation(
            "keras",
            "adapters.keras_backends",
            ("keras", "tensorflow"),
            "keras",
            "Keras 3 on TensorFlow: SimpleRNN/LSTM/GRU(reset_after=True), Bidirectional",
            function="run_tensorflow",
        ),
        Implementation(
            "keras-jax",
            "adapters.keras_backends",
            ("keras", "jax"),
            "keras,jax",
            "Keras 3 on JAX (in a child process unless this one uses that backend)",
            function="run_jax",
        ),
        Implementation(
            "keras-torch",
            "adapters.keras_backends",
            ("keras", "torch"),
            "keras,torch",
            "Keras 3 on PyTorch (in a child process unless this one uses that backend)",
            function="run_torch",
        ),
        Implementation(
            "torch-cuda",
            "adapters.torch_adapter",
            ("torch",),
            "torch",
            "torch.nn.RNN/LSTM/GRU on CUDA (cuDNN), TF32 off",
            function="run_cuda",
            device="cuda",
        ),
        Implementation(
            "jax-cuda",
            "adapters.jax_adapter",
            ("jax",),
            "jax",
            "jax.experimental.rnn.lstm (cuDNN), precision HIGHEST: LSTM, float32",
            function="run_cuda",
            device="cuda",
        ),
        Implementation(
            "jax",
            "adapters.jax_adapter",
            ("jax",),
            "jax",
            "jax.experimental.rnn.lstm_ref (pure JAX, CPU): LSTM, float32",
        ),
        Implementation(
            "flax",
            "adapters.flax_adapter",
            ("flax", "jax"),
            "jax",
            "Flax linen: nn.RNN over LSTMCell / GRUCell / SimpleCell, nn.Bidirectional",
        ),
        Implementation(
            "flax-optimized",
            "adapters.flax_adapter",
            ("flax", "jax"),
            "jax",
            "Flax linen: nn.RNN over OptimizedLSTMCell (LSTM only), nn.Bidirectional",
            function="run_optimized",
        ),
        Implementation(
            "flax-nnx",
            "adapters.flax_nnx_adapter",
            ("flax", "jax"),
            "jax",
            "Flax NNX: nnx.RNN over LSTMCell / GRUCell / SimpleCell, nnx.Bidirectional",
        ),
        Implementation(
            "flax-nnx-optimized",
            "adapters.flax_nnx_adapter",
            ("flax", "jax"),
            "jax",
            "Flax NNX: nnx.RNN over OptimizedLSTMCell (LSTM only), nnx.Bidirectional",
            function="run_optimized",
        ),
    )
}

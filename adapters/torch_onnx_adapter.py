"""`torch-onnx` and `torch-onnx-legacy`: the torch module exported by PyTorch, run by ONNX Runtime.

The module is `torch_adapter.build_module`'s (the `torch` implementation's own), wrapped so that
the exported graph takes what the request gives: x, the per-row lengths (packed with
pack_padded_sequence(enforce_sorted=False) and padded back to the full length, as the `torch`
implementation does), h0 and c0. `torch-onnx` uses PyTorch's default exporter
(`torch.onnx.export(dynamo=True)`, through torch.export), `torch-onnx-legacy` the TorchScript one
(`dynamo=False`); neither falls back to the other. ONNX Runtime runs the graph on its CPU kernels.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from . import opsets
from .request import Request, Tensors, named
from .torch_adapter import DTYPES, build_module, from_numpy

OPSET = opsets.TORCH_EXPORT


class Exported(torch.nn.Module):
    """The layer as a function of exactly the request's inputs, in their order."""

    def __init__(
        self, module: torch.nn.Module, mode: str, total_length: int | None, states: tuple[str, ...]
    ):
        super().__init__()
        self.module, self.mode, self.states = module, mode, states
        self.total_length = total_length  # None: no lengths input

    def forward(self, x, *inputs):
        inputs = list(inputs)
        lengths = inputs.pop(0) if self.total_length is not None else None
        state = None
        if self.states:
            state = tuple(inputs) if self.mode == "LSTM" else inputs[0]
        if lengths is not None:
            x = torch.nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=self.module.batch_first, enforce_sorted=False
            )
        output, final = self.module(x, state)
        if lengths is not None:
            output, _ = torch.nn.utils.rnn.pad_packed_sequence(
                output, batch_first=self.module.batch_first, total_length=self.total_length
            )
        return (output, *final) if self.mode == "LSTM" else (output, final)


def graph_inputs(request: Request) -> dict[str, np.ndarray]:
    """x, lengths, and the initial states torch takes (both or neither for an LSTM)."""
    spec = request.spec
    inputs = {"x": request.x}
    if request.lengths is not None:
        inputs["lengths"] = np.asarray(request.lengths, dtype=np.int64)
    rows, batch = spec.num_layers * spec.num_directions, request.batch
    if spec.mode == "LSTM" and (request.h0 is not None or request.c0 is not None):
        shapes = {"h0": (rows, batch, spec.output_size), "c0": (rows, batch, spec.hidden_size)}
        for name, shape in shapes.items():  # torch takes both or neither: zeros for the other
            given = getattr(request, name)
            inputs[name] = given if given is not None else np.zeros(shape, request.dtype)
    elif request.h0 is not None:
        inputs["h0"] = request.h0
    return inputs


def export(request: Request, dynamo: bool) -> bytes:
    spec = request.spec
    dtype = DTYPES[request.dtype]
    inputs = graph_inputs(request)
    states = tuple(name for name in ("h0", "c0") if name in inputs)
    total_length = request.seq_len if "lengths" in inputs else None
    wrapper = Exported(build_module(spec, request.params, dtype), spec.mode, total_length, states)
    args = tuple(
        from_numpy(v, dtype=dtype) if name != "lengths" else torch.from_numpy(v)
        for name, v in inputs.items()
    )
    outputs = ["output", "h_n"] + (["c_n"] if spec.mode == "LSTM" else [])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and batch-size advice, not findings
        torch.onnx.export(
            wrapper, args, buffer, dynamo=dynamo, input_names=list(inputs),
            output_names=outputs, opset_version=OPSET, verbose=False,
        )  # fmt: skip
    return buffer.getvalue()


def run_exported(request: Request, dynamo: bool) -> Tensors:
    import onnxruntime

    from .onnx_adapter import session_options

    session = onnxruntime.InferenceSession(
        export(request, dynamo), session_options(), providers=["CPUExecutionProvider"]
    )
    inputs = graph_inputs(request)
    names = {i.name for i in session.get_inputs()}  # an exporter may drop an unused input
    results = session.run(
        None, {k: np.ascontiguousarray(v) for k, v in inputs.items() if k in names}
    )
    return named(request.spec, *results)


def run_dynamo(request: Request) -> Tensors:
    return run_exported(request, dynamo=True)


def run_legacy(request: Request) -> Tensors:
    return run_exported(request, dynamo=False)

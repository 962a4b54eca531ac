"""`torch-onnx` and `torch-onnx-legacy`: the torch module exported by PyTorch, run by ONNX Runtime.

The module is `torch_adapter.build_module`'s (the `torch` implementation's own), wrapped so that
the exported graph takes what the request gives: x, the per-row lengths (packed with
pack_padded_sequence(enforce_sorted=False) and padded back to the full length, as the `torch`
implementation does), h0 and c0. `torch-onnx` uses PyTorch's default exporter
(`torch.onnx.export(dynamo=True)`, through torch.export), `torch-onnx-legacy` the TorchScript one
(`dynamo=False`); neither falls back to the other. ONNX Runtime runs the graph on its CPU kernels.
A worker keeps the last few sessions (adapters/export_cache.py): a call with the same weights and
structure reuses the export, for any sequence length and batch size with the TorchScript
exporter (dynamic axes, `dynamic_axes`), for the same shapes with the default one.

The default exporter builds its table of ONNX translations (some 560 of torchlib's functions,
each parsed from its source) anew on every call: 0.4-0.9 s of a 1-1.5 s export on the 2-core
machine. The table depends on the opset, the installed torch and onnxscript and the torch ops
registered when it is built (only aten ops here), and an export without a
`custom_translation_table` only reads it, so an export here starts from a copy of the one this
process built first (`torchlib_registry_once`): the graphs are byte for byte those of a plain
call (tests/test_torch_onnx_registry.py).
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from . import opsets
from .export_cache import SessionCache, input_signature, weights_digest
from .request import Request, Tensors, named
from .torch_adapter import DTYPES, build_module, from_numpy

OPSET = opsets.TORCH_EXPORT
# A training request exports the module in training mode (its Dropout nodes with training_mode
# set); ONNX Runtime's sessions are left as users get them (docs/CONVENTIONS.md, "Dropout")
TRAINING_MODES = {False: torch.onnx.TrainingMode.EVAL, True: torch.onnx.TrainingMode.TRAINING}


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


def dynamic_axes(
    request: Request, inputs: dict[str, np.ndarray], dynamo: bool
) -> dict[str, dict[int, str]]:
    """For the TorchScript exporter, the sequence and batch axes of every input and output,
    named, so that one export runs every length and batch size (as a deployed model does; the
    results are bit for bit those of a static export, checked case by case before adopting it,
    docs/PERFORMANCE.md). None with lengths: the padded output's length is fixed in the graph
    (pad_packed_sequence's total_length). None for the default exporter: torch 2.13's
    torch.onnx.export(dynamo=True) refuses these dynamic_axes ("Failed to convert
    'dynamic_axes' to 'dynamic_shapes'"), so its graphs stay static and are reused only for
    the same shapes."""
    if dynamo or "lengths" in inputs:
        return {}
    time_and_batch = {0: "batch", 1: "seq"} if request.spec.batch_first else {0: "seq", 1: "batch"}
    axes = {"x": time_and_batch, "output": time_and_batch}
    axes |= {name: {1: "batch"} for name in ("h0", "c0", "h_n", "c_n")}
    return {name: axes[name] for name in (*inputs, *outputs_of(request))}


_REGISTRIES: dict = {}  # from_torchlib's arguments -> the ONNXRegistry it built


@contextlib.contextmanager
def torchlib_registry_once() -> Iterator[None]:
    """Within: torch.onnx.export(dynamo=True) gets a copy of the registry built by this process's
    first export at the same opset, instead of building it again (a copy of its lists, so that
    whatever an export adds stays in that export's registry). Outside, torch is as installed. A
    torch without the private class it patches exports as it would anyway. Not for threads that
    export at the same time: it patches a class."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        ONNXRegistry = None
    build = vars(ONNXRegistry).get("from_torchlib") if ONNXRegistry else None
    if not isinstance(build, classmethod):
        yield
        return

    def built_once(cls, *args, **kwargs):
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in _REGISTRIES:
            _REGISTRIES[key] = build.__func__(cls, *args, **kwargs)
        registry = copy.copy(_REGISTRIES[key])
        registry.functions = {op: list(metas) for op, metas in registry.functions.items()}
        return registry

    ONNXRegistry.from_torchlib = classmethod(built_once)
    try:
        yield
    finally:
        ONNXRegistry.from_torchlib = build


def outputs_of(request: Request) -> list[str]:
    return ["output", "h_n"] + (["c_n"] if request.spec.mode == "LSTM" else [])


def export(request: Request, dynamo: bool) -> bytes:
    spec = request.spec
    dtype = DTYPES[request.dtype]
    inputs = graph_inputs(request)
    states = tuple(name for name in ("h0", "c0") if name in inputs)
    total_length = request.seq_len if "lengths" in inputs else None
    module = build_module(spec, request.params, dtype).train(request.training)
    wrapper = Exported(module, spec.mode, total_length, states)
    args = tuple(
        from_numpy(v, dtype=dtype) if name != "lengths" else torch.from_numpy(v)
        for name, v in inputs.items()
    )
    buffer = io.BytesIO()
    registry = torchlib_registry_once() if dynamo else contextlib.nullcontext()
    with warnings.catch_warnings(), registry:
        warnings.simplefilter("ignore")  # deprecation and batch-size advice, not findings
        torch.onnx.export(
            wrapper, args, buffer, dynamo=dynamo, input_names=list(inputs),
            output_names=outputs_of(request), opset_version=OPSET, verbose=False,
            dynamic_axes=dynamic_axes(request, inputs, dynamo) or None,
            training=TRAINING_MODES[request.training],
        )  # fmt: skip
    return buffer.getvalue()


SESSIONS: SessionCache = SessionCache()


def session_for(request: Request, dynamo: bool):
    """The ONNX Runtime session of the request's export, from SESSIONS when an earlier call
    exported the same graph (same weights, structure and inputs given; the same shapes but for
    the axes `dynamic_axes` leaves open)."""
    import onnxruntime

    from .onnx_adapter import session_options

    inputs = graph_inputs(request)
    key = (
        "dynamo" if dynamo else "legacy",
        request.spec,
        request.training,
        str(request.dtype),
        input_signature(inputs, dynamic_axes(request, inputs, dynamo)),
        weights_digest(request.params),
    )
    return SESSIONS.get(
        key,
        lambda: onnxruntime.InferenceSession(
            export(request, dynamo), session_options(), providers=["CPUExecutionProvider"]
        ),
    )


def run_exported(request: Request, dynamo: bool) -> Tensors:
    session = session_for(request, dynamo)
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

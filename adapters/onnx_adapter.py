"""`onnxruntime` and `onnx-reference`: one ONNX graph (adapters/onnx_graph.py), two runtimes.

`onnxruntime` runs the graph with ONNX Runtime's CPU kernels; `onnx-reference` with ONNX's own
`onnx.reference.ReferenceEvaluator`. Both get the graph as an exporter would write it, time-major;
a batch_first request is transposed in NumPy before and after (the graph keeps the default
`layout` 0), which the registry's descriptions say.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from .layout import from_time_major
from .onnx_graph import build_model, feeds, given_states
from .request import Request, Tensors, named


def model_for(request: Request):
    spec = request.spec
    states = given_states(request.h0, request.c0)
    return build_model(
        spec,
        request.params,
        request.dtype,
        request.seq_len,
        request.batch,
        states,
        with_lengths=request.lengths is not None,
    )


def graph_feeds(request: Request) -> dict[str, np.ndarray]:
    x = request.x if not request.spec.batch_first else np.swapaxes(request.x, 0, 1)
    return feeds(request.spec, x, request.h0, request.c0, request.lengths)


def tensors_of(request: Request, results: list[np.ndarray]) -> Tensors:
    output, *states = results
    return named(request.spec, from_time_major(output, request.spec.batch_first), *states)


@lru_cache(maxsize=1)
def session_options():
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not findings
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
    options.intra_op_num_threads = threads
    return options


def run_onnxruntime(request: Request) -> Tensors:
    import onnxruntime

    model = model_for(request)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"]
    )
    return tensors_of(request, session.run(None, graph_feeds(request)))


def run_reference(request: Request) -> Tensors:
    from onnx.reference import ReferenceEvaluator

    return tensors_of(
        request, ReferenceEvaluator(model_for(request)).run(None, graph_feeds(request))
    )

"""`keras-onnx`: the `keras` implementation's model converted by tf2onnx, run by ONNX Runtime.

The layers are `keras_adapter.make_layer`'s (SimpleRNN / LSTM / GRU(reset_after=True),
Bidirectional(merge_mode="concat"), stacked with return_sequences), on the TensorFlow backend,
assembled as a functional keras.Model whose inputs are exactly what the request gives: x
batch-major, a boolean (batch, time) mask when lengths are given (passed to every layer's call, as
the `keras` implementation does), and h0 / c0 as the request holds them, (layers * directions,
batch, features), sliced per layer and direction inside the graph (an LSTM given only one of the
two gets zeros for the other, in the graph). The canonical weights are set with
`keras_adapter.keras_weights`, the model is converted in memory by `tf2onnx.convert.from_keras`
(opset 17) and ONNX Runtime runs it on its CPU kernels. A setting tf2onnx cannot convert raises
its own error: that is the outcome, there is no fallback. The model leaves the time axis open, so a
worker keeps the last few sessions (adapters/export_cache.py) and a call with the same weights,
structure and batch size (a relation check's other sequence length or state, or the same
configuration with the other `batch_first`) reuses the conversion.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import replace

import numpy as np

from . import keras_adapter, opsets
from .export_cache import SessionCache, input_signature, weights_digest
from .keras_adapter import (
    Dropout,
    between_layers_dropout,
    direction_cells,
    keras_weights,
    make_layer,
)
from .layout import layer_weights
from .request import Request, Tensors, named
from .spec import Spec

OPSET = opsets.TF2ONNX


def graph_inputs(request: Request) -> dict[str, np.ndarray]:
    """The model's inputs, in order: x (batch-major), mask, h0, c0, each only when given."""
    inputs = {"x": np.ascontiguousarray(request.batch_major_x())}
    if request.lengths is not None:
        inputs["mask"] = np.ascontiguousarray(request.valid_steps().T)
    for name in ("h0", "c0"):
        value = getattr(request, name)
        if value is not None:
            inputs[name] = np.ascontiguousarray(value, dtype=request.dtype)
    return inputs


# the time axis of x and mask is left open: one conversion runs every length. The batch axis
# stays fixed: with it open too, tf2onnx's graph for a batch of one differs from the static one
# by up to 1.2e-7 in float32 (measured, docs/PERFORMANCE.md); with the time axis alone open the
# results are bit for bit the static graph's.
OPEN_AXES = {"x": (1,), "mask": (1,)}


def input_shapes(inputs: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Each input's shape in the model, None on the OPEN_AXES (x and mask are batch-major)."""
    return {
        name: tuple(
            None if axis in OPEN_AXES.get(name, ()) else n for axis, n in enumerate(value.shape)
        )
        for name, value in inputs.items()
    }


def build_model(keras, spec: Spec, request: Request, inputs: dict[str, np.ndarray]):
    """The functional keras.Model of the whole stack, with the request's weights set."""
    ops = keras.ops
    dtype = str(request.dtype)
    shapes = input_shapes(inputs)
    tensors = {
        name: keras.Input(batch_shape=shapes[name], dtype=str(value.dtype), name=name)
        for name, value in inputs.items()
    }
    h0, c0 = tensors.get("h0"), tensors.get("c0")
    if spec.has_cell_state and (h0 is not None or c0 is not None):
        # as run_stacked: a missing one of the two is zeros (h and c have the same width here:
        # Keras has no proj_size)
        h0 = ops.zeros_like(c0) if h0 is None else h0
        c0 = ops.zeros_like(h0) if c0 is None else c0
    mask = tensors.get("mask")

    hidden, finals, layers = tensors["x"], [], []
    for index in range(spec.num_layers):
        dropout = between_layers_dropout(keras, spec, dtype, request.seed, index)
        if dropout is not None:
            hidden = dropout(hidden)
        layer = make_layer(keras, spec.one_layer(index), dtype, Dropout.of(request))
        initial_state = None
        if h0 is not None:  # Keras: [h, c] per direction, forward first
            rows = [index * spec.num_directions + d for d in range(spec.num_directions)]
            initial_state = [
                a for r in rows for a in ((h0[r], c0[r]) if spec.has_cell_state else (h0[r],))
            ]
        hidden, *states = layer(hidden, mask=mask, initial_state=initial_state)
        finals.extend(states)  # (h, c) or (h,) per direction: PyTorch's layer-major row order
        layers.append(layer)

    per_row = 2 if spec.has_cell_state else 1
    outputs = [hidden, ops.stack(finals[0::per_row])]
    if spec.has_cell_state:
        outputs.append(ops.stack(finals[1::per_row]))
    model = keras.Model(inputs=list(tensors.values()), outputs=outputs)

    for index, layer in enumerate(layers):
        for direction, cell in enumerate(direction_cells(layer, spec)):
            w = layer_weights(spec, request.params, index, direction, request.dtype)
            cell.set_weights(keras_weights(spec, w))
    return model


@contextlib.contextmanager
def quiet():
    """tf2onnx logs every rewriter and optimizer pass at INFO; TensorFlow warns on tracing."""
    import tensorflow as tf

    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow")]
    levels = [logger.level for logger in loggers]
    tf_level = tf.get_logger().level
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        tf.get_logger().setLevel(tf_level)


@contextlib.contextmanager
def environment(name: str, value: str):
    """`name` set to `value` within, as it was outside."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def from_keras(model, signature):
    """tf2onnx's conversion of `model`, its passes run in place.

    By default tf2onnx's optimizer deep-copies the whole graph before each of its passes (a dozen
    passes, two or three rounds) so that a pass that raises can be undone and skipped with a
    warning: a quarter of a conversion's time (docs/PERFORMANCE.md, "tf2onnx's graph copies").
    Its own switch TF2ONNX_CATCH_ERRORS runs the passes on the graph itself; a conversion that
    raises so is converted again as tf2onnx does by default, never in place.

    The same model as the default conversion, by measurement and not by construction: over every
    conversion of the grid the operators are the same and ONNX Runtime's outputs bit for bit
    (tf2onnx's conversions are not deterministic, so not its bytes; tests/test_keras_onnx.py
    checks three structures). A copy registers a Loop or If body a second time under another
    key, so a pass that counts a tensor's consumers across a body may decide otherwise on the
    default path: compare both ways again (the plugin in docs/PERFORMANCE.md) when tf2onnx or
    the grid changes.
    """
    try:
        with environment("TF2ONNX_CATCH_ERRORS", "FALSE"):
            return tf2onnx_conversion(model, signature)
    except Exception:  # noqa: BLE001 - converted again below: the outcome is tf2onnx's own
        pass
    return tf2onnx_conversion(model, signature)  # outside the handler: not chained to the first


def tf2onnx_conversion(model, signature):
    """tf2onnx's conversion of `model` as a user calls it (its passes on copies of the graph,
    unless TF2ONNX_CATCH_ERRORS is set)."""
    import tf2onnx

    return tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)[0]


def convert(request: Request) -> tuple[bytes, dict[str, np.ndarray]]:
    """(the serialized ONNX model, its feeds) for the request."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = keras_adapter.import_keras("tensorflow")
    import tensorflow as tf

    inputs = graph_inputs(request)
    model = build_model(keras, request.spec, request, inputs)
    shapes = input_shapes(inputs)
    signature = [tf.TensorSpec(shapes[k], tf.as_dtype(v.dtype), name=k) for k, v in inputs.items()]
    with quiet():
        proto = from_keras(model, signature)
    # the converted model is all that is kept. free_memory=False: Keras's gc.collect() here took
    # 0.3 s of each 1-2 s conversion (docs/PERFORMANCE.md, "The garbage collector")
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # a Keras 3 release before the argument
        keras.backend.clear_session()
    return proto.SerializeToString(), inputs


SESSIONS: SessionCache = SessionCache()


def session_for(request: Request, inputs: dict[str, np.ndarray]):
    """The ONNX Runtime session of the request's converted model, from SESSIONS when an earlier
    call converted the same model: same weights, structure, inputs given and shapes but for the
    sequence length (OPEN_AXES), in either layout."""
    import onnxruntime

    from .onnx_adapter import session_options

    key = (
        # the model takes x batch-major whatever the request's layout (graph_inputs): the two
        # layouts of a configuration are one model, converted once
        replace(request.spec, batch_first=False),
        Dropout.of(request),  # a graph converted with other dropout layers is another graph
        request.training,
        str(request.dtype),
        input_signature(inputs, OPEN_AXES),
        weights_digest(request.params),
    )
    return SESSIONS.get(
        key,
        lambda: onnxruntime.InferenceSession(
            convert(request)[0], session_options(), providers=["CPUExecutionProvider"]
        ),
    )


def run(request: Request) -> Tensors:
    inputs = graph_inputs(request)
    session = session_for(request, inputs)
    names = [i.name for i in session.get_inputs()]  # tf2onnx keeps the signature's names
    missing = set(names) - set(inputs)
    if missing:
        raise RuntimeError(f"the converted graph wants inputs {sorted(missing)} the request lacks")
    output, *states = session.run(None, {name: inputs[name] for name in names})
    spec = request.spec
    return named(spec, output if spec.batch_first else np.swapaxes(output, 0, 1), *states)

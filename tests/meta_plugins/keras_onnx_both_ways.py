"""pytest -p tests.meta_plugins.keras_onnx_both_ways: every keras-onnx conversion made twice.

keras-onnx converts with tf2onnx's optimizer passes run in place (adapters/keras_onnx_adapter.py,
`from_keras`), the same model as tf2onnx's default conversion by measurement, not by
construction. After a tf2onnx upgrade or a change of the grid, measure again:

    pytest conformance -n auto --impl keras-onnx -p tests.meta_plugins.keras_onnx_both_ways

Each conversion is made in place and the default way; a case errors where the two differ in
their operators (how many of each) or in what ONNX Runtime computes from them on the case's
inputs (bit for bit), or where only the default one fails (where the in-place one fails, the
adapter converts the default way itself). tf2onnx's conversions are not
deterministic (node names, the order of a Loop body's outputs), so their bytes are not compared.
"""

from __future__ import annotations

import re

import numpy as np


def operator_counts(model_bytes: bytes) -> dict[str, int]:
    """How many nodes of each operator the model has, its subgraphs' included."""
    import onnx

    counts: dict[str, int] = {}

    def walk(graph):
        for node in graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
            for attribute in node.attribute:
                for subgraph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                    walk(subgraph)

    walk(onnx.load_from_string(model_bytes).graph)
    return counts


def error_text(error: BaseException) -> str:
    """An error as text, tf2onnx's per-process node numbers (`LSTM__96`) left out."""
    return re.sub(r"__\d+", "__N", f"{type(error).__name__}: {error}")


def computed(model_bytes: bytes, inputs: dict[str, np.ndarray]):
    """ONNX Runtime's outputs, or its error as text (error_text)."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        return session.run(None, {i.name: inputs[i.name] for i in session.get_inputs()})
    except Exception as error:  # noqa: BLE001 - failing the same way is agreeing
        return error_text(error)


def converted_by_default(request, convert) -> bytes:
    """The request's model by `convert` (keras_onnx_adapter's), its conversion made tf2onnx's
    default way (the passes on copies of the graph)."""
    from adapters import keras_onnx_adapter as keras_onnx

    in_place = keras_onnx.from_keras
    keras_onnx.from_keras = keras_onnx.tf2onnx_conversion
    try:
        return convert(request)[0]
    finally:
        keras_onnx.from_keras = in_place


def differences(model: bytes, inputs: dict[str, np.ndarray], default: bytes) -> list[str]:
    """What differs between a model converted in place and the default one."""
    found = []
    operators, default_operators = operator_counts(model), operator_counts(default)
    if operators != default_operators:
        found.append(f"operators {operators} != {default_operators}")
    ours, theirs = computed(model, inputs), computed(default, inputs)
    if isinstance(ours, str) or isinstance(theirs, str):
        if ours != theirs:
            found.append(f"ONNX Runtime: {ours if isinstance(ours, str) else 'ran'} / "
                         f"{theirs if isinstance(theirs, str) else 'ran'}")  # fmt: skip
    elif len(ours) != len(theirs) or not all(
        a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(ours, theirs)
    ):
        found.append("ONNX Runtime's outputs differ")
    return found


def pytest_configure(config):
    from adapters import keras_onnx_adapter as keras_onnx

    in_place = keras_onnx.convert

    def both_ways(request):
        # where the in-place conversion raises, from_keras converted again the default way:
        # its error, if it raises too, is the default conversion's, the case's outcome as ever
        model, inputs = in_place(request)
        try:
            default = converted_by_default(request, in_place)
        except Exception as error:  # noqa: BLE001
            raise AssertionError(f"by default: {error_text(error)}; in place: converted") from error
        if found := differences(model, inputs, default):
            raise AssertionError("in place and by default: " + "; ".join(found))
        return model, inputs

    keras_onnx.convert = both_ways

"""An ONNX graph of a recurrent layer, built from the canonical weights with ONNX's own helpers.

One ONNX RNN / LSTM / GRU node per layer, both directions in one node (`direction`), chained as
an exporter chains them: Y is [T, D, N, H], so a Transpose and a Reshape make the next layer's
[T, N, D*H] input. Gate orders are those of the ONNX operator spec, written out from it: LSTM
i, o, f, c; GRU z, r, h with `linear_before_reset=1` (PyTorch's reset-after form); the bias is
[W_b, R_b], as PyTorch keeps b_ih and b_hh. Inputs are time-major (the graph's `layout` is the
default 0); initial states come in per layer, [D, N, H]; lengths are the nodes' `sequence_lens`.
proj_size has no ONNX equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

from . import opsets
from .spec import Spec, param_name

OPSET = opsets.ONNX_GRAPH
# ONNX gate order, as indices into PyTorch's gate blocks (LSTM i,f,g,o; GRU r,z,n).
ONNX_GATES_FROM_TORCH = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
ELEMENT_TYPE = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("float16"): TensorProto.FLOAT16,
    np.dtype("bfloat16"): TensorProto.BFLOAT16,  # ml_dtypes' (adapters/dtypes.py)
}


def onnx_gate_order(spec: Spec, array: np.ndarray) -> np.ndarray:
    blocks = np.split(array, spec.num_gates, axis=0)
    return np.concatenate([blocks[i] for i in ONNX_GATES_FROM_TORCH[spec.mode]], axis=0)


def state_input(name: str, layer: int) -> str:
    """The graph input of one layer's initial state ("h0" or "c0"), [D, N, H]."""
    return f"{name}_l{layer}"


def build_model(
    spec: Spec,
    params: Mapping[str, np.ndarray],
    dtype: np.dtype,
    seq_len: int,
    batch: int,
    states: tuple[str, ...] = (),
    with_lengths: bool = False,
) -> ModelProto:
    """The layer as an ONNX model: input "X" [T, N, input], the initial states named in
    `states` ("h0", "c0"; absent ones are ONNX's zero default), "lengths" (int32 [N]) when
    `with_lengths`; outputs "output" [T, N, D*H], "h_n" and, for LSTM, "c_n" [L*D, N, H]."""
    element = ELEMENT_TYPE[np.dtype(dtype)]
    directions = range(spec.num_directions)
    nodes, initializers = [], []
    graph_inputs = [helper.make_tensor_value_info("X", element, [seq_len, batch, spec.input_size])]
    if with_lengths:
        graph_inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, [batch]))

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    layer_input, h_finals, c_finals = "X", [], []
    for layer in range(spec.num_layers):

        def stacked(kind: str, layer: int = layer) -> np.ndarray:
            weights = [params[param_name(kind, layer, d)] for d in directions]
            return np.stack([onnx_gate_order(spec, w) for w in weights]).astype(dtype)

        inputs = [layer_input, constant(f"W{layer}", stacked("weight_ih"))]
        inputs.append(constant(f"R{layer}", stacked("weight_hh")))
        bias = (
            np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1) if spec.bias else None
        )
        inputs.append("" if bias is None else constant(f"B{layer}", bias))
        inputs.append("lengths" if with_lengths else "")
        for name in ("h0", "c0") if spec.mode == "LSTM" else ("h0",):
            if name in states:
                graph_inputs.append(
                    helper.make_tensor_value_info(
                        state_input(name, layer),
                        element,
                        [spec.num_directions, batch, spec.hidden_size],
                    )
                )
            inputs.append(state_input(name, layer) if name in states else "")
        attributes = {
            "hidden_size": spec.hidden_size,
            "direction": "bidirectional" if spec.bidirectional else "forward",
        }
        if spec.mode == "GRU":
            attributes["linear_before_reset"] = 1
        if spec.mode == "RNN":
            attributes["activations"] = [spec.nonlinearity.capitalize()] * spec.num_directions
        outputs = [f"Y{layer}", f"Yh{layer}"] + ([f"Yc{layer}"] if spec.mode == "LSTM" else [])
        nodes.append(helper.make_node(spec.mode, _trim(inputs), outputs, **attributes))
        # Y is [T, D, N, H]; the next layer (and PyTorch's output) wants [T, N, D*H].
        nodes.append(
            helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3])
        )
        shape = constant(f"shape{layer}", np.array([0, 0, -1], dtype=np.int64))
        layer_output = "output" if layer == spec.num_layers - 1 else f"out{layer}"
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", shape], [layer_output]))
        layer_input = layer_output
        h_finals.append(f"Yh{layer}")
        c_finals.append(f"Yc{layer}")

    rows = spec.num_layers * spec.num_directions
    state_shape = [rows, batch, spec.hidden_size]
    nodes.append(helper.make_node("Concat", h_finals, ["h_n"], axis=0))
    graph_outputs = [
        helper.make_tensor_value_info(
            "output", element, [seq_len, batch, spec.num_directions * spec.hidden_size]
        ),
        helper.make_tensor_value_info("h_n", element, state_shape),
    ]
    if spec.mode == "LSTM":
        nodes.append(helper.make_node("Concat", c_finals, ["c_n"], axis=0))
        graph_outputs.append(helper.make_tensor_value_info("c_n", element, state_shape))
    graph = helper.make_graph(nodes, "recurrent_layer", graph_inputs, graph_outputs, initializers)
    opset = opsets.ONNX_GRAPH_BFLOAT16 if element == TensorProto.BFLOAT16 else OPSET
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _trim(inputs: list[str]) -> list[str]:
    """Trailing optional inputs left out, as exporters write them."""
    while inputs and inputs[-1] == "":
        inputs = inputs[:-1]
    return inputs


def feeds(
    spec: Spec,
    x_time_major: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    lengths: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The graph's inputs from the canonical arrays ([L*D, N, H] states split per layer)."""
    values = {"X": np.ascontiguousarray(x_time_major)}
    directions = spec.num_directions
    for name, state in (("h0", h0), ("c0", c0)):
        if state is not None:
            for layer in range(spec.num_layers):
                part = state[layer * directions : (layer + 1) * directions]
                values[state_input(name, layer)] = np.ascontiguousarray(part)
    if lengths is not None:
        values["lengths"] = np.asarray(lengths, dtype=np.int32)
    return values


def given_states(h0, c0) -> tuple[str, ...]:
    """The initial states a request gives, as build_model names them."""
    return tuple(name for name, state in (("h0", h0), ("c0", c0)) if state is not None)

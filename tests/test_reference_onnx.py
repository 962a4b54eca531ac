"""The NumPy reference against ONNX's reference evaluator (onnx.reference), an independent source.

ONNX expresses LSTM (without projection), GRU (linear_before_reset=1 is PyTorch's reset-after
form) and RNN with tanh; one node per layer, chained by Transpose + Reshape as a real export is.
Gate orders are written out here from the ONNX operator spec: LSTM i, o, f, c; GRU z, r, h.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import Spec, init_params, numpy_reference
from adapters.spec import param_name

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

ONNX_OP = {"RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
# ONNX gate order, as indices into PyTorch's gate blocks (LSTM i,f,g,o; GRU r,z,n).
ONNX_GATES_FROM_TORCH = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def onnx_gate_order(spec: Spec, array: np.ndarray) -> np.ndarray:
    blocks = np.split(array, spec.num_gates, axis=0)
    return np.concatenate([blocks[i] for i in ONNX_GATES_FROM_TORCH[spec.mode]], axis=0)


def onnx_model(spec: Spec, params: dict, seq_len: int, batch: int, with_state: bool):
    directions = range(spec.num_directions)
    nodes, initializers, graph_inputs = [], [], []
    dtype = TensorProto.DOUBLE

    def constant(name, value):
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    graph_inputs.append(
        helper.make_tensor_value_info("X", dtype, [seq_len, batch, spec.input_size])
    )
    layer_input, h_finals, c_finals = "X", [], []
    for layer in range(spec.num_layers):

        def stacked(kind, layer=layer):
            return np.stack(
                [onnx_gate_order(spec, params[param_name(kind, layer, d)]) for d in directions]
            )

        inputs = [layer_input, constant(f"W{layer}", stacked("weight_ih"))]
        inputs.append(constant(f"R{layer}", stacked("weight_hh")))
        if spec.bias:
            bias = np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1)
            inputs.append(constant(f"B{layer}", bias))
        else:
            inputs.append("")
        inputs.append("")  # sequence_lens
        state_names = ["h0"] + (["c0"] if spec.mode == "LSTM" else [])
        if with_state:
            for name in state_names:
                rows = [f"{name}_l{layer}_d{d}" for d in directions]
                for row in rows:
                    graph_inputs.append(
                        helper.make_tensor_value_info(row, dtype, [batch, spec.hidden_size])
                    )
                unsqueezed = [f"{row}_u" for row in rows]
                for row, out in zip(rows, unsqueezed):
                    nodes.append(
                        helper.make_node("Unsqueeze", [row, constant(f"{row}_axis", [0])], [out])
                    )
                nodes.append(helper.make_node("Concat", unsqueezed, [f"{name}_l{layer}"], axis=0))
                inputs.append(f"{name}_l{layer}")
        outputs = [f"Y{layer}", f"Yh{layer}"] + ([f"Yc{layer}"] if spec.mode == "LSTM" else [])
        attributes = dict(
            hidden_size=spec.hidden_size,
            direction="bidirectional" if spec.bidirectional else "forward",
        )
        if spec.mode == "GRU":
            attributes["linear_before_reset"] = 1
        if spec.mode == "RNN":
            attributes["activations"] = ["Tanh"] * spec.num_directions
        nodes.append(helper.make_node(ONNX_OP[spec.mode], inputs, outputs, **attributes))
        # Y is [T, D, N, H]; the next layer (and PyTorch's output) wants [T, N, D*H].
        nodes.append(
            helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3])
        )
        shape = constant(f"shape{layer}", np.array([0, 0, -1], dtype=np.int64))
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", shape], [f"out{layer}"]))
        layer_input = f"out{layer}"
        h_finals.append(f"Yh{layer}")
        c_finals.append(f"Yc{layer}")

    nodes.append(helper.make_node("Concat", h_finals, ["h_n"], axis=0))
    rows = spec.num_layers * spec.num_directions
    out_shape = [seq_len, batch, spec.num_directions * spec.hidden_size]
    graph_outputs = [helper.make_tensor_value_info(layer_input, dtype, out_shape)]
    state_shape = [rows, batch, spec.hidden_size]
    graph_outputs.append(helper.make_tensor_value_info("h_n", dtype, state_shape))
    if spec.mode == "LSTM":
        nodes.append(helper.make_node("Concat", c_finals, ["c_n"], axis=0))
        graph_outputs.append(helper.make_tensor_value_info("c_n", dtype, state_shape))
    graph = helper.make_graph(nodes, "rnn", graph_inputs, graph_outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


GRID = list(
    itertools.product(("RNN", "LSTM", "GRU"), (1, 2), (False, True), (True, False), (True, False))
)


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional, bias, with_state",
    GRID,
    ids=[
        f"{m}-L{n}-{'bi' if b else 'uni'}-{'bias' if bias else 'nobias'}-{'h0' if s else 'zeros'}"
        for m, n, b, bias, s in GRID
    ],
)
def test_reference_matches_onnx_reference_evaluator(
    mode, num_layers, bidirectional, bias, with_state
):
    spec = Spec(
        mode=mode,
        input_size=3,
        hidden_size=4,
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=bias,
    )
    seq_len, batch = 5, 2
    params = {k: v.astype(np.float64) for k, v in init_params(spec, seed=7).items()}
    rng = np.random.default_rng(3)
    x = rng.normal(size=(seq_len, batch, spec.input_size))
    rows = num_layers * spec.num_directions
    h0 = rng.normal(size=(rows, batch, 4)) if with_state else None
    c0 = rng.normal(size=(rows, batch, 4)) if with_state and mode == "LSTM" else None

    feeds = {"X": x}
    if with_state:
        for name, state in (("h0", h0), ("c0", c0)):
            if state is None:
                continue
            for row in range(rows):
                layer, d = divmod(row, spec.num_directions)
                feeds[f"{name}_l{layer}_d{d}"] = state[row]
    model = onnx_model(spec, params, seq_len, batch, with_state)
    onnx.checker.check_model(model)
    expected = ReferenceEvaluator(model).run(None, feeds)

    got = numpy_reference.forward(spec, params, x, h0, c0)
    names = ("output", "h_n", "c_n")
    for name, g, e in zip(names, got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=name)
    assert len(expected) == (3 if mode == "LSTM" else 2)


LENGTHS_GRID = list(itertools.product(("RNN", "LSTM", "GRU"), (1, 2), (False, True)))


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional",
    LENGTHS_GRID,
    ids=[f"{m}-L{n}-{'bi' if b else 'uni'}" for m, n, b in LENGTHS_GRID],
)
def test_reference_with_lengths_matches_onnx_run_row_by_row(mode, num_layers, bidirectional):
    """Packed semantics without trusting any packing code: a row of length L is the ONNX graph
    run on that row's first L steps alone (onnx.reference ignores sequence_lens, so each row is
    run on its own). Its padded outputs must be exactly 0."""
    spec = Spec(
        mode=mode, input_size=3, hidden_size=4, num_layers=num_layers, bidirectional=bidirectional
    )
    seq_len, lengths = 5, np.array([3, 5, 1, 3])
    batch, rows = len(lengths), num_layers * spec.num_directions
    params = {k: v.astype(np.float64) for k, v in init_params(spec, seed=11).items()}
    rng = np.random.default_rng(5)
    x = rng.normal(size=(seq_len, batch, spec.input_size))
    h0 = rng.normal(size=(rows, batch, 4))
    c0 = rng.normal(size=(rows, batch, 4)) if mode == "LSTM" else None

    output, h_n, c_n = numpy_reference.forward(spec, params, x, h0, c0, lengths)
    for n, length in enumerate(lengths):
        feeds = {"X": x[:length, n : n + 1]}
        for name, state in (("h0", h0), ("c0", c0)):
            for row in range(rows if state is not None else 0):
                layer, d = divmod(row, spec.num_directions)
                feeds[f"{name}_l{layer}_d{d}"] = state[row, n : n + 1]
        model = onnx_model(spec, params, int(length), 1, with_state=True)
        expected = ReferenceEvaluator(model).run(None, feeds)
        np.testing.assert_allclose(output[:length, n : n + 1], expected[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(output[length:, n], 0.0)
        np.testing.assert_allclose(h_n[:, n : n + 1], expected[1], rtol=1e-12, atol=1e-12)
        if mode == "LSTM":
            np.testing.assert_allclose(c_n[:, n : n + 1], expected[2], rtol=1e-12, atol=1e-12)

"""The reference against values worked out by hand from the equations, on cases small enough to
follow with a pencil (one or two units, one or two steps). Expected values are written as the
equations' arithmetic, not copied from the code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters import Spec, init_params, numpy_reference


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def arr(*values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_rnn_tanh_one_step_one_unit():
    spec = Spec(mode="RNN", input_size=1, hidden_size=1)
    params = {
        "weight_ih_l0": arr([2.0]),
        "weight_hh_l0": arr([-1.0]),
        "bias_ih_l0": arr(0.25),
        "bias_hh_l0": arr(-0.5),
    }
    x, h0 = arr([[0.5]]), arr([[0.5]])
    output, h_n, c_n = numpy_reference.forward(spec, params, x, h0)
    # 2*0.5 + 0.25 + (-1)*0.5 - 0.5 = 0.25
    assert output[0, 0, 0] == pytest.approx(math.tanh(0.25), abs=1e-15)
    assert h_n[0, 0, 0] == output[0, 0, 0]
    assert c_n is None


def test_rnn_relu_clips_at_zero_and_carries_state():
    spec = Spec(mode="RNN", input_size=1, hidden_size=1, nonlinearity="relu", bias=False)
    params = {"weight_ih_l0": arr([1.0]), "weight_hh_l0": arr([0.5])}
    x = arr([[1.0]], [[-2.0]], [[3.0]])
    output, h_n, _ = numpy_reference.forward(spec, params, x)
    # h1 = relu(1) = 1; h2 = relu(-2 + 0.5) = 0; h3 = relu(3 + 0) = 3
    assert output[:, 0, 0].tolist() == [1.0, 0.0, 3.0]
    assert h_n[0, 0, 0] == 3.0


def test_lstm_gate_order_is_i_f_g_o():
    spec = Spec(mode="LSTM", input_size=1, hidden_size=1, bias=False)
    # One distinct input weight per gate: i=1, f=2, g=3, o=4; h0 = 0 so W_hh does not act.
    params = {"weight_ih_l0": arr([1.0], [2.0], [3.0], [4.0]), "weight_hh_l0": arr(*[[9.0]] * 4)}
    x, h0, c0 = arr([[1.0]]), arr([[0.0]]), arr([[1.0]])
    _, h_n, c_n = numpy_reference.forward(spec, params, x, h0, c0)
    c = sigmoid(2) * 1.0 + sigmoid(1) * math.tanh(3)
    assert c_n[0, 0, 0] == pytest.approx(c, abs=1e-15)
    assert h_n[0, 0, 0] == pytest.approx(sigmoid(4) * math.tanh(c), abs=1e-15)


def test_lstm_biases_are_both_added():
    spec = Spec(mode="LSTM", input_size=1, hidden_size=1)
    zeros = arr([0.0], [0.0], [0.0], [0.0])
    params = {
        "weight_ih_l0": zeros,
        "weight_hh_l0": zeros,
        "bias_ih_l0": arr(0.5, 0.0, 1.0, 0.0),
        "bias_hh_l0": arr(0.5, 0.0, 0.0, -1.0),
    }
    _, h_n, c_n = numpy_reference.forward(spec, params, arr([[0.0]]))
    c = sigmoid(0) * 0.0 + sigmoid(1.0) * math.tanh(1.0)  # i = 0.5 + 0.5, g = 1, c0 = 0
    assert c_n[0, 0, 0] == pytest.approx(c, abs=1e-15)
    assert h_n[0, 0, 0] == pytest.approx(sigmoid(-1.0) * math.tanh(c), abs=1e-15)


def test_lstm_projection_maps_hidden_to_proj_size():
    spec = Spec(mode="LSTM", input_size=1, hidden_size=2, proj_size=1, bias=False)
    # gates (i, f, g, o) x 2 units: only g has weights, +1 for unit 0 and -1 for unit 1
    w_ih = arr([0.0], [0.0], [0.0], [0.0], [1.0], [-1.0], [0.0], [0.0])
    params = {
        "weight_ih_l0": w_ih,
        "weight_hh_l0": np.zeros((8, 1)),
        "weight_hr_l0": arr([0.5, -1.0]),
    }
    output, h_n, c_n = numpy_reference.forward(spec, params, arr([[1.0]]))
    c0, c1 = 0.5 * math.tanh(1), -0.5 * math.tanh(1)  # i = sigmoid(0) = 0.5, c_prev = 0
    h0, h1 = 0.5 * math.tanh(c0), 0.5 * math.tanh(c1)  # o = 0.5
    assert c_n[0, 0].tolist() == pytest.approx([c0, c1], abs=1e-15)
    assert h_n.shape == (1, 1, 1) and output.shape == (1, 1, 1)
    assert h_n[0, 0, 0] == pytest.approx(0.5 * h0 - 1.0 * h1, abs=1e-15)


def test_gru_applies_reset_after_the_recurrent_matmul():
    spec = Spec(mode="GRU", input_size=1, hidden_size=1)
    params = {
        "weight_ih_l0": arr([0.0], [0.0], [1.0]),  # r, z, n
        "weight_hh_l0": arr([0.0], [0.0], [2.0]),
        "bias_ih_l0": arr(0.0, 0.0, 0.0),
        "bias_hh_l0": arr(0.0, 0.0, 1.0),
    }
    x, h0 = arr([[1.0]]), arr([[0.5]])
    _, h_n, _ = numpy_reference.forward(spec, params, x, h0)
    r = z = sigmoid(0)
    n = math.tanh(1.0 + r * (2.0 * 0.5 + 1.0))  # reset-before would be tanh(1 + 2*r*0.5 + 1)
    assert h_n[0, 0, 0] == pytest.approx((1 - z) * n + z * 0.5, abs=1e-15)
    assert n != pytest.approx(math.tanh(1.0 + 2.0 * r * 0.5 + 1.0))


def test_gru_update_gate_is_second_block():
    spec = Spec(mode="GRU", input_size=1, hidden_size=1, bias=False)
    params = {"weight_ih_l0": arr([0.0], [3.0], [1.0]), "weight_hh_l0": arr([0.0], [0.0], [0.0])}
    _, h_n, _ = numpy_reference.forward(spec, params, arr([[1.0]]), arr([[1.0]]))
    z = sigmoid(3.0)
    assert h_n[0, 0, 0] == pytest.approx((1 - z) * math.tanh(1.0) + z * 1.0, abs=1e-15)


def test_bidirectional_reverse_state_is_after_reading_t0():
    spec = Spec(mode="RNN", input_size=1, hidden_size=1, bias=False, bidirectional=True)
    params = {
        "weight_ih_l0": arr([1.0]),
        "weight_hh_l0": arr([1.0]),
        "weight_ih_l0_reverse": arr([-1.0]),
        "weight_hh_l0_reverse": arr([0.5]),
    }
    a, b = 0.3, 0.7
    output, h_n, _ = numpy_reference.forward(spec, params, arr([[a]], [[b]]))
    forward_1, forward_2 = math.tanh(a), math.tanh(b + math.tanh(a))
    backward_2 = math.tanh(-b)
    backward_1 = math.tanh(-a + 0.5 * backward_2)
    assert output[:, 0, 0].tolist() == pytest.approx([forward_1, forward_2], abs=1e-15)
    assert output[:, 0, 1].tolist() == pytest.approx([backward_1, backward_2], abs=1e-15)
    assert h_n[:, 0, 0].tolist() == pytest.approx([forward_2, backward_1], abs=1e-15)


def test_second_layer_reads_first_layer_output_and_h_n_is_layer_major():
    spec = Spec(mode="RNN", input_size=1, hidden_size=1, num_layers=2, bias=False)
    params = {
        "weight_ih_l0": arr([2.0]),
        "weight_hh_l0": arr([0.0]),
        "weight_ih_l1": arr([-3.0]),
        "weight_hh_l1": arr([0.0]),
    }
    output, h_n, _ = numpy_reference.forward(spec, params, arr([[0.1]]))
    layer0 = math.tanh(0.2)
    layer1 = math.tanh(-3.0 * layer0)
    assert h_n[:, 0, 0].tolist() == pytest.approx([layer0, layer1], abs=1e-15)
    assert output[0, 0, 0] == pytest.approx(layer1, abs=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_computes_in_the_dtype_of_x(dtype):
    spec = Spec(mode="LSTM", input_size=1, hidden_size=2, proj_size=1)

    params = init_params(spec, seed=0)  # float32 params: the dtype of x still decides
    x = np.ones((2, 1, 1), dtype=dtype)
    output, h_n, c_n = numpy_reference.forward(spec, params, x, np.zeros((1, 1, 1)))
    assert output.dtype == h_n.dtype == c_n.dtype == dtype


def test_lengths_stop_each_row_and_start_its_reverse_direction_at_its_last_step():
    """Bidirectional one-unit tanh RNN, W_ih = 1, W_hh = 0.5, no bias, h0 = 0; x = 1, 2, 3 for
    both rows; row 0 has length 2, row 1 length 3 (PyTorch's packed semantics)."""
    spec = Spec(mode="RNN", input_size=1, hidden_size=1, bidirectional=True, bias=False)
    one, half = arr([1.0]), arr([0.5])
    params = {
        "weight_ih_l0": one,
        "weight_hh_l0": half,
        "weight_ih_l0_reverse": one,
        "weight_hh_l0_reverse": half,
    }
    x = np.array([[[1.0], [1.0]], [[2.0], [2.0]], [[3.0], [3.0]]])  # (seq 3, batch 2, 1)
    output, h_n, _ = numpy_reference.forward(spec, params, x, lengths=np.array([2, 3]))

    f1 = math.tanh(1.0)
    f2 = math.tanh(2.0 + 0.5 * f1)  # row 0 stops here: step 2 does not exist for it
    b1 = math.tanh(2.0)  # row 0's reverse direction starts at its last valid step, t = 1
    b0 = math.tanh(1.0 + 0.5 * b1)
    assert output[:, 0, 0].tolist() == pytest.approx([f1, f2, 0.0], abs=1e-15)
    assert output[:, 0, 1].tolist() == pytest.approx([b0, b1, 0.0], abs=1e-15)
    assert output[2, 0].tolist() == [0.0, 0.0]  # padding is exactly 0
    assert h_n[:, 0, 0].tolist() == pytest.approx([f2, b0], abs=1e-15)

    full_b2 = math.tanh(3.0)  # row 1 has full length: its reverse direction starts at t = 2
    full_b1 = math.tanh(2.0 + 0.5 * full_b2)
    assert output[1, 1, 1] == pytest.approx(full_b1, abs=1e-15)


def test_a_row_of_length_zero_keeps_its_initial_state_and_outputs_zeros():
    spec = Spec(mode="LSTM", input_size=1, hidden_size=1)
    params = {k: np.full_like(v, 0.3, dtype=np.float64) for k, v in init_params(spec).items()}
    x = np.ones((2, 2, 1))
    h0, c0 = np.array([[[0.1], [0.2]]]), np.array([[[0.4], [0.5]]])
    output, h_n, c_n = numpy_reference.forward(spec, params, x, h0, c0, lengths=np.array([0, 2]))
    assert output[:, 0, 0].tolist() == [0.0, 0.0]
    assert (h_n[0, 0, 0], c_n[0, 0, 0]) == (0.1, 0.4)

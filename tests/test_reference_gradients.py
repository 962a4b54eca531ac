"""The gradient reference (adapters/numpy_gradients.py) against sources that are not its code.

1. Central finite differences of the forward reference, in float64, element by element, for every
   gradient (x, h0, c0, every parameter), on small cases covering every mode, 1 and 2 layers, both
   directions, batch_first, bias, a given or default state and lengths (none, mixed, a row of 0).
2. One step of each cell, its derivative written out by hand from the equations, gate by gate.
3. Mistakes planted in the backward alone are caught by (1): the validation can fail.

(1) differentiates the forward reference, which is itself checked against ONNX's evaluator and by
hand (test_reference_onnx.py, test_reference_hand.py); it shares no code with the backward.

Step and tolerance of (1), from measurement over this file's grid (gradients up to ~10 in
magnitude): the largest |analytic - numeric| is 8.4e-10 with step 1e-5; 8.1e-8 with 1e-4
(truncation error, ~step^2), 1.6e-9 with 1e-6 and 1.9e-8 with 1e-7 (rounding, ~eps*|loss|/step).
So the step is 1e-5, and |analytic - numeric| <= 1e-8 + 1e-6*|numeric| holds with the worst
element at 0.006 of what it allows (0.08 at step 1e-6), while each planted mistake below exceeds
it ~1e6-fold.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from adapters import Request, Spec, init_params, numpy_gradients, numpy_reference
from adapters.request import gradient_names, named

STEP = 1e-5
ATOL, RTOL = 1e-8, 1e-6

MODES = {
    "RNN_TANH": dict(mode="RNN", hidden_size=2),
    "RNN_RELU": dict(mode="RNN", hidden_size=2, nonlinearity="relu"),
    "LSTM": dict(mode="LSTM", hidden_size=2),
    "LSTM_PROJ": dict(mode="LSTM", hidden_size=2, proj_size=1),
    "GRU": dict(mode="GRU", hidden_size=2),
}
SEQ_LEN = 3
LENGTHS = {"full": None, "mixed": [3, 1, 2], "zero": [2, 0, 3]}
# (batch_first, bias, state given): every pair of values of any two of the three flags. The grid
# crosses mode, layers, directions and lengths, and rotates these rows so that within each mode
# every lengths kind meets every row.
FLAGS = [(False, False, False), (False, True, True), (True, False, True), (True, True, False)]


def make_case(spec: Spec, lengths, h0_given: bool, c0_given: bool, seed: int = 0):
    """float64 params, x, h0, c0, lengths and cotangents; cotangents are nonzero everywhere,
    padding included, so that a padded output's cotangent leaking into a gradient shows."""
    rng = np.random.default_rng(seed)
    batch = 3
    params = {k: v.astype(np.float64) for k, v in init_params(spec, seed=seed).items()}
    shape = (batch, SEQ_LEN) if spec.batch_first else (SEQ_LEN, batch)
    x = rng.normal(size=(*shape, spec.input_size))
    rows = spec.num_layers * spec.num_directions
    h0 = rng.normal(size=(rows, batch, spec.output_size)) if h0_given else None
    c0 = rng.normal(size=(rows, batch, spec.hidden_size)) if c0_given else None
    lengths = None if lengths is None else np.array(lengths)
    output, h_n, c_n = numpy_reference.forward(spec, params, x, h0, c0, lengths)
    cotangents = {"output": rng.normal(size=output.shape), "h_n": rng.normal(size=h_n.shape)}
    if c_n is not None:
        cotangents["c_n"] = rng.normal(size=c_n.shape)
    return Request(spec, params, x, h0, c0, lengths, cotangents)


def loss(request: Request) -> float:
    """<cotangents, forward>: what the gradients are the gradients of."""
    r = request
    tensors = named(r.spec, *numpy_reference.forward(r.spec, r.params, r.x, r.h0, r.c0, r.lengths))
    return sum(float(np.sum(r.cotangents[k] * tensors[k])) for k in r.cotangents)


def finite_differences(request: Request) -> dict[str, np.ndarray]:
    """Central differences of `loss`, one element at a time, named as gradient_names has it."""
    inputs = {"x": request.x, "h0": request.h0, "c0": request.c0, **request.params}
    numeric = {}
    for name, array in inputs.items():
        if array is None:
            continue
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + STEP
            above = loss(request)
            array[index] = original - STEP
            below = loss(request)
            array[index] = original
            grad[index] = (above - below) / (2 * STEP)
        numeric[f"grad_{name}"] = grad
    return numeric


def mismatches(request: Request) -> dict[str, float]:
    """The gradients that differ from finite differences beyond the tolerance, each with its worst
    |analytic - numeric| / allowed (so > 1); also any gradient missing or unexpected."""
    analytic = {k: v for k, v in numpy_reference.run(request).items() if k.startswith("grad_")}
    numeric = finite_differences(request)
    assert set(numeric) == set(gradient_names(request))  # the validation checks every gradient
    found = {name: np.inf for name in set(analytic) ^ set(numeric)}  # missing or unexpected
    for name in set(analytic) & set(numeric):
        got, expected = analytic[name], numeric[name]
        if got.shape != expected.shape:
            found[name] = np.inf
            continue
        ratio = np.max(np.abs(got - expected) / (ATOL + RTOL * np.abs(expected)))
        if not ratio <= 1:  # NaN included
            found[name] = float(ratio)
    return found


GRID = [
    (mode, layers, bidirectional, lengths, *FLAGS[(i + m) % len(FLAGS)])
    for m, mode in enumerate(MODES)
    for i, (layers, bidirectional, lengths) in enumerate(
        itertools.product((1, 2), (False, True), LENGTHS)
    )
]


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional, lengths, batch_first, bias, state",
    GRID,
    ids=[
        f"{m}-L{n}-{'bi' if b else 'uni'}-len_{lk}-{'bf' if bf else 'tm'}"
        f"-{'bias' if bias else 'nobias'}-{'state' if s else 'zeros'}"
        for m, n, b, lk, bf, bias, s in GRID
    ],
)
def test_gradients_match_finite_differences(
    mode, num_layers, bidirectional, lengths, batch_first, bias, state, monkeypatch
):
    spec = Spec(
        **MODES[mode],
        input_size=2,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
    )
    request = make_case(spec, LENGTHS[lengths], state, state and spec.has_cell_state)
    if spec.nonlinearity == "relu":
        assert_relu_away_from_its_kink(request, monkeypatch)
    assert mismatches(request) == {}


def assert_relu_away_from_its_kink(request: Request, monkeypatch) -> None:
    """Central differences of relu are wrong within a step of 0. A step of 1e-5 moves a
    pre-activation by at most ~1e-4 here (inputs and weights are O(1)); require 1e-3."""
    smallest = []
    honest = numpy_reference.relu

    def recording_relu(v):
        # An input exactly 0 reads only zeros (padding, a zero state, no bias): no perturbation
        # moves it, so it is no kink to cross.
        moved = np.abs(v[v != 0])
        smallest.append(moved.min() if moved.size else np.inf)
        return honest(v)

    with monkeypatch.context() as patch:
        patch.setattr(numpy_reference, "relu", recording_relu)
        loss(request)
    assert smallest and min(smallest) > 1e-3, "choose another seed: a relu input is near 0"


@pytest.mark.parametrize("h0_given, c0_given", [(True, False), (False, True)])
def test_lstm_with_only_one_of_h0_and_c0(h0_given, c0_given):
    spec = Spec(mode="LSTM", input_size=2, hidden_size=2, bidirectional=True)
    request = make_case(spec, LENGTHS["zero"], h0_given, c0_given)
    assert mismatches(request) == {}


# --- the interface -------------------------------------------------------------------------


def test_run_returns_the_forward_tensors_and_exactly_the_named_gradients():
    spec = Spec(mode="LSTM", input_size=2, hidden_size=3, proj_size=2, num_layers=2, bias=False)
    request = make_case(spec, None, True, True)
    tensors = numpy_reference.run(request)
    assert list(tensors) == ["output", "h_n", "c_n", *gradient_names(request)]
    assert "grad_bias_ih_l0" not in tensors  # bias=False: there are no bias parameters
    assert tensors["grad_x"].shape == request.x.shape
    assert tensors["grad_h0"].shape == request.h0.shape
    assert tensors["grad_c0"].shape == request.c0.shape
    for name, value in request.params.items():
        assert tensors[f"grad_{name}"].shape == value.shape
    without = numpy_reference.run(replace(request, cotangents=None))
    assert list(without) == ["output", "h_n", "c_n"]
    for name in without:
        np.testing.assert_array_equal(without[name], tensors[name])


def test_gradient_names_leave_out_a_state_that_was_not_given():
    spec = Spec(mode="GRU", input_size=2, hidden_size=2)
    request = make_case(spec, None, False, False)
    assert gradient_names(request) == (
        "grad_x",
        "grad_weight_ih_l0",
        "grad_weight_hh_l0",
        "grad_bias_ih_l0",
        "grad_bias_hh_l0",
    )
    assert list(numpy_reference.run(request))[2:] == list(gradient_names(request))


def test_gradients_are_computed_in_the_dtype_of_x():
    spec = Spec(mode="GRU", input_size=2, hidden_size=2, bidirectional=True)
    request = make_case(spec, LENGTHS["mixed"], True, False)
    narrow = Request(
        spec,
        {k: v.astype(np.float32) for k, v in request.params.items()},
        request.x.astype(np.float32),
        request.h0,  # float64: x decides
        None,
        request.lengths,
        request.cotangents,  # float64 too
    )
    got = numpy_reference.run(narrow)
    expected = numpy_reference.run(request)
    for name in gradient_names(request):
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_row_of_length_zero_hands_its_final_state_cotangents_to_h0_and_c0_unchanged():
    spec = Spec(mode="LSTM", input_size=2, hidden_size=2, num_layers=2, bidirectional=True)
    request = make_case(spec, LENGTHS["zero"], True, True)  # row 1 has length 0
    grads = numpy_reference.run(request)
    np.testing.assert_array_equal(grads["grad_h0"][:, 1], request.cotangents["h_n"][:, 1])
    np.testing.assert_array_equal(grads["grad_c0"][:, 1], request.cotangents["c_n"][:, 1])
    np.testing.assert_array_equal(grads["grad_x"][:, 1], 0.0)


def test_padding_in_x_does_not_reach_the_gradients():
    """x past a row's length is never read: NaN there changes no gradient."""
    spec = Spec(mode="GRU", input_size=2, hidden_size=2, num_layers=2, bidirectional=True)
    request = make_case(spec, LENGTHS["mixed"], True, False)
    padded = request.x.copy()
    padded[~request.valid_steps()] = np.nan
    got, expected = numpy_reference.run(replace(request, x=padded)), numpy_reference.run(request)
    for name in gradient_names(request):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_missing_or_misshapen_cotangents_are_refused():
    spec = Spec(mode="LSTM", input_size=2, hidden_size=2)
    request = make_case(spec, None, False, False)
    r = request
    without_c_n = {k: v for k, v in r.cotangents.items() if k != "c_n"}
    with pytest.raises(ValueError, match="c_n"):
        numpy_gradients.vjp(r.spec, r.params, r.x, None, None, None, without_c_n)
    one_step_short = {**r.cotangents, "output": r.cotangents["output"][1:]}
    with pytest.raises(ValueError, match="output"):
        numpy_gradients.vjp(r.spec, r.params, r.x, None, None, None, one_step_short)


# --- one step, derived by hand -------------------------------------------------------------
# One layer, one direction, one step, batch 2: h_n is the step's output, so the cotangent of h'
# is g = g_output + g_h_n. Each derivative is written from the cell's equations, gate by gate,
# with PyTorch's gate blocks sliced out of weight_ih/weight_hh by hand.


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def one_step(spec: Spec, seed: int = 1) -> tuple[Request, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=v.shape) for k, v in init_params(spec).items()}
    x = rng.normal(size=(1, 2, spec.input_size))
    h0 = rng.normal(size=(1, 2, spec.output_size))
    c0 = rng.normal(size=(1, 2, spec.hidden_size)) if spec.has_cell_state else None
    cotangents = {"output": rng.normal(size=(1, 2, spec.output_size))}
    cotangents["h_n"] = rng.normal(size=(1, 2, spec.output_size))
    if spec.has_cell_state:
        cotangents["c_n"] = rng.normal(size=(1, 2, spec.hidden_size))
    request = Request(spec, params, x, h0, c0, None, cotangents)
    return request, numpy_reference.run(request)


def gates(array: np.ndarray, count: int) -> list[np.ndarray]:
    size = len(array) // count
    return [array[k * size : (k + 1) * size] for k in range(count)]


def assert_gradients(got: dict, expected: dict) -> None:
    assert set(expected) == {k for k in got if k.startswith("grad_")}
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_one_step_by_hand(nonlinearity):
    spec = Spec(mode="RNN", input_size=2, hidden_size=2, nonlinearity=nonlinearity)
    request, got = one_step(spec)
    p, x, h = request.params, request.x[0], request.h0[0]
    g = request.cotangents["output"][0] + request.cotangents["h_n"][0]
    a = x @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    if nonlinearity == "tanh":
        delta = g * (1 - np.tanh(a) ** 2)  # dL/da
    else:
        assert (a > 0).any() and (a < 0).any()  # both sides of the kink are exercised
        delta = g * (a > 0)
    assert_gradients(
        got,
        {
            "grad_x": (delta @ p["weight_ih_l0"])[None],
            "grad_h0": (delta @ p["weight_hh_l0"])[None],
            "grad_weight_ih_l0": delta.T @ x,
            "grad_weight_hh_l0": delta.T @ h,
            "grad_bias_ih_l0": delta.sum(axis=0),
            "grad_bias_hh_l0": delta.sum(axis=0),
        },
    )


@pytest.mark.parametrize("proj_size", [0, 2])
def test_lstm_one_step_by_hand(proj_size):
    spec = Spec(mode="LSTM", input_size=2, hidden_size=3, proj_size=proj_size)
    request, got = one_step(spec)
    p, x, h, c = request.params, request.x[0], request.h0[0], request.c0[0]
    W_ii, W_if, W_ig, W_io = gates(p["weight_ih_l0"], 4)
    W_hi, W_hf, W_hg, W_ho = gates(p["weight_hh_l0"], 4)
    b_ii, b_if, b_ig, b_io = gates(p["bias_ih_l0"], 4)
    b_hi, b_hf, b_hg, b_ho = gates(p["bias_hh_l0"], 4)
    i = sigmoid(x @ W_ii.T + b_ii + h @ W_hi.T + b_hi)
    f = sigmoid(x @ W_if.T + b_if + h @ W_hf.T + b_hf)
    g = np.tanh(x @ W_ig.T + b_ig + h @ W_hg.T + b_hg)
    o = sigmoid(x @ W_io.T + b_io + h @ W_ho.T + b_ho)
    c_new = f * c + i * g
    m = o * np.tanh(c_new)  # h' without projection; h' = m W_hr^T with one

    g_h = request.cotangents["output"][0] + request.cotangents["h_n"][0]
    expected = {}
    if proj_size:
        W_hr = p["weight_hr_l0"]
        expected["grad_weight_hr_l0"] = g_h.T @ m  # dL/dW_hr[k, j] = sum_n g_h[n, k] m[n, j]
        g_m = g_h @ W_hr
    else:
        g_m = g_h
    # dL/dc' = the c_n cotangent + its path through h' = o * tanh(c')
    g_c = request.cotangents["c_n"][0] + g_m * o * (1 - np.tanh(c_new) ** 2)
    d_i = g_c * g * i * (1 - i)  # dL/d(pre-activation of i), and so on
    d_f = g_c * c * f * (1 - f)
    d_g = g_c * i * (1 - g**2)
    d_o = g_m * np.tanh(c_new) * o * (1 - o)
    expected |= {
        "grad_x": (d_i @ W_ii + d_f @ W_if + d_g @ W_ig + d_o @ W_io)[None],
        "grad_h0": (d_i @ W_hi + d_f @ W_hf + d_g @ W_hg + d_o @ W_ho)[None],
        "grad_c0": (g_c * f)[None],
        "grad_weight_ih_l0": np.concatenate([d.T @ x for d in (d_i, d_f, d_g, d_o)]),
        "grad_weight_hh_l0": np.concatenate([d.T @ h for d in (d_i, d_f, d_g, d_o)]),
        "grad_bias_ih_l0": np.concatenate([d.sum(axis=0) for d in (d_i, d_f, d_g, d_o)]),
        "grad_bias_hh_l0": np.concatenate([d.sum(axis=0) for d in (d_i, d_f, d_g, d_o)]),
    }
    assert_gradients(got, expected)


def test_gru_one_step_by_hand():
    spec = Spec(mode="GRU", input_size=2, hidden_size=2)
    request, got = one_step(spec)
    p, x, h = request.params, request.x[0], request.h0[0]
    W_ir, W_iz, W_in = gates(p["weight_ih_l0"], 3)
    W_hr, W_hz, W_hn = gates(p["weight_hh_l0"], 3)
    b_ir, b_iz, b_in = gates(p["bias_ih_l0"], 3)
    b_hr, b_hz, b_hn = gates(p["bias_hh_l0"], 3)
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    q = h @ W_hn.T + b_hn  # what the reset gate scales
    n = np.tanh(x @ W_in.T + b_in + r * q)
    # h' = (1 - z) * n + z * h

    g = request.cotangents["output"][0] + request.cotangents["h_n"][0]
    d_n = g * (1 - z) * (1 - n**2)  # dL/d(x W_in^T + b_in + r*q)
    d_z = g * (h - n) * z * (1 - z)  # dL/d(pre-activation of z)
    d_q = d_n * r
    d_r = d_n * q * r * (1 - r)  # dL/d(pre-activation of r)
    assert_gradients(
        got,
        {
            "grad_x": (d_r @ W_ir + d_z @ W_iz + d_n @ W_in)[None],
            "grad_h0": (d_r @ W_hr + d_z @ W_hz + d_q @ W_hn + g * z)[None],
            "grad_weight_ih_l0": np.concatenate([d_r.T @ x, d_z.T @ x, d_n.T @ x]),
            "grad_weight_hh_l0": np.concatenate([d_r.T @ h, d_z.T @ h, d_q.T @ h]),
            "grad_bias_ih_l0": np.concatenate([d_r.sum(0), d_z.sum(0), d_n.sum(0)]),
            "grad_bias_hh_l0": np.concatenate([d_r.sum(0), d_z.sum(0), d_q.sum(0)]),
        },
    )


# --- the validation can fail ---------------------------------------------------------------


def gru_backward_without_the_reset_gate(x, h, c, w, dh_new, dc_new):
    """The GRU backward with the reset gate's own gradient dropped (r treated as a constant)."""
    A = numpy_gradients
    x_r, x_z, x_n = np.split(A.affine(x, w.w_ih, w.b_ih), 3, axis=-1)
    h_r, h_z, h_n = np.split(A.affine(h, w.w_hh, w.b_hh), 3, axis=-1)
    r, z = A.sigmoid(x_r + h_r), A.sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    da_n = dh_new * (1 - z) * (1 - n**2)
    da_z = dh_new * (h - n) * z * (1 - z)
    da_r = np.zeros_like(da_n)  # the planted mistake
    d_from_x = np.concatenate([da_r, da_z, da_n], axis=-1)
    d_from_h = np.concatenate([da_r, da_z, da_n * r], axis=-1)
    dx, dh, grads = A.affine_backward(d_from_x, d_from_h, x, h, w)
    return dx, dh + dh_new * z, None, grads


def lstm_backward_with_the_cell_state_sign_flipped(*args):
    dx, dh, dc, grads = HONEST["lstm"](*args)
    return dx, dh, -dc, grads


def rnn_tanh_derivative_of_the_pre_activation(a):
    return 1 - a**2  # should be 1 - tanh(a)**2


def backward_ignoring_lengths(spec, xs, h, c, w, reverse, valid, *cotangents):
    return HONEST["direction"](spec, xs, h, c, w, reverse, np.ones_like(valid), *cotangents)


HONEST = {
    "lstm": numpy_gradients.lstm_cell_backward,
    "direction": numpy_gradients.backward_direction,
}
PLANTED = {
    "gru-reset-gate-dropped": (
        "gru_cell_backward",
        gru_backward_without_the_reset_gate,
        dict(mode="GRU"),
        {"grad_weight_ih_l0", "grad_weight_hh_l0", "grad_bias_ih_l0", "grad_x", "grad_h0"},
    ),
    "lstm-cell-state-sign": (
        "lstm_cell_backward",
        lstm_backward_with_the_cell_state_sign_flipped,
        dict(mode="LSTM"),
        {"grad_c0", "grad_weight_ih_l0", "grad_x"},
    ),
    "rnn-tanh-derivative": (
        "tanh_derivative",
        rnn_tanh_derivative_of_the_pre_activation,
        dict(mode="RNN"),
        {"grad_weight_ih_l0", "grad_x", "grad_h0"},
    ),
    "backward-ignores-lengths": (
        "backward_direction",
        backward_ignoring_lengths,
        dict(mode="RNN"),
        {"grad_weight_ih_l0", "grad_x", "grad_h0"},
    ),
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_a_mistake_planted_in_the_backward_is_caught_by_finite_differences(planted, monkeypatch):
    name, mistake, mode, caught = PLANTED[planted]
    spec = Spec(**mode, input_size=2, hidden_size=2, bidirectional=True)
    request = make_case(spec, LENGTHS["mixed"], True, spec.has_cell_state)
    assert mismatches(request) == {}  # honest
    monkeypatch.setattr(numpy_gradients, name, mistake)
    found = mismatches(request)
    assert caught <= set(found), found
    # the forward reference itself is untouched by the mistake
    assert list(numpy_reference.run(replace(request, cotangents=None))) == ["output", "h_n"] + (
        ["c_n"] if spec.has_cell_state else []
    )

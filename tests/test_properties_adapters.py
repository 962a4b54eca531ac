"""Hostile arguments to the public API: a clear TypeError, ValueError or Unsupported, never a
traceback from deep inside the code (IndexError, AttributeError, ...), never a wrong answer.

Hypothesis draws the arguments; the number of examples is bounded so that CI stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest

import adapters
from adapters import Spec

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed (.[dev])")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

CLEAR = (TypeError, ValueError, adapters.Unsupported)
BOUNDED = settings(max_examples=150, deadline=None)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=3),
)
dtypes = st.sampled_from(
    [np.float16, np.float32, np.float64, np.longdouble, np.int32, np.bool_, np.complex64, object]
)


@st.composite
def arrays(draw, shape=None):
    dtype = draw(dtypes)
    shape = shape if shape is not None else draw(hnp.array_shapes(min_dims=0, max_dims=4))
    if dtype is object:
        return np.empty(shape, dtype=object)
    return draw(hnp.arrays(dtype, shape, elements=None, fill=st.nothing()))


specs = st.builds(
    Spec,
    mode=st.sampled_from(["RNN", "LSTM", "GRU"]),
    input_size=st.integers(1, 3),
    hidden_size=st.integers(1, 3),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
)


@BOUNDED
@given(
    mode=st.one_of(st.sampled_from(["RNN", "LSTM", "GRU"]), anything),
    sizes=st.tuples(anything, anything, anything),
    options=st.dictionaries(
        st.sampled_from(["nonlinearity", "bias", "batch_first", "dropout", "bidirectional"]),
        anything,
        max_size=3,
    ),
    proj_size=anything,
)
def test_a_spec_is_valid_or_refused_with_a_clear_error(mode, sizes, options, proj_size):
    input_size, hidden_size, num_layers = sizes
    try:
        spec = Spec(mode, input_size, hidden_size, num_layers, proj_size=proj_size, **options)
    except CLEAR as error:
        assert str(error)
        return
    assert spec.mode in ("RNN", "LSTM", "GRU") and spec.hidden_size >= 1


def well_formed(spec: Spec, dtype, seq: int, batch: int) -> tuple:
    params = {k: v.astype(dtype) for k, v in adapters.init_params(spec).items()}
    shape = (batch, seq, spec.input_size) if spec.batch_first else (seq, batch, spec.input_size)
    return params, np.ones(shape, dtype=dtype)


@BOUNDED
@given(spec=specs, data=st.data())
def test_hostile_arrays_are_refused_clearly_or_computed_in_their_dtype(spec, data):
    params, x = well_formed(spec, np.float32, seq=3, batch=2)
    rows = spec.num_layers * spec.num_directions
    which = data.draw(st.sampled_from(["param", "x", "h0", "c0", "extra", "missing"]))
    h0 = c0 = None
    if which == "param":
        name = data.draw(st.sampled_from(sorted(params)))
        params[name] = data.draw(st.one_of(arrays(), arrays(params[name].shape), anything))
    elif which == "x":
        x = data.draw(st.one_of(arrays(), arrays(x.shape), anything))
    elif which in ("h0", "c0"):
        state = data.draw(st.one_of(arrays(), arrays((rows, 2, spec.hidden_size)), anything))
        h0, c0 = (state, None) if which == "h0" else (None, state)
    elif which == "extra":
        params[data.draw(st.text(max_size=8))] = np.zeros(2, np.float32)
    else:
        params.pop(data.draw(st.sampled_from(sorted(params))))
    try:
        output, h_n, c_n = adapters.run("numpy", spec, params, x, h0, c0)
    except CLEAR as error:
        assert str(error)
        return
    # accepted: then the arguments are within the documented contract (docs/API.md) ...
    expected_shapes = adapters.param_shapes(spec)
    assert params.keys() == expected_shapes.keys()
    assert all(params[k].shape == shape for k, shape in expected_shapes.items())
    for state, features in ((h0, spec.output_size), (c0, spec.hidden_size)):
        assert state is None or state.shape == (rows, 2, features)
    # ... and computed, in the input's dtype
    assert output.dtype == h_n.dtype == x.dtype
    assert (c_n is not None) == spec.has_cell_state


@BOUNDED
@given(
    spec=specs,
    lengths=st.one_of(
        hnp.arrays(np.int64, st.sampled_from([2, 2, 2, 1, 3]), elements=st.integers(-2, 5)),
        arrays(),
        anything,
    ),
)
def test_lengths_are_refused_clearly_or_within_the_sequence(spec, lengths):
    params, x = well_formed(spec, np.float64, seq=3, batch=2)
    try:
        output, h_n, _ = adapters.run("numpy", spec, params, x, lengths=lengths)
    except CLEAR as error:
        assert str(error)
        return
    assert lengths is None or (lengths.shape == (2,) and 0 <= lengths.min() <= lengths.max() <= 3)
    assert output.dtype == h_n.dtype == np.float64

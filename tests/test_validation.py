"""Bad specs and arrays raise ValueError or TypeError naming the argument, before any framework."""

from __future__ import annotations

import numpy as np
import pytest

import adapters
from adapters import Spec

GOOD = dict(mode="LSTM", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)


@pytest.mark.parametrize(
    "overrides, error, names",
    [
        (dict(mode="LSTMX"), ValueError, "mode"),
        (dict(mode="lstm"), ValueError, "mode"),
        (dict(input_size=0), ValueError, "input_size"),
        (dict(hidden_size=-4), ValueError, "hidden_size"),
        (dict(num_layers=0), ValueError, "num_layers"),
        (dict(hidden_size=4.0), TypeError, "hidden_size"),
        (dict(num_layers=True), TypeError, "num_layers"),
        (dict(mode="RNN", nonlinearity="sigmoid"), ValueError, "nonlinearity"),
        (dict(nonlinearity="relu"), ValueError, "nonlinearity"),
        (dict(proj_size=4), ValueError, "proj_size"),
        (dict(proj_size=9), ValueError, "proj_size"),
        (dict(proj_size=-1), ValueError, "proj_size"),
        (dict(mode="GRU", proj_size=2), ValueError, "proj_size"),
        (dict(mode="RNN", proj_size=2), ValueError, "proj_size"),
        (dict(dropout=1.5), ValueError, "dropout"),
        (dict(dropout="0.1"), TypeError, "dropout"),
        (dict(bias="yes"), TypeError, "bias"),
        (dict(batch_first=1), TypeError, "batch_first"),
        (dict(bidirectional=None), TypeError, "bidirectional"),
    ],
)
def test_bad_spec_names_the_argument(overrides, error, names):
    with pytest.raises(error, match=names):
        Spec(**{**GOOD, **overrides})


@pytest.fixture
def frameworks_must_not_load(monkeypatch):
    """Make any attempt to import an implementation fail loudly."""

    def refuse(self):
        raise AssertionError(f"{self.name} was loaded before the arguments were validated")

    monkeypatch.setattr(adapters.Implementation, "load", refuse)
    monkeypatch.setattr(adapters.Implementation, "unavailable_reason", lambda self: "")


def good_arrays(spec: Spec, batch: int = 2, seq: int = 3):
    rows = spec.num_layers * spec.num_directions
    x = np.zeros((seq, batch, spec.input_size))
    return x, np.zeros((rows, batch, spec.output_size)), np.zeros((rows, batch, spec.hidden_size))


def with_param(params, name, value):
    return {**params, name: value}


def without_param(params, name):
    return {k: v for k, v in params.items() if k != name}


SPEC = Spec(**GOOD)
PARAMS = adapters.init_params(SPEC)
X, H0, C0 = good_arrays(SPEC)


@pytest.mark.parametrize("implementation", list(adapters.IMPLEMENTATIONS))
@pytest.mark.parametrize(
    "call, error, names",
    [
        (lambda: dict(spec="LSTM"), TypeError, "spec"),
        (
            lambda: dict(params=without_param(PARAMS, "weight_hh_l1_reverse")),
            ValueError,
            "weight_hh_l1_reverse",
        ),
        (
            lambda: dict(params=with_param(PARAMS, "weight_ih_l0", np.zeros((16, 4)))),
            ValueError,
            "weight_ih_l0",
        ),
        (
            lambda: dict(params=with_param(PARAMS, "weight_hr_l0", np.zeros((2, 4)))),
            ValueError,
            "weight_hr_l0",
        ),
        (
            lambda: dict(params=with_param(PARAMS, "bias_ih_l0", [0.0] * 16)),
            TypeError,
            "bias_ih_l0",
        ),
        (
            lambda: dict(params=with_param(PARAMS, "bias_ih_l0", np.zeros(16, dtype=int))),
            TypeError,
            "bias_ih_l0",
        ),
        (lambda: dict(params=list(PARAMS.values())), TypeError, "params"),
        (lambda: dict(x=X[0]), ValueError, "x"),
        (lambda: dict(x=X[..., :2]), ValueError, "input_size"),
        (lambda: dict(x=X.astype(np.int64)), TypeError, "x"),
        (lambda: dict(x=X.tolist()), TypeError, "x"),
        (lambda: dict(x=X[:0]), ValueError, "x"),
        (lambda: dict(h0=H0[:2]), ValueError, "h0"),
        (lambda: dict(h0=H0[:, :1]), ValueError, "h0"),
        (lambda: dict(c0=C0[..., :3]), ValueError, "c0"),
        (lambda: dict(c0=C0.astype(np.int32)), TypeError, "c0"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_arrays_name_the_argument_before_any_framework_runs(
    implementation, call, error, names, frameworks_must_not_load
):
    arguments = dict(spec=SPEC, params=PARAMS, x=X, h0=H0, c0=C0) | call()
    with pytest.raises(error, match=names):
        adapters.run(implementation, **arguments)


def test_c0_for_a_gru_is_rejected(frameworks_must_not_load):
    spec = Spec(mode="GRU", input_size=3, hidden_size=4)
    x, h0, c0 = good_arrays(spec)
    with pytest.raises(ValueError, match="c0"):
        adapters.run("torch", spec, adapters.init_params(spec), x, h0, c0)


def test_h0_shape_uses_proj_size(frameworks_must_not_load):
    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, proj_size=2)
    x, h0, _ = good_arrays(spec)
    assert h0.shape[-1] == 2
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2, 4\), expected \(1, 2, 2\)"):
        adapters.run("torch", spec, adapters.init_params(spec), x, np.zeros((1, 2, 4)))


def test_unknown_implementation_lists_the_known_ones():
    with pytest.raises(ValueError, match="name must be one of .*numpy"):
        adapters.run("tensorflow", SPEC, PARAMS, X)


def test_batch_first_layout_is_checked_against_batch_axis(frameworks_must_not_load):
    spec = Spec(mode="GRU", input_size=3, hidden_size=4, batch_first=True)
    x = np.zeros((2, 5, 3))  # batch 2, seq 5
    with pytest.raises(ValueError, match="h0"):
        adapters.run("numpy", spec, adapters.init_params(spec), x, np.zeros((1, 5, 4)))


@pytest.mark.parametrize("argument", ["x", "lengths"])
def test_a_masked_array_is_refused_not_silently_unmasked(argument):
    spec = adapters.Spec(mode="GRU", input_size=3, hidden_size=4)
    arguments = {"x": np.ones((5, 2, 3)), "lengths": np.array([2, 5])}
    arguments[argument] = np.ma.array(arguments[argument], mask=np.zeros_like(arguments[argument]))
    with pytest.raises(TypeError, match="plain numpy array"):
        adapters.run("numpy", spec, adapters.init_params(spec), **arguments)

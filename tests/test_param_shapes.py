"""The canonical parameter layout is PyTorch's documented one: adapters.param_shapes against shapes
written out by hand from the torch.nn.RNN/LSTM/GRU documentation ("Variables"), and against the
state_dict of torch's own modules when torch is installed."""

from __future__ import annotations

import pytest

import adapters
from adapters import Spec

# From the documentation, with input 10, hidden 9, proj 8:
# weight_ih_l[k]: (G*hidden, input) for k = 0, else (G*hidden, num_directions * H_out);
# weight_hh_l[k]: (G*hidden, H_out); bias_ih_l[k], bias_hh_l[k]: (G*hidden,);
# weight_hr_l[k]: (proj_size, hidden_size); G = 1 (RNN), 3 (GRU), 4 (LSTM); H_out = proj or hidden.
DOCUMENTED = [
    (
        Spec("RNN", 10, 9),
        {"weight_ih_l0": (9, 10), "weight_hh_l0": (9, 9), "bias_ih_l0": (9,), "bias_hh_l0": (9,)},
    ),
    (
        Spec("GRU", 10, 9, bias=False),
        {"weight_ih_l0": (27, 10), "weight_hh_l0": (27, 9)},
    ),
    (
        Spec("LSTM", 10, 9, num_layers=2),
        {
            "weight_ih_l0": (36, 10), "weight_hh_l0": (36, 9), "bias_ih_l0": (36,),
            "bias_hh_l0": (36,), "weight_ih_l1": (36, 9), "weight_hh_l1": (36, 9),
            "bias_ih_l1": (36,), "bias_hh_l1": (36,),
        },
    ),
    (
        Spec("RNN", 10, 9, num_layers=2, bidirectional=True, nonlinearity="relu", bias=False),
        {
            "weight_ih_l0": (9, 10), "weight_hh_l0": (9, 9),
            "weight_ih_l0_reverse": (9, 10), "weight_hh_l0_reverse": (9, 9),
            "weight_ih_l1": (9, 18), "weight_hh_l1": (9, 9),  # layer 1 takes both directions
            "weight_ih_l1_reverse": (9, 18), "weight_hh_l1_reverse": (9, 9),
        },
    ),
    (
        Spec("LSTM", 10, 9, num_layers=2, bidirectional=True, proj_size=8),
        {
            "weight_ih_l0": (36, 10), "weight_hh_l0": (36, 8), "bias_ih_l0": (36,),
            "bias_hh_l0": (36,), "weight_hr_l0": (8, 9),
            "weight_ih_l0_reverse": (36, 10), "weight_hh_l0_reverse": (36, 8),
            "bias_ih_l0_reverse": (36,), "bias_hh_l0_reverse": (36,),
            "weight_hr_l0_reverse": (8, 9),
            "weight_ih_l1": (36, 16), "weight_hh_l1": (36, 8), "bias_ih_l1": (36,),
            "bias_hh_l1": (36,), "weight_hr_l1": (8, 9),
            "weight_ih_l1_reverse": (36, 16), "weight_hh_l1_reverse": (36, 8),
            "bias_ih_l1_reverse": (36,), "bias_hh_l1_reverse": (36,),
            "weight_hr_l1_reverse": (8, 9),
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize("spec, shapes", DOCUMENTED, ids=lambda v: getattr(v, "mode", ""))
def test_param_shapes_are_the_documented_ones_in_state_dict_order(spec, shapes):
    assert list(adapters.param_shapes(spec).items()) == list(shapes.items())


def specs() -> list[Spec]:
    return [
        Spec(mode, 10, 9, layers, nonlinearity, bias, bidirectional=bi, proj_size=proj)
        for mode, nonlinearity in (
            ("RNN", "tanh"),
            ("RNN", "relu"),
            ("LSTM", "tanh"),
            ("GRU", "tanh"),
        )
        for layers in (1, 3)
        for bi in (False, True)
        for bias in (True, False)
        for proj in ((0, 8) if mode == "LSTM" else (0,))
    ]


@pytest.mark.parametrize("spec", specs(), ids=str)
def test_param_shapes_are_torch_s_state_dict(spec):
    torch = pytest.importorskip("torch")
    kwargs = {"num_layers": spec.num_layers, "bias": spec.bias, "bidirectional": spec.bidirectional}
    if spec.mode == "RNN":
        kwargs["nonlinearity"] = spec.nonlinearity
    if spec.proj_size:
        kwargs["proj_size"] = spec.proj_size
    module = getattr(torch.nn, spec.mode)(spec.input_size, spec.hidden_size, **kwargs)
    state = [(name, tuple(value.shape)) for name, value in module.state_dict().items()]
    assert list(adapters.param_shapes(spec).items()) == state

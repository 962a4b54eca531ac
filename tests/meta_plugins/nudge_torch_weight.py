"""pytest -p tests.meta_plugins.nudge_torch_weight: torch's weight_hh_l0 scaled by 1 + 1e-5.

A change small enough to stay inside the float32 conformance tolerance, which only a baseline
comparison can see.
"""

from adapters import torch_adapter

honest_build = torch_adapter.build_module


def nudged_build(spec, params, dtype):
    params = dict(params)
    params["weight_hh_l0"] = params["weight_hh_l0"] * (1 + 1e-5)
    return honest_build(spec, params, dtype)


def pytest_configure(config):
    torch_adapter.build_module = nudged_build

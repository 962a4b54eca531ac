"""pytest -p tests.meta_plugins.poison_outputs: numpy returns NaN for bidirectional GRUs and
+-inf for two-layer ones (both, where both apply)."""

import numpy as np

from adapters import numpy_reference

honest_run = numpy_reference.run


def poisoned_run(request):
    result = dict(honest_run(request))
    if request.spec.mode == "GRU":
        output = result["output"].copy()
        if request.spec.bidirectional:
            output.flat[0] = np.nan
        if request.spec.num_layers == 2:
            output.flat[-1], result["h_n"] = np.inf, np.full_like(result["h_n"], -np.inf)
        result["output"] = output
    return result


def pytest_configure(config):
    numpy_reference.run = poisoned_run

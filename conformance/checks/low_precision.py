"""low_precision: in float16 and bfloat16, output, h_n and c_n equal the float64 reference within
a tolerance calibrated per case.

The implementation gets the case's weights and inputs rounded to the low dtype; the expected side
is the NumPy reference in float64 from exactly those rounded values, so only the implementation's
arithmetic is judged. How far a faithful low-precision implementation may be from it is measured,
not guessed: the NumPy reference itself is run in the low dtype (every operation's result rounded
to it: float16 natively, bfloat16 with ml_dtypes, its matmuls accumulated in float32 and rounded
back), its largest error against the float64 reference over the compared tensors is taken, and
the case allows K times that, but never less than a floor of a few units in the last place. The
reasoning for K and the floor is in docs/TOLERANCES.md ("Low precision").

The `numpy` implementation in these dtypes IS that calibration: compared with itself it could not
fail, so its cases are skipped with that reason, never passed.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from adapters import numpy_reference
from adapters.dtypes import eps

from ..axes import DIRECTIONS, LAYERS, LOW_DTYPES, MODE, PROJECTION
from ..cases import Case, request_for, widened
from ..tolerances import Tolerance
from . import forward
from .kind import CheckKind

# A faithful implementation may be K times as far from the float64 reference as the NumPy
# reference run in the same dtype (docs/TOLERANCES.md, "Low precision").
K = 4
FLOOR_ULPS = 2  # the least bound: a few eps of the dtype, so an exact calibration asks no exactness
CALIBRATION = "numpy"
TENSORS = ("output", "h_n", "c_n")


def calibration_error(case: Case) -> float:
    """The largest |reference in the case's dtype - reference in float64| over output, h_n and
    c_n: the error of a faithful implementation that rounds every operation to the dtype."""
    return _calibration_error(replace(case, implementation="", batch_first=False))


@lru_cache(maxsize=256)
def _calibration_error(key: Case) -> float:
    request = request_for(key)
    low = numpy_reference.run(request)
    exact = numpy_reference.run(widened(request))
    errors = [
        np.max(np.abs(low[name].astype(np.float64) - exact[name]))
        for name in TENSORS
        if name in exact
    ]
    return float(max(errors))


def calibrated_tolerance(case: Case) -> Tolerance:
    floor = FLOOR_ULPS * eps(case.dtype)
    return Tolerance(atol=max(K * calibration_error(case), floor), rtol=0.0)


def not_judged(case: Case) -> str:
    if case.implementation == CALIBRATION:
        return (
            f"the numpy reference in {case.dtype} is this check's calibration (its error sets "
            "the tolerance): compared with it, it could not fail"
        )
    return ""


CHECK = CheckKind(
    name="low_precision",
    description=(
        "in float16 and bfloat16, output, h_n and c_n equal the float64 reference of the same "
        f"rounded weights and inputs within {K}x the error of the NumPy reference run in that "
        f"dtype (at least {FLOOR_ULPS} eps)"
    ),
    axes=(MODE, replace(LAYERS, values=(1, 2)), DIRECTIONS, PROJECTION),
    compared=forward.compared,
    dtypes=LOW_DTYPES,
    calibrated=calibrated_tolerance,
    not_judged=not_judged,
)

"""How close to the float64 reference each dtype must come. The reasoning is in docs/TOLERANCES.md.

An element passes when |got - ref| <= atol + rtol * |ref| (numpy.isclose's rule), with `ref` the
NumPy reference computed in float64 from exactly the weights and inputs the case ran with.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def bound(self, reference_magnitude):
        return self.atol + self.rtol * reference_magnitude


TOLERANCES = {
    # float64 implementations differ from the reference by summation order only: measured
    # <= 5e-16 over the grid. 1e-13 is ~200x that and still catches a 1e-9 relative change
    # of any element larger than 1e-4 in magnitude.
    "float64": Tolerance(atol=1e-13, rtol=1e-13),
    # float32: the reference itself run in float32 is off by up to 2.5e-7 (a few ulp of
    # eps32 = 1.19e-7 accumulated over 7 steps and 3 layers); frameworks up to 2.6e-7.
    # 1e-5 (~84 ulp) leaves room for other BLAS kernels while a gate or bias slip (>1e-2) fails.
    "float32": Tolerance(atol=1e-5, rtol=1e-5),
}


def tolerance_for(dtype: str) -> Tolerance:
    if dtype not in TOLERANCES:
        raise ValueError(
            f"no tolerance is defined for dtype {dtype!r}; known: {sorted(TOLERANCES)}"
        )
    return TOLERANCES[dtype]

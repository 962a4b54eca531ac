"""What a check kind is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters import Request, numpy_reference
from adapters.request import Tensors

from ..axes import DTYPES, Axis
from ..cases import Case, request_for
from ..compare import Compared
from ..tolerances import Tolerance, tolerance_for

if TYPE_CHECKING:
    from ..check import CaseResult

Runner = Callable[[str, Request], Tensors]  # the signature of adapters.run_request
# got: as the implementation answered, in the case's layout; expected: float64, time-major
Sides = Callable[[Runner, Case, Request], tuple[object, Tensors]]
REFERENCE = "the NumPy reference in float64"


@dataclass(frozen=True)
class CheckKind:
    name: str
    description: str  # the property it checks, in one sentence
    axes: tuple[Axis, ...]  # the grid axes it varies, beyond implementation and dtype
    compared: Callable[[Case, Request], tuple[Compared, ...]]  # what it compares, and where
    # the expected tensors, from the case's request in float64 and time-major
    reference: Callable[[Request], Tensors] = numpy_reference.run
    request: Callable[[Case], Request] = request_for  # what the implementation gets
    gradients: bool = False  # it asks for gradients (the implementation must compute them)
    # How "got" and "expected" are obtained from the runner. None: got is the implementation's
    # answer to the request, expected is `reference`. A relation (conformance/checks/
    # relations.py) runs the same implementation several times and compares one side with
    # the other: it needs no reference, so it judges implementations that have none.
    sides: Sides | None = None
    expected_from: str = REFERENCE  # what the expected side is, in the failure report
    tolerance: Callable[[str], Tolerance] = tolerance_for  # the bound, by dtype
    dtypes: tuple[str, ...] = DTYPES  # the dtypes its cases run in
    # The bound calibrated for one case (from its request), instead of `tolerance` by dtype.
    calibrated: Callable[[Case], Tolerance] | None = None
    # Why a case is not judged at all ("" when it is): e.g. the implementation IS the expected
    # side, so comparing them could not fail. Such a case is recorded as skipped, never passed.
    not_judged: Callable[[Case], str] = lambda case: ""
    # A check kind that draws its examples (conformance/checks/sizes.py): `search` runs and
    # judges a case's examples, each an example case (Case.sizes set) judged as one comparison
    # with `compared` and `reference`. `drawn`: the configuration keys it draws, each with its
    # range (a record's `config` gives them as null, and `drawn` these ranges).
    search: Callable[[Case, Runner], CaseResult] | None = None
    drawn: Mapping[str, str] = field(default_factory=dict)

    @property
    def against_reference(self) -> bool:
        return self.sides is None

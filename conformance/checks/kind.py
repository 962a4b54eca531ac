"""What a check kind is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters import Request, numpy_reference
from adapters.request import Tensors

from ..axes import Axis
from ..cases import Case, request_for
from ..compare import Compared


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

"""Declared, explained disagreements between an implementation and the reference.

A divergence is a finding, not a tolerance: the check stays strict. A case it covers is reported
as `known-divergence` while it still disagrees, and FAILS once it agrees again, so an upstream fix
is noticed and the declaration removed. Each entry names the implementation, the package versions
it was seen with (a PEP 440 specifier), which cases, why, and the upstream link.

The forward grid of numpy / torch / keras currently has no divergence: the list is empty, and
tests/test_divergences.py shows the mechanism on a planted one.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet

from .cases import Case


@dataclass(frozen=True)
class KnownDivergence:
    implementation: str
    package: str  # the distribution whose version decides, e.g. "keras"
    versions: str  # PEP 440 specifier, e.g. ">=3.0,<3.16"
    applies_to: Callable[[Case], bool]
    reason: str
    link: str

    def covers(self, case: Case) -> bool:
        if case.implementation != self.implementation or not self.applies_to(case):
            return False
        try:
            installed = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return SpecifierSet(self.versions).contains(installed, prereleases=True)


KNOWN_DIVERGENCES: list[KnownDivergence] = []


def divergence_for(case: Case) -> KnownDivergence | None:
    return next((d for d in KNOWN_DIVERGENCES if d.covers(case)), None)

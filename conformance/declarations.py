"""Declarations that match nothing: a limit or a known divergence that covers no case is stale.

Like array-api-tests' warning for expected failures that match no test: a declaration that
matches nothing hides nothing today, but it says something false about an implementation (or a
version range that no longer applies) and would silently cover a future case. Judged over the
whole grid of every check kind, so a narrower selection (`--dtype float32`) does not make
a declaration look stale.
"""

from __future__ import annotations

from collections import defaultdict

import adapters

from .cases import Case
from .divergences import KNOWN_DIVERGENCES, installed_version
from .grid import all_cases


def stale_declarations(cases: list[Case] | None = None) -> list[str]:
    cases = all_cases() if cases is None else cases
    by_implementation: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_implementation[case.implementation].append(case)

    stale = []
    for impl in adapters.IMPLEMENTATIONS.values():
        if impl.name not in by_implementation:
            continue  # no case of it to judge by
        settings = {case.setting for case in by_implementation[impl.name]}
        for limit in impl.limits:
            if not any(limit.applies(setting) for setting in settings):
                stale.append(
                    f"{impl.name}: the limit on {limit.feature!r} matches no case of the grid "
                    f"(adapters/registry.py): {limit.reason}"
                )
    for divergence in KNOWN_DIVERGENCES:
        version = installed_version(divergence.package)
        if version is None or divergence.implementation not in by_implementation:
            continue  # not installed here, or no case of it: nothing to judge it by
        impl = adapters.IMPLEMENTATIONS[divergence.implementation]
        judged = [  # a case the registry refuses is never judged, so it cannot keep one alive
            c
            for c in by_implementation[divergence.implementation]
            if not impl.unsupported_reason(c.setting)
        ]
        if not any(divergence.covers(c) for c in judged):
            stale.append(
                f"{divergence.implementation}: the known divergence {divergence.link} "
                f"({divergence.package} {divergence.versions}; {version} installed) matches no "
                "case of the grid (conformance/divergences.py)"
            )
    return stale

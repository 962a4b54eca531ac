"""Declarations that match nothing: a limit or a known divergence that covers no case is stale.

Like array-api-tests' warning for expected failures that match no test: a declaration that
matches nothing hides nothing today, but it says something false about an implementation (or a
version range that no longer applies) and would silently cover a future case. Judged over the
whole grid of every check kind, so a narrower selection (`--dtype float32`) does not make
a declaration look stale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields

import adapters
from adapters.request import Setting

from .cases import Case
from .divergences import KNOWN_DIVERGENCES, installed_version
from .grid import all_cases

# what a case's setting is made of: every field but its implementation
SETTING_FIELDS = tuple(f.name for f in fields(Case) if f.name != "implementation")


def stale_declarations(cases: list[Case] | None = None) -> list[str]:
    cases = all_cases() if cases is None else cases
    # case -> setting, per implementation; a setting does not depend on the implementation, so
    # each is made once for all of them (the controller judges the whole grid before any
    # worker starts: 27064 settings took half a second)
    settings: dict[str, dict[Case, Setting]] = defaultdict(dict)
    shared: dict[tuple, Setting] = {}
    for case in cases:
        key = tuple(getattr(case, name) for name in SETTING_FIELDS)
        if key not in shared:
            shared[key] = case.setting
        settings[case.implementation][case] = shared[key]

    stale = []
    for impl in adapters.IMPLEMENTATIONS.values():
        if impl.name not in settings:
            continue  # no case of it to judge by
        distinct = set(settings[impl.name].values())
        for limit in impl.limits:
            if not any(limit.applies(setting) for setting in distinct):
                stale.append(
                    f"{impl.name}: the limit on {limit.feature!r} matches no case of the grid "
                    f"(adapters/registry.py): {limit.reason}"
                )
    judged: dict[str, list[Case]] = {}  # a case the registry refuses is never judged
    for divergence in KNOWN_DIVERGENCES:
        version = installed_version(divergence.package)
        if version is None or divergence.implementation not in settings:
            continue  # not installed here, or no case of it: nothing to judge it by
        impl = adapters.IMPLEMENTATIONS[divergence.implementation]
        if impl.name not in judged:  # so it cannot keep a declaration alive
            judged[impl.name] = [
                case
                for case, setting in settings[impl.name].items()
                if not impl.unsupported_reason(setting)
            ]
        if not any(divergence.covers(c) for c in judged[impl.name]):
            stale.append(
                f"{divergence.implementation}: the known divergence {divergence.link} "
                f"({divergence.package} {divergence.versions}; {version} installed) matches no "
                "case of the grid (conformance/divergences.py)"
            )
    return stale

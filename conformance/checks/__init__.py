"""The check registry: each check kind is data, and everything else derives from it.

A check kind declares its grid axes, how a case's request is made, its reference and the tensors
it compares (with how an element is located). Test ids, the rerun and repro commands, the
results file's `check` field, the baseline's tensors and the report's rows all come from here
and from the case; adding a check kind is one module in this package and one line below.
"""

from __future__ import annotations

from . import forward, gradients, lengths
from .kind import CheckKind

CHECKS: dict[str, CheckKind] = {
    kind.name: kind for kind in (forward.CHECK, lengths.CHECK, gradients.CHECK)
}


def check_named(name: str) -> CheckKind:
    if name not in CHECKS:
        raise ValueError(f"no check kind {name!r}; known: {', '.join(CHECKS)}")
    return CHECKS[name]

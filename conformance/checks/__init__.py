"""The check registry: each check kind is data, and everything else derives from it.

A check kind declares its grid axes, how a case's request is made, what it is compared with (the
NumPy reference, or for a relation another run of the same implementation), the tensors it
compares (with how an element is located) and its tolerance. Test ids, the rerun and repro
commands, the results file's `check` field, the baseline's tensors and the report's rows all come
from here and from the case; adding a check kind is one module in this package and one line below.
"""

from __future__ import annotations

from . import (
    batch_rows,
    chunked,
    claims,
    dropout,
    forward,
    gradients,
    lengths,
    low_precision,
    reverse,
    sizes,
)
from .kind import CheckKind

CHECKS: dict[str, CheckKind] = {
    kind.name: kind
    for kind in (
        forward.CHECK,
        lengths.CHECK,
        gradients.CHECK,
        chunked.CHECK,
        batch_rows.CHECK,
        reverse.CHECK,
        claims.CHECK,
        dropout.CHECK,
        sizes.CHECK,
        low_precision.CHECK,
    )
}


def check_named(name: str) -> CheckKind:
    if name not in CHECKS:
        raise ValueError(f"no check kind {name!r}; known: {', '.join(CHECKS)}")
    return CHECKS[name]

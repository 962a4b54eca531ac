"""What the registry (adapters/registry.py) says about an implementation, for labels and reasons.

A results file names implementations; the registry knows which packages each one runs on, on
which device, and which declared limit an `unsupported` reason comes from. A report built on a
machine whose registry does not know a name (a newer or older suite) falls back to what the name
says, so a report never fails for lack of facts.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _registry() -> dict:
    try:
        from adapters.registry import IMPLEMENTATIONS
    except Exception:  # a report is still built from the file alone
        return {}
    return IMPLEMENTATIONS


def packages_of(implementation: str) -> tuple[str, ...]:
    """The packages whose versions identify what `implementation` ran, most specific first."""
    entry = _registry().get(implementation)
    if entry is not None and entry.requires:
        return entry.requires  # importable names, which are the environment's package keys
    head = implementation.split("-")[0]
    return (head,)


def device_of(implementation: str, run_device: str) -> str:
    """Where the implementation computed. The run's device label is "cpu", or "cpu; cuda: GPU
    NAME" where the run saw GPUs (conformance/results.py): a CUDA implementation's column names
    the GPU, every other column the run's first device."""
    devices = dict(
        part.split(": ", 1) if ": " in part else ("cpu", part)
        for part in (p.strip() for p in run_device.split(";"))
        if part
    )
    entry = _registry().get(implementation)
    if entry is not None and entry.device != "cpu":
        return devices.get(entry.device, f"{entry.device} (no GPU named)")
    return run_device.split(";")[0].strip() or "?"


def limit_of(implementation: str, reason: str) -> str:
    """The short name of the declared limit (proj_size, float64, gradients, ...) an
    `unsupported` reason comes from; for a reason the registry does not declare, its start."""
    entry = _registry().get(implementation)
    for limit in getattr(entry, "limits", ()):
        if limit.reason == reason:
            return limit.feature
    dtypes = getattr(entry, "dtypes", ())
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        if dtype not in dtypes and reason.endswith(f"not {dtype}"):
            return dtype
    first = " ".join(reason.split())
    return first if len(first) <= 40 else first[:39] + "…"

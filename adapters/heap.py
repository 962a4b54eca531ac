"""Keep the frameworks' long-lived objects out of Python's full garbage collections.

A process that has imported a framework and run its first case holds some 200,000 to 600,000
objects (modules, op registries, traced graphs, the exporters' pass managers) that live as long
as the process. Every full collection scans all of them, and the exporters allocate enough to
set off thousands of collections per worker. Measured on the 2-core machine: the ONNX
converter spent a third of its time in the collector and the torch exporter a seventh
(docs/PERFORMANCE.md, "The garbage collector").

`settle(key)` does one full collection and then `gc.freeze()`s every object still alive, once per
key and process: later collections scan only what was made after. The price: an object frozen
there that later becomes part of a reference cycle is never reclaimed, and neither is what it
refers to by then (a cached Keras layer evicted from its cache, with its weights). That is bounded
by what is alive at each freeze (the caches hold at most 256 small layers and 4 sessions), and a
freeze happens once per implementation per process. The results cannot depend on it: no code
under test reads the collector's state.

Only processes the suite owns call it: a pytest worker after the first case that ran an
implementation (conformance/plugin.py, `settle_heap`: a case settled by the declarations ran
nothing, so nothing of its framework is there yet), and each Keras backend's child process after
its first request. `adapters.run` called from a user's own program leaves that program's collector
alone.
"""

from __future__ import annotations

import gc

_settled: set[str] = set()


def settle(key: str) -> bool:
    """Collect and freeze, the first time `key` is seen in this process; True when it did."""
    if key in _settled:
        return False
    _settled.add(key)
    gc.collect()
    gc.freeze()
    return True

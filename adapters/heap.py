"""Keep the frameworks' long-lived objects out of Python's full garbage collections.

A process that has imported a framework and run its first case holds some 200,000 to 600,000
objects (modules, op registries, traced graphs, the exporters' pass managers) that live as long
as the process. Every full collection scans all of them, and the exporters allocate enough to
set off thousands of collections per worker. Measured on the 2-core machine: the ONNX
converter spent a third of its time in the collector and the torch exporter a seventh
(docs/PERFORMANCE.md, "The garbage collector").

`settle(key)` does one full collection and then `gc.freeze()`s every object still alive, once per
key and process: later collections scan only what was made after. Objects frozen there that turn
into reference cycles later are not reclaimed; that is bounded, because it happens once per
implementation per process. The results cannot depend on it: no code under test reads the
collector's state.

Only processes the suite owns call it (pytest's workers, the Keras backends' child processes):
`adapters.run` called from a user's own program leaves that program's collector alone.
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

"""The exported paths' ONNX Runtime sessions, kept per process and reused across calls that would
export the same graph.

An export (torch.onnx.export) or a conversion (tf2onnx) costs about a second, and the relation
check kinds call an implementation three times with the same weights on other sequence lengths,
batch sizes or states. A session is reused only when everything that decides the graph is the
same: the exporter, the spec, the dtype, which inputs are given (h0, c0, lengths), the weights'
bytes (a digest: the same array changed in place is a new graph) and, where the graph has static
shapes, the shapes. The cache holds a few sessions (least recently used goes first), so memory
stays bounded however many cases a worker runs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

import numpy as np

Session = TypeVar("Session")
SIZE = 4  # a case asks for at most three graphs; the next case has other weights


def weights_digest(params: Mapping[str, np.ndarray]) -> str:
    """A digest of the weights' names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(params):
        value = np.ascontiguousarray(params[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def input_signature(
    inputs: Mapping[str, np.ndarray], open_axes: Mapping[str, Iterable[int]]
) -> tuple:
    """The graph's inputs as the key sees them: names, dtypes and shapes, None on the axes the
    graph leaves open (any length there runs the same graph)."""
    signature = []
    for name, value in inputs.items():
        open_here = set(open_axes.get(name, ()))
        shape = tuple(None if axis in open_here else n for axis, n in enumerate(value.shape))
        signature.append((name, value.dtype.str, shape))
    return tuple(signature)


class SessionCache(Generic[Session]):
    """Least-recently-used sessions by key, at most `size` of them."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self.entries: OrderedDict[Hashable, Session] = OrderedDict()
        self.built = 0  # how many sessions were made: what the tests count

    def get(self, key: Hashable, make: Callable[[], Session]) -> Session:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        session = make()  # an export that raises is not cached: the next call raises again
        self.built += 1
        self.entries[key] = session
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return session

    def clear(self) -> None:
        self.entries.clear()

"""torch-onnx builds torch's table of ONNX translations once per process
(adapters/torch_onnx_adapter.py, `torchlib_registry_once`): its exports must be byte for byte
those of a plain torch.onnx.export, and torch must be left as installed."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("onnxscript")
torch_onnx = pytest.importorskip("adapters.torch_onnx_adapter")

from conformance.cases import request_for  # noqa: E402
from conformance.grid import all_cases  # noqa: E402

pytestmark = pytest.mark.slow


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def requests():
    """Structures that export through different translations: each mode, both directions,
    with and without lengths and an initial state, both dtypes."""
    seen, chosen = set(), []
    for case in all_cases(["torch-onnx"], ("float32", "float64"), checks=("forward", "lengths")):
        request = request_for(case)
        kind = (case.check, request.spec.mode, request.spec.bidirectional, str(request.dtype))
        if kind not in seen and case.proj_size == 0:
            seen.add(kind)
            chosen.append(request)
    return chosen[:8]


def test_exports_are_those_of_a_plain_call(monkeypatch):
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    chosen = requests()
    assert len(chosen) == 8
    once = [digest(torch_onnx.export(r, dynamo=True)) for r in chosen]  # the table shared
    assert torch_onnx._REGISTRIES  # the first export built it and kept it
    # a plain export: torch builds its table on every call
    monkeypatch.setattr(torch_onnx, "torchlib_registry_once", torch_onnx.contextlib.nullcontext)
    plain = [digest(torch_onnx.export(r, dynamo=True)) for r in chosen]
    assert once == plain
    assert "built_once" not in repr(vars(ONNXRegistry)["from_torchlib"].__func__)


def test_the_table_is_built_once_and_torch_restored():
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    installed = vars(ONNXRegistry)["from_torchlib"]
    with torch_onnx.torchlib_registry_once():
        first = ONNXRegistry.from_torchlib(opset_version=18)
        assert ONNXRegistry().from_torchlib(opset_version=18) is first
    assert vars(ONNXRegistry)["from_torchlib"] is installed
    assert ONNXRegistry.from_torchlib(opset_version=18) is not first

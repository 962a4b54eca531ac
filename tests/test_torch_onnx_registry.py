"""torch-onnx builds torch's table of ONNX translations once per process
(adapters/torch_onnx_adapter.py, `torchlib_registry_once`): its exports must be byte for byte
those of a plain torch.onnx.export (the same error where the export fails), the table must be
built once, and torch must be left as installed."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

pytest.importorskip("onnxscript")
torch_onnx = pytest.importorskip("adapters.torch_onnx_adapter")

from conformance.axes import ALL_DTYPES  # noqa: E402
from conformance.cases import request_for  # noqa: E402
from conformance.grid import all_cases  # noqa: E402

pytestmark = pytest.mark.slow

KINDS = {  # every path of the exporter the suite takes, the first case of each
    "RNN tanh": lambda c: c.check == "forward" and c.mode_label == "RNN_TANH",
    "RNN relu, bidirectional, float64": lambda c: (
        c.check == "forward" and c.mode_label == "RNN_RELU" and c.bidirectional
        and c.dtype == "float64"
    ),
    "RNN tanh, three layers, bidirectional, batch first, no initial state": lambda c: (
        c.check == "forward" and c.mode_label == "RNN_TANH" and c.bidirectional
        and c.initial_state == "zeros"
    ),
    "LSTM, two layers": lambda c: (
        c.check == "forward" and c.mode == "LSTM" and c.num_layers == 2 and c.proj_size == 0
    ),
    "LSTM with proj_size, no bias, no initial state": lambda c: (
        c.check == "forward" and c.proj_size > 0 and not c.bias and c.initial_state == "zeros"
    ),
    "GRU, bidirectional, no bias": lambda c: (
        c.check == "forward" and c.mode == "GRU" and c.bidirectional and not c.bias
    ),
    "lengths (the export fails)": lambda c: c.check == "lengths",
    "float16": lambda c: c.dtype == "float16",
    "bfloat16": lambda c: c.dtype == "bfloat16",
    "dropout in training": lambda c: c.check == "dropout" and c.num_layers == 2,
}  # fmt: skip


def chosen_requests() -> dict:
    cases = all_cases(["torch-onnx"], ALL_DTYPES)
    chosen = {
        kind: request_for(next(c for c in cases if wanted(c))) for kind, wanted in KINDS.items()
    }
    request = chosen["dropout in training"]
    chosen["dropout in training"] = replace(
        request, spec=replace(request.spec, dropout=0.5), training=True
    )
    return chosen


def exported(request) -> str:
    """The graph's SHA-256, or the export's error."""
    try:
        return hashlib.sha256(torch_onnx.export(request, dynamo=True)).hexdigest()
    except Exception as error:  # noqa: BLE001 - an export that fails must fail the same way
        return f"{type(error).__name__}: {str(error)[:500]}"


@pytest.fixture
def builds(monkeypatch):
    """How many times torch builds its table (the installed from_torchlib, counted)."""
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    installed = vars(ONNXRegistry)["from_torchlib"]
    count = []

    def counted(cls, *args, **kwargs):
        count.append(1)
        return installed.__func__(cls, *args, **kwargs)

    monkeypatch.setattr(ONNXRegistry, "from_torchlib", classmethod(counted))
    monkeypatch.setattr(torch_onnx, "_REGISTRIES", {})
    return count


def test_exports_are_those_of_a_plain_call(builds, monkeypatch):
    chosen = chosen_requests()
    once = {kind: exported(request) for kind, request in chosen.items()}
    assert len(builds) == 1  # the first export built the table; the others copied it
    assert once["lengths (the export fails)"].startswith(("TorchExportError", "Unsupported"))

    monkeypatch.setattr(torch_onnx, "torchlib_registry_once", torch_onnx.contextlib.nullcontext)
    plain = {kind: exported(request) for kind, request in chosen.items()}
    assert len(builds) == 1 + len(chosen)  # a plain call builds it every time
    assert once == plain


def test_torch_is_restored_after_an_export_that_raises():
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    installed = vars(ONNXRegistry)["from_torchlib"]
    with pytest.raises(RuntimeError), torch_onnx.torchlib_registry_once():
        assert vars(ONNXRegistry)["from_torchlib"] is not installed
        raise RuntimeError("the export failed")
    assert vars(ONNXRegistry)["from_torchlib"] is installed


def test_an_export_s_additions_stay_in_its_own_copy(builds):
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    with torch_onnx.torchlib_registry_once():
        first = ONNXRegistry.from_torchlib(opset_version=18)
        first.functions.clear()  # what a custom_translation_table or a later torch might do
        second = ONNXRegistry().from_torchlib(opset_version=18)
    assert len(builds) == 1 and second is not first and second.functions

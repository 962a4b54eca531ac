"""The exported paths reuse an export only for the same weights and structure
(adapters/export_cache.py): a weight changed after an export, even in place, is exported again;
other lengths and batch sizes reuse the TorchScript export and give what a fresh export gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import adapters
from adapters import Request, Spec
from adapters.export_cache import SessionCache, input_signature, weights_digest

pytest.importorskip("onnxruntime")


def require(*names: str) -> None:
    for name in names:
        if reason := adapters.IMPLEMENTATIONS[name].unavailable_reason():
            pytest.skip(f"{name}: {reason}")


def request_of(spec: Spec, params, seq: int, batch: int, seed: int, h0: bool = True) -> Request:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(seq, batch, spec.input_size)).astype(np.float32)
    rows = spec.num_layers * spec.num_directions
    state = rng.normal(size=(rows, batch, spec.output_size)).astype(np.float32) if h0 else None
    return Request(spec=spec, params=params, x=x, h0=state)


def float32_params(spec: Spec, seed: int) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in adapters.init_params(spec, seed=seed).items()}


def test_the_cache_keeps_the_most_recent_few_and_does_not_keep_failures():
    cache: SessionCache = SessionCache(size=2)
    for key in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recent when "c" comes
        cache.get(key, lambda key=key: f"session {key}")
    assert list(cache.entries) == ["a", "c"] and cache.built == 3

    def failing():
        raise RuntimeError("the exporter refuses it")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="refuses"):
            cache.get("d", failing)
    assert "d" not in cache.entries


def test_the_weights_digest_sees_a_change_in_place_and_the_key_sees_shapes_but_open_axes():
    params = {"weight_ih_l0": np.zeros((3, 2), np.float32)}
    before = weights_digest(params)
    params["weight_ih_l0"][1, 1] = 1e-7  # the same array object, one value changed
    assert weights_digest(params) != before
    assert weights_digest({"w": np.zeros(2, np.float32)}) != weights_digest(
        {"w": np.zeros(2, np.float64)}
    )
    a, b = {"x": np.zeros((7, 5, 3), np.float32)}, {"x": np.zeros((3, 1, 3), np.float32)}
    assert input_signature(a, {"x": (0, 1)}) == input_signature(b, {"x": (0, 1)})
    assert input_signature(a, {"x": (0,)}) != input_signature(b, {"x": (0,)})
    assert input_signature(a, {}) != input_signature(b, {})


def changed_weight_runs(impl: str) -> tuple[dict, dict, dict]:
    """(before, after, torch's truth after) for one weight changed in place after an export."""
    spec = Spec(mode="GRU", input_size=3, hidden_size=4)
    params = float32_params(spec, seed=5)
    request = request_of(spec, params, seq=5, batch=2, seed=0)
    first = adapters.run_request(impl, request)
    params["weight_hh_l0"][0, 0] += 0.5  # planted: the same dict and arrays, one weight changed
    return first, adapters.run_request(impl, request), adapters.run_request("torch", request)


@pytest.mark.parametrize("impl", ["torch-onnx-legacy", "keras-onnx"])
def test_a_weight_changed_after_an_export_is_not_served_from_the_cache(impl):
    require("torch", impl)
    first, changed, truth = changed_weight_runs(impl)
    assert not np.allclose(first["h_n"], changed["h_n"], atol=1e-3)
    for name in ("output", "h_n"):
        np.testing.assert_allclose(changed[name], truth[name], rtol=1e-5, atol=1e-5)


def test_a_key_without_the_weights_would_serve_the_stale_export(monkeypatch):
    """The planted mistake the test above exists for: it would see it."""
    require("torch", "torch-onnx-legacy")
    from adapters import torch_onnx_adapter as exporter

    monkeypatch.setattr(exporter, "weights_digest", lambda params: "the same for all")
    monkeypatch.setattr(exporter, "SESSIONS", SessionCache())
    first, changed, truth = changed_weight_runs("torch-onnx-legacy")
    np.testing.assert_array_equal(first["h_n"], changed["h_n"])  # stale
    assert not np.allclose(changed["h_n"], truth["h_n"], atol=1e-3)


def test_other_lengths_and_batch_sizes_reuse_one_torchscript_export_and_match_fresh_ones():
    require("torch", "torch-onnx-legacy")
    from adapters import torch_onnx_adapter as exporter

    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    params = float32_params(spec, seed=6)
    shapes = [(7, 5), (3, 5), (4, 1)]
    requests = [
        request_of(spec, params, seq, batch, seed=i) for i, (seq, batch) in enumerate(shapes)
    ]
    requests = [replace(r, c0=np.ones_like(r.h0)) for r in requests]  # both states: one graph
    built = exporter.SESSIONS.built
    got = [adapters.run_request("torch-onnx-legacy", r) for r in requests]
    assert exporter.SESSIONS.built == built + 1
    for request, tensors in zip(requests, got):
        exporter.SESSIONS.clear()  # a fresh export of this very shape
        fresh = adapters.run_request("torch-onnx-legacy", request)
        for name in ("output", "h_n", "c_n"):
            assert tensors[name].shape == fresh[name].shape
            np.testing.assert_array_equal(tensors[name], fresh[name])


def test_other_lengths_reuse_one_keras_conversion_and_match_fresh_ones():
    require("keras-onnx")
    from adapters import keras_onnx_adapter as converter

    spec = Spec(mode="LSTM", input_size=3, hidden_size=4, num_layers=2)
    params = float32_params(spec, seed=7)
    requests = [request_of(spec, params, seq, batch=2, seed=seq) for seq in (7, 3)]
    requests = [replace(r, c0=np.ones_like(r.h0)) for r in requests]
    converter.SESSIONS.clear()
    built = converter.SESSIONS.built
    got = [adapters.run_request("keras-onnx", r) for r in requests]
    assert converter.SESSIONS.built == built + 1  # one conversion for both lengths
    other_batch = request_of(spec, params, seq=7, batch=1, seed=1)  # the batch axis is fixed
    adapters.run_request("keras-onnx", replace(other_batch, c0=np.ones_like(other_batch.h0)))
    assert converter.SESSIONS.built == built + 2
    for request, tensors in zip(requests, got):
        converter.SESSIONS.clear()
        fresh = adapters.run_request("keras-onnx", request)
        for name in ("output", "h_n", "c_n"):
            np.testing.assert_array_equal(tensors[name], fresh[name])


@pytest.mark.parametrize(
    "mode, lengths", [("GRU", None), ("LSTM", np.array([5, 2, 1]))], ids=["GRU", "LSTM-lengths"]
)
def test_both_layouts_of_a_configuration_share_one_keras_conversion(mode, lengths):
    """keras-onnx's model takes x batch-major whatever the request's layout, so a configuration
    and its batch_first twin are one conversion, and the twin gets what its own conversion gives."""
    require("keras-onnx")
    from adapters import keras_onnx_adapter as converter

    spec = Spec(mode=mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    params = float32_params(spec, seed=8)
    seq_first = request_of(spec, params, seq=5, batch=3, seed=3)
    if mode == "LSTM":  # both states given, and a mask: the model's every input
        seq_first = replace(seq_first, c0=np.ones_like(seq_first.h0), lengths=lengths)
    batch_first = replace(
        seq_first,
        spec=replace(spec, batch_first=True),
        x=np.ascontiguousarray(np.swapaxes(seq_first.x, 0, 1)),
    )
    converter.SESSIONS.clear()
    built = converter.SESSIONS.built
    shared = [adapters.run_request("keras-onnx", r) for r in (seq_first, batch_first)]
    assert converter.SESSIONS.built == built + 1
    converter.SESSIONS.clear()
    fresh = adapters.run_request("keras-onnx", batch_first)
    for name in fresh:
        np.testing.assert_array_equal(shared[1][name], fresh[name])
    np.testing.assert_array_equal(shared[1]["output"], np.swapaxes(shared[0]["output"], 0, 1))
    for name in set(fresh) - {"output"}:  # the final states are the same in both layouts
        np.testing.assert_array_equal(shared[1][name], shared[0][name])

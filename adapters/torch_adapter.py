"""`torch` and `torch-cuda`: torch.nn.RNN / LSTM / GRU loaded from the canonical params as-is.

`torch-cuda` runs the same module on the GPU (cuDNN) in strict float32: TF32 is switched off for
the call (cuDNN and matmul flags), because float32 is judged by float32's tolerance. Whether every
cuDNN RNN path obeys those flags (pytorch#179445) is exactly what its grid shows on a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
import torch

from .errors import NotInstalled, Unsupported
from .spec import Spec

DTYPES = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}


def build_module(spec: Spec, params: Mapping[str, np.ndarray], dtype: torch.dtype):
    kwargs = dict(
        input_size=spec.input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        bias=spec.bias,
        batch_first=spec.batch_first,
        dropout=spec.dropout,
        bidirectional=spec.bidirectional,
    )
    if spec.mode == "RNN":
        module = torch.nn.RNN(nonlinearity=spec.nonlinearity, **kwargs)
    elif spec.mode == "LSTM":
        module = torch.nn.LSTM(proj_size=spec.proj_size, **kwargs)
    else:
        module = torch.nn.GRU(**kwargs)
    state = {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in params.items()}
    module.load_state_dict(state, strict=True)
    return module.to(dtype).eval()


@contextlib.contextmanager
def strict_float32():
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def run(spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    return run_on("cpu", spec, params, x, h0, c0)


def run_cuda(spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    if not torch.cuda.is_available():
        raise NotInstalled("torch-cuda: this torch build sees no CUDA device")
    with strict_float32():
        return run_on("cuda", spec, params, x, h0, c0)


def run_on(device: str, spec: Spec, params, x: np.ndarray, h0=None, c0=None):
    if x.dtype not in DTYPES:
        raise Unsupported(f"torch adapter runs float32 and float64, not {x.dtype}")
    dtype = DTYPES[x.dtype]
    module = build_module(spec, params, dtype).to(device)

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

    rows, batch = spec.num_layers * spec.num_directions, x.shape[0 if spec.batch_first else 1]
    if spec.mode == "LSTM":
        if h0 is None and c0 is None:
            state = None
        else:  # torch takes both or neither; a missing one means zeros
            h = np.zeros((rows, batch, spec.output_size)) if h0 is None else h0
            c = np.zeros((rows, batch, spec.hidden_size)) if c0 is None else c0
            state = (tensor(h), tensor(c))
    else:
        state = None if h0 is None else tensor(h0)

    with torch.no_grad():
        output, final = module(tensor(x), state)
    if spec.mode == "LSTM":
        h_n, c_n = final
        return output.cpu().numpy(), h_n.cpu().numpy(), c_n.cpu().numpy()
    return output.cpu().numpy(), final.cpu().numpy(), None

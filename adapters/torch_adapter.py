"""`torch` and `torch-cuda`: torch.nn.RNN / LSTM / GRU loaded from the canonical params as-is.

`torch-cuda` runs the same module on the GPU (cuDNN) in strict float32: TF32 is switched off for
the call (cuDNN and matmul flags), because float32 is judged by float32's tolerance. Whether every
cuDNN RNN path obeys those flags (pytorch#179445) is exactly what its grid shows on a GPU.
Variable lengths go through PyTorch's own packed sequences: pack_padded_sequence(...,
enforce_sorted=False), the module, pad_packed_sequence(..., total_length=T). A training request
puts the module in train mode (its `dropout` between layers applies), with torch's global RNG
seeded from `request.seed` inside `torch.random.fork_rng`, so the caller's RNG state is untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
import torch

from .dtypes import BFLOAT16, computable
from .errors import NotInstalled
from .request import Request, Tensors, named
from .spec import Spec

DTYPES = {
    np.dtype("float32"): torch.float32,
    np.dtype("float64"): torch.float64,
    np.dtype("float16"): torch.float16,
    BFLOAT16: torch.bfloat16,
}


def from_numpy(array: np.ndarray, **to) -> torch.Tensor:
    """torch.from_numpy knows no ml_dtypes bfloat16: it goes through float32 (exactly)."""
    return torch.from_numpy(np.ascontiguousarray(computable(array))).to(**to)


def to_numpy(tensor: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """Tensor.numpy() refuses bfloat16: through float32 (exactly), back to the request's dtype."""
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.float().numpy().astype(dtype)
    return tensor.numpy()


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
    # In the target dtype before loading: loading into float32 first would round float64 weights.
    module = module.to(dtype)
    state = {name: from_numpy(v, dtype=dtype) for name, v in params.items()}
    module.load_state_dict(state, strict=True)
    return module.eval()


@contextlib.contextmanager
def strict_float32():
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def seed_generators(device: str, seed: int) -> None:
    """Seed the generator that a module on `device` draws dropout masks from (and the CPU's),
    none other. torch.manual_seed also queues a seeding of every backend not yet initialized
    (CUDA, XPU, MTIA), formatting the caller's stack for each: half a millisecond a case under
    pytest, and the queue outlives fork_rng, which restores only the devices it was given."""
    seed = int(seed)  # as torch.manual_seed takes it: a NumPy integer too
    torch.default_generator.manual_seed(seed)
    if device != "cpu":
        torch.cuda.manual_seed(seed)


def run(request: Request) -> Tensors:
    return run_on("cpu", request)


def run_cuda(request: Request) -> Tensors:
    if not torch.cuda.is_available():
        raise NotInstalled("torch-cuda: this torch build sees no CUDA device")
    with strict_float32():
        return run_on("cuda", request)


def run_on(device: str, request: Request) -> Tensors:
    spec, x, h0, c0 = request.spec, request.x, request.h0, request.c0
    dtype = DTYPES[x.dtype]
    module = build_module(spec, request.params, dtype).to(device).train(request.training)

    def tensor(a):
        return from_numpy(a, device=device, dtype=dtype)

    rows, batch = spec.num_layers * spec.num_directions, request.batch
    inputs = tensor(x)
    given = {"grad_x": inputs}  # what gradients are asked of: the inputs the user gave
    if h0 is not None:
        given["grad_h0"] = tensor(h0)
    if c0 is not None:
        given["grad_c0"] = tensor(c0)
    if spec.mode == "LSTM":
        if h0 is None and c0 is None:
            state = None
        else:  # torch takes both or neither; a missing one means zeros
            zeros = {
                "grad_h0": (rows, batch, spec.output_size),
                "grad_c0": (rows, batch, spec.hidden_size),
            }
            state = tuple(given.get(k, torch.zeros(shape, dtype=dtype, device=device))
                          for k, shape in zeros.items())  # fmt: skip
    else:
        state = given.get("grad_h0")
    wants_gradients = request.cotangents is not None
    leaves = given | {f"grad_{name}": p for name, p in module.named_parameters()}
    for leaf in leaves.values():
        leaf.requires_grad_(wants_gradients)
    if request.lengths is not None:  # lengths stay on the CPU, as pack_padded_sequence wants
        lengths = torch.as_tensor(request.lengths, dtype=torch.int64)
        inputs = torch.nn.utils.rnn.pack_padded_sequence(
            inputs, lengths, batch_first=spec.batch_first, enforce_sorted=False
        )
    devices = [torch.device(device)] if device != "cpu" else []
    with torch.set_grad_enabled(wants_gradients), torch.random.fork_rng(devices=devices):
        seed_generators(device, request.seed)
        output, final = module(inputs, state)
        if request.lengths is not None:
            output, _ = torch.nn.utils.rnn.pad_packed_sequence(
                output, batch_first=spec.batch_first, total_length=request.seq_len
            )
    h_n, c_n = final if spec.mode == "LSTM" else (final, None)
    tensors = named(spec, output, h_n, c_n)
    gradients = {}
    if wants_gradients:  # autograd's vector-Jacobian product of the cotangents
        names = [name for name in tensors if tensors[name] is not None]
        cotangents = [tensor(request.cotangents[name]) for name in names]
        values = torch.autograd.grad(
            [tensors[name] for name in names], list(leaves.values()), cotangents,
            allow_unused=True,
        )  # fmt: skip
        gradients = {
            name: torch.zeros_like(leaf) if value is None else value
            for (name, leaf), value in zip(leaves.items(), values)
        }
    return {
        name: None if t is None else to_numpy(t, x.dtype)
        for name, t in (tensors | gradients).items()
    }

"""Data-parallel local training over ``torch.distributed``.

Each process runs the same network on its own shard of the batch; after each
layer's backward pass the layer's gradients are averaged over processes with one
all-reduce, so every process takes the same optimizer step. Local learning needs no
backward traffic between layers, so each layer's all-reduce is independent of the
others. Launch with ``torchrun --nproc_per_node=N script.py`` and call
``torch.distributed.init_process_group`` before building
:class:`~pyro_local.infer.LocalSVI`.

With a plate whose ``subsample_size`` is the local batch and whose ``size`` is the
dataset size, the averaged gradient equals one process's gradient on the combined
batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_tensors(tensors: Sequence[torch.Tensor], src: int = 0) -> None:
    """Copies ``tensors`` (parameters, buffers) from process ``src`` to all others."""
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=src)


def all_reduce_gradients(params: Sequence[torch.Tensor]) -> None:
    """
    Averages the gradients of ``params`` over all processes, in one flat buffer per
    device and dtype (one collective instead of one per tensor).
    """
    world = dist.get_world_size()
    groups: dict[tuple, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)  # keep every process's buffer the same size
        groups.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for grads in groups.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over all processes (a new tensor)."""
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()

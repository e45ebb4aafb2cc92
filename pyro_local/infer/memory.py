"""Activation memory: the bytes autograd keeps for the backward pass.

Local training's memory claim (sequential mode holds one layer's graph at a time) is a
statement about tensors saved for backward, not about the process's resident size,
which also holds weights, optimizer state and the allocator's cache. This meter counts
exactly the former, on any device, with saved-tensor hooks.
"""

import weakref

import torch


def _trainable_leaf(tensor) -> bool:
    """Whether ``tensor`` is, or views, a leaf that requires grad: a parameter."""
    base = tensor if tensor._base is None else tensor._base
    return base.is_leaf and base.requires_grad


class SavedTensorMeter:
    """Context manager recording the peak bytes of tensors saved for backward,
    parameters excluded.

    Storages are counted once however many tensors view them, and leave the count
    when freed, so :attr:`peak` is the largest simultaneous total reached inside the
    ``with`` block. A tensor that is or views a leaf requiring grad (a parameter:
    ``nn.Parameter``, ``pyro.param``; also an input its caller marked
    ``requires_grad``), or shares a storage with one seen so, is not counted: autograd
    keeps a reference to it, not a copy, and it lives between steps anyway. A linear
    layer saves its weight (transposed) and its input; only the input counts.

    Example::

        with SavedTensorMeter() as meter:
            svi.step(x, y)
        print(meter.peak / 2**20, "MiB")

    :ivar int peak: the peak number of bytes saved for backward.
    """

    def __init__(self):
        self.live = {}
        self.peak = 0
        self._parameters = set()
        self._hooks = None

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = (tensor.device, storage.data_ptr())
        if _trainable_leaf(tensor):
            self._parameters.add(key)
        if key in self._parameters or key in self.live:
            return tensor
        self.live[key] = storage.nbytes()
        self.peak = max(self.peak, sum(self.live.values()))
        # Drop the storage from the count when autograd frees it.
        weakref.finalize(storage, self.live.pop, key, None)
        return tensor

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        self._hooks = None

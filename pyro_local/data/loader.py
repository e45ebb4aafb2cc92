"""Mini-batches from tensors that already live on a device, with a resumable order.

:class:`TensorLoader` never copies data to or from the host: it shuffles with
``torch.randperm`` on the data's device and gathers each batch with ``index_select``, so
a GPU training loop is not held back by per-step CPU work. Its whole state is three
integers (seed, epoch, position in the epoch): the order of every epoch, and the
randomness handed to a per-batch transform, are functions of them, so a checkpoint that
saves :meth:`TensorLoader.state_dict` resumes with exactly the batches an uninterrupted
run would have seen.
"""

import math

import torch

from pyro_local._checks import check_int

__all__ = ["TensorLoader", "derive_seed"]

_MASK64 = (1 << 64) - 1
# Separate streams, so the order and the augmentation never share random numbers.
_ORDER_STREAM = 1
_TRANSFORM_STREAM = 2


def _splitmix64(x):
    # The SplitMix64 finaliser: a bijection on 64-bit integers that scatters nearby
    # inputs (seed, seed + 1, ...) to unrelated outputs.
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def derive_seed(*parts):
    """
    A seed for ``torch.Generator.manual_seed`` derived from a tuple of integers: equal
    tuples give equal seeds, different tuples practically never collide.

    :param int parts: the integers, e.g. ``(seed, epoch)``.
    :returns: an integer in [0, 2**63).
    """
    state = len(parts)
    for part in parts:
        state = _splitmix64(state ^ (part & _MASK64))
    return state >> 1


class TensorLoader:
    """
    Iterates over mini-batches of tensors that share their first dimension.

    Each pass of ``for batch in loader`` yields the rest of the current epoch as tuples
    ``(t1[idx], t2[idx], ...)`` and then moves to the next epoch. The order of epoch
    ``e`` is ``torch.randperm`` on the tensors' device from a generator seeded with
    ``derive_seed(seed, e)``, so it depends on the seed and the epoch alone (and on the
    device type: CPU and CUDA generators differ). One pass at a time: two iterators
    over one loader share its position.

    :param torch.Tensor tensors: one or more tensors with the same first dimension, on
        the same device (e.g. ``data.images, data.labels``).
    :param int batch_size: examples per batch.
    :param bool shuffle: a new random order every epoch; if ``False``, the stored order.
    :param bool drop_last: drop the last, smaller batch of each epoch.
    :param int seed: the seed of every epoch's order and of the transform's randomness.
    :param callable transform: applied to the first tensor of each batch as
        ``transform(x, generator)``, e.g. :class:`~pyro_local.data.RandomCropFlip`, or
        :func:`~pyro_local.data.binarize_dynamic` for a fresh binarization of every
        batch. The generator lives on the device and is seeded from ``(seed, epoch,
        batch)``, so transformed batches, too, are reproduced on resume.

    Example::

        data = load("fashion-mnist-small", "train", device="cuda")
        loader = TensorLoader(data.images, data.labels, batch_size=128, seed=0)
        for epoch in range(10):
            for x, y in loader:
                ...
        checkpoint = {"loader": loader.state_dict()}
    """

    def __init__(
        self, *tensors, batch_size, shuffle=True, drop_last=False, seed=0, transform=None
    ):
        if not tensors:
            raise ValueError("tensors: expected at least one tensor, got none")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor) or t.dim() == 0:
                raise TypeError(
                    f"tensors[{i}]: expected a tensor with a batch dimension, got {t!r:.80}"
                )
        n, device = tensors[0].shape[0], tensors[0].device
        if n == 0:
            raise ValueError("tensors: expected at least one example, got first dimension 0")
        for i, t in enumerate(tensors[1:], 1):
            if t.shape[0] != n:
                raise ValueError(f"tensors[{i}]: expected first dimension {n}, got {t.shape[0]}")
            if t.device != device:
                raise ValueError(f"tensors[{i}]: expected device {device}, got {t.device}")
        self._batch_size = check_int(batch_size, "batch_size", 1)
        if drop_last and n < batch_size:
            raise ValueError(
                f"batch_size: expected at most {n} (the number of examples) with "
                f"drop_last=True, got {batch_size}; no batch would be yielded"
            )
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected a callable, got {type(transform).__name__}")
        self._tensors = tensors
        self._num_examples = n
        self._device = device
        self._shuffle = bool(shuffle)
        self._drop_last = bool(drop_last)
        self._seed = check_int(seed, "seed", 0)
        self._transform = transform
        self._epoch = 0
        self._batch = 0
        self._generator = torch.Generator(device=device)

    def __len__(self):
        """The number of batches in one epoch."""
        if self._drop_last:
            return self._num_examples // self._batch_size
        return math.ceil(self._num_examples / self._batch_size)

    @property
    def epoch(self):
        """The current epoch (counted from 0)."""
        return self._epoch

    @property
    def batch(self):
        """How many batches of the current epoch have been handed out."""
        return self._batch

    def set_epoch(self, epoch):
        """
        Positions the loader at the start of ``epoch``: the next pass yields that
        epoch's batches, whatever was handed out before (as torch's
        ``DistributedSampler.set_epoch``; :meth:`pyro_local.infer.LocalSVI.run` calls it).

        :param int epoch: an epoch (counted from 0).
        """
        self._epoch = check_int(epoch, "epoch", 0)
        self._batch = 0

    def epoch_order(self, epoch):
        """
        :param int epoch: an epoch.
        :returns: the permutation of the examples in that epoch, on the device.
        """
        check_int(epoch, "epoch", 0)
        n = self._num_examples
        if not self._shuffle:
            return torch.arange(n, device=self._device)
        self._generator.manual_seed(derive_seed(self._seed, _ORDER_STREAM, epoch))
        return torch.randperm(n, generator=self._generator, device=self._device)

    def __iter__(self):
        if self._batch >= len(self):
            # The last batch was handed out but the pass not finished (a break, or a
            # state saved just then): the epoch is over.
            self._epoch, self._batch = self._epoch + 1, 0
        order = self.epoch_order(self._epoch)
        size = self._batch_size
        while self._batch < len(self):
            b = self._batch
            idx = order[b * size : (b + 1) * size]
            batch = [t.index_select(0, idx) for t in self._tensors]
            if self._transform is not None:
                self._generator.manual_seed(
                    derive_seed(self._seed, _TRANSFORM_STREAM, self._epoch, b)
                )
                batch[0] = self._transform(batch[0], self._generator)
            # Count the batch before handing it out, so a state saved while the caller
            # holds it resumes after it.
            self._batch = b + 1
            yield tuple(batch)
        self._epoch, self._batch = self._epoch + 1, 0

    def state_dict(self):
        """
        :returns: the loader's state, plain integers: ``seed``, ``epoch``, ``batch``
            (batches already handed out in this epoch), and ``num_examples`` and
            ``batch_size`` to check a restore against.
        :rtype: dict
        """
        return {
            "seed": self._seed,
            "epoch": self._epoch,
            "batch": self._batch,
            "num_examples": self._num_examples,
            "batch_size": self._batch_size,
        }

    def load_state_dict(self, state):
        """
        Restores a state from :meth:`state_dict`; the next pass continues from there.

        :param dict state: the saved state.
        :raises ValueError: if it is incomplete, or saved mid-epoch by a loader over a
            different number of examples or batch size (whose batches would differ).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state: expected a dict, got {type(state).__name__}")
        missing = {"seed", "epoch", "batch"} - set(state)
        if missing:
            raise ValueError(
                f"state: expected the keys seed, epoch and batch, missing {sorted(missing)}"
            )
        seed = check_int(state["seed"], "state['seed']", 0)
        epoch = check_int(state["epoch"], "state['epoch']", 0)
        batch = check_int(state["batch"], "state['batch']", 0)
        if batch > len(self):
            raise ValueError(f"state['batch']: expected at most {len(self)}, got {batch}")
        if batch:
            mine = {"num_examples": self._num_examples, "batch_size": self._batch_size}
            for key, value in mine.items():
                if key in state and state[key] != value:
                    raise ValueError(
                        f"state['{key}']: expected {value} to resume mid-epoch, got {state[key]}"
                    )
        self._seed, self._epoch, self._batch = seed, epoch, batch

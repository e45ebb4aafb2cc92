"""Stratified, seeded train/validation splits."""

import math

import torch

from pyro_local._checks import check_int

__all__ = ["stratified_split", "train_val_split"]


def stratified_split(labels, val_fraction, seed=0):
    """
    Splits example positions into training and validation sets with the same class
    proportions: from each class ``c`` with ``n_c`` examples, ``floor(val_fraction * n_c
    + 1/2)`` chosen uniformly at random go to validation, the rest to training.

    The choice is made on the CPU from a ``torch.Generator`` seeded with ``seed``, so it
    is the same on every device; the results are moved to the labels' device.

    :param torch.Tensor labels: integer class labels, shape (N,).
    :param float val_fraction: the share of each class for validation, in (0, 1).
    :param int seed: the seed of the choice.
    :returns: ``(train_indices, val_indices)``, int64, each sorted ascending.

    Example::

        train_idx, val_idx = stratified_split(data.labels, 1 / 6, seed=0)
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise TypeError(f"labels: expected a 1-d tensor, got {labels!r:.80}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"labels: expected integer labels, got {labels.dtype}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise TypeError(f"val_fraction: expected a float in (0, 1), got {val_fraction!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction: expected a float in (0, 1), got {val_fraction}")
    check_int(seed, "seed", None)

    cpu_labels = labels.cpu().long()
    n = cpu_labels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    # Random order, then a stable sort by label: examples grouped by class, in random
    # order within each class.
    order = torch.randperm(n, generator=generator)
    order = order[torch.argsort(cpu_labels[order], stable=True)]
    sorted_labels = cpu_labels[order]
    _, counts = torch.unique_consecutive(sorted_labels, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - torch.repeat_interleave(starts, counts)
    n_val = torch.tensor([math.floor(val_fraction * int(c) + 0.5) for c in counts])
    is_val = rank < torch.repeat_interleave(n_val, counts)
    train_idx = torch.sort(order[~is_val]).values
    val_idx = torch.sort(order[is_val]).values
    return train_idx.to(labels.device), val_idx.to(labels.device)


def train_val_split(data, val_fraction=0.1, seed=0):
    """
    Splits an :class:`~pyro_local.data.ImageData` into stratified training and
    validation parts, each class split in the same proportion.

    :param ImageData data: usually a training split.
    :param float val_fraction: the share of each class for validation.
    :param int seed: the seed of the choice.
    :returns: ``(train, val)``, two :class:`~pyro_local.data.ImageData` records.
    """
    train_idx, val_idx = stratified_split(data.labels, val_fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)

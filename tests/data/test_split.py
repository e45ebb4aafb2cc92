"""Stratified, seeded train/validation splits."""

import pytest
import torch

from pyro_local.data import load, train_val_split
from pyro_local.data.split import stratified_split


def _labels():
    counts = [10, 25, 7]
    labels = torch.repeat_interleave(torch.arange(3), torch.tensor(counts))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


def test_exact_per_class_counts_and_a_partition(device):
    labels = _labels().to(device)
    train, val = stratified_split(labels, 0.2, seed=0)
    # floor(0.2 * n + 1/2) for n = 10, 25, 7.
    assert labels[val].bincount(minlength=3).tolist() == [2, 5, 1]
    assert labels[train].bincount(minlength=3).tolist() == [8, 20, 6]
    both = torch.cat([train, val]).sort().values
    assert torch.equal(both, torch.arange(len(labels), device=device))
    assert torch.all(train[1:] > train[:-1]) and torch.all(val[1:] > val[:-1])
    assert train.device == device and train.dtype == torch.int64


def test_seeded():
    labels = _labels()
    a = stratified_split(labels, 0.3, seed=1)
    b = stratified_split(labels, 0.3, seed=1)
    c = stratified_split(labels, 0.3, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1], c[1])


def test_every_member_of_a_class_can_be_chosen():
    # Over many seeds, each example of a class lands in validation: the choice within a
    # class is not tied to position.
    labels = _labels()
    chosen = torch.zeros(len(labels), dtype=torch.bool)
    for seed in range(60):
        chosen[stratified_split(labels, 0.2, seed)[1]] = True
    assert chosen.all()


def test_train_val_split_of_the_shipped_subset():
    data = load("fashion-mnist-small", "train")
    train, val = train_val_split(data, val_fraction=0.1, seed=0)
    assert val.labels.bincount(minlength=10).tolist() == [50] * 10
    assert train.labels.bincount(minlength=10).tolist() == [450] * 10
    assert len(set(train.index.tolist()) & set(val.index.tolist())) == 0
    row = val.index[0]
    position = (data.index == row).nonzero().item()
    assert torch.equal(val.images[0], data.images[position])


def test_bad_arguments():
    labels = _labels()
    with pytest.raises(ValueError, match=r"val_fraction: expected a float in \(0, 1\)"):
        stratified_split(labels, 1.0)
    with pytest.raises(TypeError, match="val_fraction"):
        stratified_split(labels, "0.1")
    with pytest.raises(TypeError, match="labels: expected integer labels"):
        stratified_split(labels.float(), 0.1)
    with pytest.raises(TypeError, match="labels: expected a 1-d tensor"):
        stratified_split(labels[None], 0.1)
    with pytest.raises(TypeError, match="seed: expected an int"):
        stratified_split(labels, 0.1, seed=None)

"""TensorLoader: every example once per epoch, order from the seed, exact resume."""

import itertools

import pytest
import torch

from pyro_local.data import RandomCropFlip, TensorLoader, binarize_dynamic
from pyro_local.data.loader import derive_seed


def _epoch(loader):
    return [tuple(t.clone() for t in batch) for batch in loader]


def _ids(batches):
    return [b[0].tolist() for b in batches]


@pytest.mark.parametrize("drop_last", [False, True])
def test_each_example_once_per_epoch(device, drop_last):
    n, size = 103, 10
    ids = torch.arange(n, device=device)
    loader = TensorLoader(ids, ids * 2, batch_size=size, drop_last=drop_last, seed=1)
    assert len(loader) == (10 if drop_last else 11)
    for epoch in range(3):
        assert loader.epoch == epoch
        batches = _epoch(loader)
        assert len(batches) == len(loader)
        assert [len(b[0]) for b in batches] == [10] * 10 + ([] if drop_last else [3])
        seen = torch.cat([b[0] for b in batches])
        assert seen.device == device
        if drop_last:
            assert len(seen.unique()) == 100  # each at most once, 3 dropped
        else:
            assert torch.equal(seen.sort().values, ids)
        # Tensors stay aligned: the second is twice the first in every batch.
        assert all(torch.equal(b[1], 2 * b[0]) for b in batches)


def test_order_comes_from_the_seed_and_the_epoch():
    ids = torch.arange(50)
    a = TensorLoader(ids, batch_size=7, seed=5)
    b = TensorLoader(ids, batch_size=7, seed=5)
    c = TensorLoader(ids, batch_size=7, seed=6)
    runs = [[_ids(_epoch(loader)) for _ in range(3)] for loader in (a, b, c)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0][0] != runs[0][1], "each epoch has its own order"
    # An epoch's order is a function of (seed, epoch) alone.
    assert torch.equal(a.epoch_order(1), TensorLoader(ids, batch_size=3, seed=5).epoch_order(1))


def test_no_shuffle_keeps_the_stored_order():
    ids = torch.arange(10)
    loader = TensorLoader(ids, batch_size=4, shuffle=False)
    assert _ids(_epoch(loader)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def _take(loader, k):
    # The next k batches, across epoch boundaries, as an interrupted training loop sees them.
    out = []
    while len(out) < k:
        for batch in loader:
            out.append(tuple(t.clone() for t in batch))
            if len(out) == k:
                break
    return out


@pytest.mark.parametrize("stop", [0, 4, 11, 22, 25], ids=lambda k: f"after{k}")
@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
def test_resume_gives_the_same_batches(device, stop, augment):
    images = torch.rand(53, 1, 8, 8, device=device)
    labels = torch.arange(53, device=device)
    transform = RandomCropFlip(padding=2) if augment else None

    def make():
        return TensorLoader(images, labels, batch_size=5, seed=3, transform=transform)

    uninterrupted = _take(make(), 40)
    first = make()
    head = _take(first, stop)
    state = first.state_dict()
    assert all(type(v) is int for v in state.values())
    resumed = make()
    resumed.load_state_dict(state)
    tail = _take(resumed, 40 - stop)
    for (x, y), (x_ref, y_ref) in zip(head + tail, uninterrupted, strict=True):
        assert torch.equal(y, y_ref) and torch.equal(x, x_ref)


def test_state_saved_while_holding_the_last_batch_resumes_in_the_next_epoch():
    loader = TensorLoader(torch.arange(6), batch_size=3, seed=0)
    batches = iter(loader)
    next(batches), next(batches)
    state = loader.state_dict()
    assert (state["epoch"], state["batch"]) == (0, 2)
    resumed = TensorLoader(torch.arange(6), batch_size=3, seed=0)
    resumed.load_state_dict(state)
    assert _ids(_epoch(resumed)) == [b.tolist() for b in resumed.epoch_order(1).split(3)]
    assert resumed.epoch == 2


def test_break_then_continue_in_the_same_epoch():
    loader = TensorLoader(torch.arange(20), batch_size=4, seed=2)
    reference = loader.epoch_order(0).split(4)
    first = next(iter(loader))[0]
    rest = _ids(_epoch(loader))
    assert [first.tolist()] + rest == [r.tolist() for r in reference]


def test_transform_gets_a_generator_on_the_device(device):
    seen = []

    def transform(x, generator):
        seen.append(generator.device.type)
        return x + 1

    loader = TensorLoader(torch.zeros(4, 1, 2, 2, device=device), batch_size=2, transform=transform)
    (x1,), (x2,) = _epoch(loader)
    assert seen == [device.type] * 2 and torch.all(x1 == 1)


def test_load_state_dict_checks():
    loader = TensorLoader(torch.arange(10), batch_size=3)
    with pytest.raises(ValueError, match="missing"):
        loader.load_state_dict({"seed": 0, "epoch": 1})
    with pytest.raises(ValueError, match=r"state\['batch'\]: expected at most 4"):
        loader.load_state_dict({"seed": 0, "epoch": 0, "batch": 5})
    with pytest.raises(ValueError, match=r"state\['epoch'\]: expected an int >= 0"):
        loader.load_state_dict({"seed": 0, "epoch": -1, "batch": 0})
    with pytest.raises(ValueError, match=r"state\['batch_size'\]: expected 3 to resume mid-epoch"):
        loader.load_state_dict({"seed": 0, "epoch": 0, "batch": 1, "batch_size": 4})
    # At an epoch boundary, another batch size is fine: no position to honour.
    loader.load_state_dict({"seed": 9, "epoch": 4, "batch": 0, "batch_size": 4})
    assert loader.state_dict()["seed"] == 9 and loader.epoch == 4
    with pytest.raises(TypeError, match="state: expected a dict"):
        loader.load_state_dict([0, 0, 0])


def test_constructor_checks():
    x = torch.arange(10)
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorLoader(batch_size=2)
    with pytest.raises(ValueError, match="at least one example"):
        TensorLoader(torch.zeros(0, 3), batch_size=2)
    with pytest.raises(ValueError, match=r"tensors\[1\]: expected first dimension 10"):
        TensorLoader(x, torch.arange(9), batch_size=2)
    with pytest.raises(TypeError, match=r"tensors\[0\]"):
        TensorLoader([1, 2], batch_size=2)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1"):
        TensorLoader(x, batch_size=0)
    with pytest.raises(TypeError, match="batch_size: expected an int"):
        TensorLoader(x, batch_size=2.0)
    with pytest.raises(ValueError, match="no batch would be yielded"):
        TensorLoader(x, batch_size=11, drop_last=True)
    with pytest.raises(TypeError, match="transform: expected a callable"):
        TensorLoader(x, batch_size=2, transform=3)
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        TensorLoader(x, batch_size=2, seed=-1)


def test_derive_seed():
    seeds = {derive_seed(s, e) for s, e in itertools.product(range(100), range(100))}
    assert len(seeds) == 10000
    assert all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(1, 2) == derive_seed(1, 2) != derive_seed(2, 1)
    assert derive_seed(1) != derive_seed(1, 0)


def test_dynamic_binarization_as_a_transform():
    images = torch.rand(40, 1, 4, 4)
    loader = TensorLoader(images, torch.arange(40), batch_size=8, transform=binarize_dynamic)
    first = torch.cat([x for x, _ in loader])
    second = torch.cat([x for x, _ in loader])
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    # A fresh draw per batch: the two epochs' binarizations of the same images differ.
    order1, order2 = loader.epoch_order(0), loader.epoch_order(1)
    assert not torch.equal(first[order1.argsort()], second[order2.argsort()])

import torch

from pyro_local.infer import SavedTensorMeter


def test_counts_each_saved_storage_once_and_releases_it():
    a = torch.randn(1000, requires_grad=True)
    b = torch.randn(1000, requires_grad=True)
    with SavedTensorMeter() as meter:
        # mul saves both operands; the view of ``a`` shares its storage.
        loss = (a * b).sum() + (a[:10] * a[:10]).sum()
        assert meter.peak == 2 * 1000 * 4
        loss.backward()
    # The operands are still alive (the caller holds them); once freed they leave.
    assert len(meter.live) == 2
    del loss, a, b
    assert meter.live == {}


def test_sequential_graphs_peak_at_the_largest():
    x = torch.randn(256, requires_grad=True)
    with SavedTensorMeter() as meter:
        for n in (64, 256, 128):
            (x[:n].exp()).sum().backward()
    # exp saves its output (a fresh storage of n floats); each graph is freed in turn.
    assert meter.peak == 256 * 4

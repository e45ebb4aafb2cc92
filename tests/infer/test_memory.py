import torch

from pyro_local.infer.memory import SavedTensorMeter


def test_counts_each_saved_storage_once_and_releases_it():
    a = torch.randn(1000, requires_grad=True) * 1  # not leaves: activations
    b = torch.randn(1000, requires_grad=True) * 1
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


def test_parameters_are_not_counted():
    """A linear layer saves its input and its weight (transposed): only the input is
    activation memory. A detached view of the weight's storage is not counted either."""
    layer = torch.nn.Linear(100, 50)
    x = torch.randn(8, 100, requires_grad=True) * 1  # an activation from below
    with SavedTensorMeter() as meter:
        h = layer(x)
        out = (h * layer.weight.detach()[:, :8].T).sum()  # saves a view of the weight
    assert meter.peak == 8 * 100 * 4
    out.backward()

"""A matrix normal with diagonal U and V is the mean-field Normal with scales
``s_ij = u_i v_j``: losses and gradients of a network agree exactly."""

import operator

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.nn import PyroModule

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import LocalELBO
from pyro_local.nn import BayesConv2d, BayesLinear, local_reparameterization

WEIGHTS = ("conv.weight", "fc.weight")


class ConvNet(PyroModule):
    def __init__(self):
        super().__init__()
        self.conv = BayesConv2d(1, 2, 2)
        self.fc = BayesLinear(2 * 3 * 3, 3)

    def forward(self, x, y=None):
        logits = self.fc(torch.relu(self.conv(x)).flatten(-3))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return logits


def _twins():
    torch.set_default_dtype(torch.float64)
    try:
        model = ConvNet()
        x, y = torch.randn(5, 1, 4, 4), torch.randint(0, 3, (5,))
        mn, mf = AutoMatrixNormal(model), AutoMeanFieldNormal(model)
        mn(x, y), mf(x, y)
    finally:
        torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        for name in WEIGHTS:
            a = operator.attrgetter(name)(mn.posteriors)
            b = operator.attrgetter(name)(mf.posteriors)
            a.row.scale_unconstrained.normal_(0, 0.3)  # away from the shared init
            a.column.scale_unconstrained.normal_(0, 0.3)
            b.loc.copy_(a.loc)
            b.scale_unconstrained.copy_(a.row.scale.log()[:, None] + a.column.scale.log())
    return model, mn, mf, x, y


@pytest.mark.parametrize("elbo", [LocalELBO(), TraceMeanField_ELBO()], ids=["local", "pyro"])
def test_loss_and_gradients_match(elbo):
    model, mn, mf, x, y = _twins()
    losses = []
    for guide in (mn, mf):
        pyro.set_rng_seed(1)
        with local_reparameterization():
            loss = elbo.differentiable_loss(model, guide, x, y)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1])
    for name in WEIGHTS:
        a = operator.attrgetter(name)(mn.posteriors)
        b = operator.attrgetter(name)(mf.posteriors)
        torch.testing.assert_close(a.loc.grad, b.loc.grad)
        # log s_ij = log u_i + log v_j: the chain rule sums over the other index.
        grad = b.scale_unconstrained.grad
        torch.testing.assert_close(a.row.scale_unconstrained.grad, grad.sum(1))
        torch.testing.assert_close(a.column.scale_unconstrained.grad, grad.sum(0))


def test_mean_field_guide_starts_as_the_diagonal_matrix_normal():
    model = ConvNet()
    x, y = torch.randn(5, 1, 4, 4), torch.randint(0, 3, (5,))
    mn, mf = AutoMatrixNormal(model), AutoMeanFieldNormal(model)
    pyro.set_rng_seed(3)
    mn(x, y)
    pyro.set_rng_seed(3)
    mf(x, y)
    for name in WEIGHTS:
        a = operator.attrgetter(name)(mn.posteriors)
        b = operator.attrgetter(name)(mf.posteriors)
        torch.testing.assert_close(b.loc, a.loc)
        torch.testing.assert_close(b.scale, a.row.scale[:, None] * a.column.scale)
